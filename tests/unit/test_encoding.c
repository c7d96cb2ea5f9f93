/* Wire encodings (encoding.h): base64url without padding (RFC 4648 §5),
 * standard padded base64, lowercase hex and the Crockford base32 ULID form.
 * Decoding refuses anything that is not the canonical unpadded base64url of
 * some bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "encoding.h"

static const struct {
    const char *raw, *url, *std;
} rfc4648[] = {
    {"", "", ""},
    {"f", "Zg", "Zg=="},
    {"fo", "Zm8", "Zm8="},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg", "Zm9vYg=="},
    {"fooba", "Zm9vYmE", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};
#define RFC_COUNT (sizeof(rfc4648) / sizeof(rfc4648[0]))

static void expect_decode_fails(const char *text, size_t len)
{
    size_t out_len = 0;
    unsigned char *out = idp_base64url_decode(text, len, &out_len);
    if (out) {
        free(out);
        fail_msg("expected base64url \"%.*s\" to be rejected", (int)len, text);
    }
}

/* --- encoders ------------------------------------------------------------- */

static void test_base64url_encodes_rfc4648_vectors_without_padding(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC_COUNT; i++) {
        char *s = idp_base64url_encode((const unsigned char *)rfc4648[i].raw,
                                       strlen(rfc4648[i].raw));
        assert_non_null(s);
        assert_string_equal(s, rfc4648[i].url);
        free(s);
    }
}

static void test_base64_encodes_rfc4648_vectors_with_padding(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC_COUNT; i++) {
        char *s = idp_base64_encode((const unsigned char *)rfc4648[i].raw,
                                    strlen(rfc4648[i].raw));
        assert_non_null(s);
        assert_string_equal(s, rfc4648[i].std);
        free(s);
    }
}

static void test_base64url_uses_url_safe_alphabet(void **state)
{
    (void)state;
    const unsigned char bytes[] = {0xfb, 0xff, 0xbf};
    char *url = idp_base64url_encode(bytes, sizeof(bytes));
    char *std = idp_base64_encode(bytes, sizeof(bytes));
    assert_string_equal(url, "-_-_");
    assert_string_equal(std, "+/+/");
    free(url);
    free(std);
}

static void test_hex_is_lowercase_two_digits_per_byte(void **state)
{
    (void)state;
    const unsigned char bytes[] = {0x00, 0x0f, 0x10, 0xab, 0xff};
    char *s = idp_hex_encode(bytes, sizeof(bytes));
    assert_string_equal(s, "000f10abff");
    free(s);
    s = idp_hex_encode(bytes, 0);
    assert_string_equal(s, "");
    free(s);
}

/* --- decoder: accepted ---------------------------------------------------- */

static void test_base64url_decodes_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < RFC_COUNT; i++) {
        size_t len = 999;
        unsigned char *out =
            idp_base64url_decode(rfc4648[i].url, strlen(rfc4648[i].url), &len);
        assert_non_null(out);
        assert_int_equal(len, strlen(rfc4648[i].raw));
        assert_memory_equal(out, rfc4648[i].raw, len);
        free(out);
    }
}

static void test_base64url_roundtrips_every_byte_value_and_length(void **state)
{
    (void)state;
    unsigned char data[300];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(data); len++) {
        char *s = idp_base64url_encode(data, len);
        assert_non_null(s);
        assert_int_equal(strlen(s), (len * 4 + 2) / 3);
        size_t out_len = 0;
        unsigned char *out = idp_base64url_decode(s, strlen(s), &out_len);
        assert_non_null(out);
        assert_int_equal(out_len, len);
        assert_memory_equal(out, data, len);
        free(out);
        free(s);
    }
}

static void test_base64url_decode_reads_only_text_len(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *out = idp_base64url_decode("Zm9vYmFy", 4, &len);
    assert_non_null(out);
    assert_int_equal(len, 3);
    assert_memory_equal(out, "foo", 3);
    free(out);
}

/* --- decoder: rejected ---------------------------------------------------- */

static void test_base64url_rejects_standard_alphabet_characters(void **state)
{
    (void)state;
    expect_decode_fails("+/+/", 4);
    expect_decode_fails("ab+d", 4);
    expect_decode_fails("ab/d", 4);
}

static void test_base64url_rejects_padding(void **state)
{
    (void)state;
    expect_decode_fails("Zg==", 4);
    expect_decode_fails("Zm8=", 4);
    expect_decode_fails("=", 1);
}

static void test_base64url_rejects_whitespace_and_punctuation(void **state)
{
    (void)state;
    expect_decode_fails("Zm9v Zm9v", 9);
    expect_decode_fails("Zm9v\n", 5);
    expect_decode_fails("Zm9v.", 5);
    expect_decode_fails("Zm*v", 4);
    expect_decode_fails("Zm9\x80", 4);
}

static void test_base64url_rejects_embedded_nul(void **state)
{
    (void)state;
    expect_decode_fails("Zm\0v", 4);
}

static void test_base64url_rejects_impossible_length(void **state)
{
    (void)state;
    /* 4n+1 characters cannot encode whole bytes. */
    expect_decode_fails("Z", 1);
    expect_decode_fails("Zm9vZ", 5);
    expect_decode_fails("Zm9vYmFyZ", 9);
}

static void test_base64url_rejects_non_canonical_trailing_bits(void **state)
{
    (void)state;
    /* "f" is "Zg": the last 4 bits must be zero, "Zh".."Z_" are not canonical. */
    expect_decode_fails("Zh", 2);
    expect_decode_fails("Zv", 2);
    expect_decode_fails("Z_", 2);
    /* "fo" is "Zm8": the last 2 bits must be zero. */
    expect_decode_fails("Zm9", 3);
    expect_decode_fails("Zm-", 3);
}

/* --- Crockford ULID -------------------------------------------------------- */

static void test_crockford_ulid_known_vectors(void **state)
{
    (void)state;
    /* Expected strings computed as the 128-bit big-endian integer in base 32
     * with the Crockford alphabet (ULID spec). */
    char out[27];
    unsigned char zeros[16] = {0};
    idp_crockford_ulid(zeros, out);
    assert_string_equal(out, "00000000000000000000000000");

    unsigned char ones[16];
    memset(ones, 0xff, sizeof(ones));
    idp_crockford_ulid(ones, out);
    assert_string_equal(out, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"); /* the largest ULID */

    unsigned char seq[16];
    for (int i = 0; i < 16; i++)
        seq[i] = (unsigned char)i;
    idp_crockford_ulid(seq, out);
    assert_string_equal(out, "00041061050R3GG28A1C60T3GF");

    const unsigned char mixed[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                     0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
    idp_crockford_ulid(mixed, out);
    assert_string_equal(out, "014D2PF2DBSQQZXQ5TK1V58CGG");
}

static void test_crockford_ulid_never_uses_ambiguous_letters(void **state)
{
    (void)state;
    unsigned char bytes[16];
    char out[27];
    for (int round = 0; round < 256; round++) {
        for (int i = 0; i < 16; i++)
            bytes[i] = (unsigned char)(round * 31 + i * 17);
        idp_crockford_ulid(bytes, out);
        assert_int_equal(strlen(out), 26);
        assert_null(strpbrk(out, "ILOUilou"));
        assert_int_equal(strspn(out, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), 26);
    }
}

static void test_crockford_ulid_order_follows_byte_order(void **state)
{
    (void)state;
    unsigned char a[16] = {0}, b[16] = {0};
    a[15] = 1;
    b[14] = 1; /* b > a as a big-endian number */
    char sa[27], sb[27];
    idp_crockford_ulid(a, sa);
    idp_crockford_ulid(b, sb);
    assert_true(strcmp(sa, sb) < 0);
}

static void test_base64url_rejects_one_bad_character_anywhere(void **state)
{
    (void)state;
    char text[] = "Zm9vYmFyYmF6cXV4"; /* "foobarbazqux" */
    for (size_t i = 0; i < strlen(text); i++) {
        char saved = text[i];
        text[i] = '*';
        expect_decode_fails(text, strlen(text));
        text[i] = saved;
    }
}

static void test_base64url_output_has_no_padding_or_standard_characters(void **state)
{
    (void)state;
    unsigned char data[64];
    for (size_t len = 0; len < sizeof(data); len++) {
        for (size_t i = 0; i < len; i++)
            data[i] = (unsigned char)(0xf8 + i); /* bytes that map to '+' and '/' */
        char *s = idp_base64url_encode(data, len);
        assert_null(strpbrk(s, "+/="));
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_encodes_rfc4648_vectors_without_padding),
        cmocka_unit_test(test_base64_encodes_rfc4648_vectors_with_padding),
        cmocka_unit_test(test_base64url_uses_url_safe_alphabet),
        cmocka_unit_test(test_hex_is_lowercase_two_digits_per_byte),
        cmocka_unit_test(test_base64url_decodes_rfc4648_vectors),
        cmocka_unit_test(test_base64url_roundtrips_every_byte_value_and_length),
        cmocka_unit_test(test_base64url_decode_reads_only_text_len),
        cmocka_unit_test(test_base64url_rejects_standard_alphabet_characters),
        cmocka_unit_test(test_base64url_rejects_padding),
        cmocka_unit_test(test_base64url_rejects_whitespace_and_punctuation),
        cmocka_unit_test(test_base64url_rejects_embedded_nul),
        cmocka_unit_test(test_base64url_rejects_impossible_length),
        cmocka_unit_test(test_base64url_rejects_non_canonical_trailing_bits),
        cmocka_unit_test(test_crockford_ulid_known_vectors),
        cmocka_unit_test(test_crockford_ulid_never_uses_ambiguous_letters),
        cmocka_unit_test(test_crockford_ulid_order_follows_byte_order),
        cmocka_unit_test(test_base64url_rejects_one_bad_character_anywhere),
        cmocka_unit_test(test_base64url_output_has_no_padding_or_standard_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
