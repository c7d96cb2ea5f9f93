/* RFC 6238 one-time passwords (totp.h): the RFC's SHA-1 test vectors (last
 * six digits), the ±1 step window, base32 round trips and refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "totp.h"

/* "12345678901234567890" in base32, the RFC 6238 SHA-1 seed. */
#define RFC_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_totp_matches_rfc6238_vectors(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *code;
    } vectors[] = {
        {59, "287082"},         {1111111109, "081804"}, {1111111111, "050471"},
        {1234567890, "005924"}, {2000000000, "279037"}, {20000000000LL, "353130"},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        char code[7];
        assert_true(idp_totp_code(RFC_SECRET, vectors[i].t, code));
        assert_string_equal(code, vectors[i].code);
    }
}

static void test_totp_accepts_one_step_either_side_only(void **state)
{
    (void)state;
    assert_true(idp_totp_verify(RFC_SECRET, 59, "287082"));
    assert_true(idp_totp_verify(RFC_SECRET, 59 + 30, "287082"));
    assert_true(idp_totp_verify(RFC_SECRET, 59 - 30, "287082"));
    assert_false(idp_totp_verify(RFC_SECRET, 59 + 60, "287082"));
    assert_false(idp_totp_verify(RFC_SECRET, 59, "287083"));
    assert_false(idp_totp_verify(RFC_SECRET, 59, "28708"));
    assert_false(idp_totp_verify(RFC_SECRET, 59, NULL));
}

static void test_base32_round_trip_and_refusals(void **state)
{
    (void)state;
    char out[64];
    idp_base32_encode((const unsigned char *)"12345678901234567890", 20, out, sizeof(out));
    assert_string_equal(out, RFC_SECRET);
    idp_base32_encode((const unsigned char *)"f", 1, out, sizeof(out));
    assert_string_equal(out, "MY");
    char code[7];
    assert_true(idp_totp_code("gezdgnbvgy3tqojqgezdgnbvgy3tqojq", 59, code)); /* lower case */
    assert_string_equal(code, "287082");
    assert_false(idp_totp_code("not base32!", 59, code));
    assert_false(idp_totp_code("", 59, code));
    assert_false(idp_totp_code("18", 59, code)); /* 1 and 8 are not in the alphabet */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totp_matches_rfc6238_vectors),
        cmocka_unit_test(test_totp_accepts_one_step_either_side_only),
        cmocka_unit_test(test_base32_round_trip_and_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
