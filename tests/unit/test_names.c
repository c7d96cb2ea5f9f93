/* Unit tests for "did you mean" (fakeidp/names.c) and the route-name list
 * taken from the server's route table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "server.h"

static const char *const kinds[] = {"load", "reload", "sign_in", "sign_out", "advance", NULL};

static void test_a_typo_finds_the_name_it_resembles(void **state)
{
    (void)state;
    assert_string_equal(idp_closest_name("lod", kinds), "load");
    assert_string_equal(idp_closest_name("sign_inn", kinds), "sign_in");
    assert_string_equal(idp_closest_name("advnace", kinds), "advance");
    assert_string_equal(idp_closest_name("reload", kinds), "reload");
}

static void test_an_unrelated_word_finds_nothing(void **state)
{
    (void)state;
    assert_null(idp_closest_name("explode", kinds));
    assert_null(idp_closest_name("", kinds));
    assert_null(idp_closest_name(NULL, kinds));
    char long_word[200];
    memset(long_word, 'x', sizeof(long_word) - 1);
    long_word[sizeof(long_word) - 1] = '\0';
    assert_null(idp_closest_name(long_word, kinds));
}

static void test_did_you_mean_text(void **state)
{
    (void)state;
    char out[64];
    idp_did_you_mean("sign_ot", kinds, out, sizeof(out));
    assert_string_equal(out, " (did you mean \"sign_out\"?)");
    idp_did_you_mean("zzzz", kinds, out, sizeof(out));
    assert_string_equal(out, "");
}

static void test_route_names_come_from_the_route_table(void **state)
{
    (void)state;
    const char *const *names = idp_route_names();
    size_t n = 0;
    bool authorize = false, admin = false;
    for (; names[n]; n++) {
        for (size_t j = 0; j < n; j++)
            assert_string_not_equal(names[j], names[n]); /* each once */
        authorize = authorize || strcmp(names[n], "authorize") == 0;
        admin = admin || strcmp(names[n], "admin") == 0;
    }
    assert_true(authorize);
    assert_true(admin);
    assert_string_equal(names[n - 1], IDP_ROUTE_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_typo_finds_the_name_it_resembles),
        cmocka_unit_test(test_an_unrelated_word_finds_nothing),
        cmocka_unit_test(test_did_you_mean_text),
        cmocka_unit_test(test_route_names_come_from_the_route_table),
    };
    return cmocka_run_group_tests_name("names", tests, NULL, NULL);
}
