/* Steps parsed once (hx_steps_parse): each kind's typed values, the
 * modifiers, the children of parallel and repeat, the expectations of an
 * expect step, and what a list that does not parse leaves behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "expect.h"
#include "steps.h"

struct parsed {
    json_t *doc;
    struct hx_steps steps;
    struct idp_error err;
    enum idp_status status;
    size_t errors;
};

static void parse(struct parsed *p, const char *text)
{
    memset(p, 0, sizeof(*p));
    json_error_t jerr;
    p->doc = json_loads(text, 0, &jerr);
    if (!p->doc)
        fail_msg("test JSON does not parse: %s", jerr.text);
    struct hx_check check = {.file = "t.json", .err = &p->err};
    p->status = hx_steps_parse(&check, p->doc, "/steps", &p->steps);
    p->errors = check.count;
}

static void done(struct parsed *p)
{
    hx_steps_free(&p->steps);
    assert_null(p->steps.items);
    json_decref(p->doc);
}

static const struct hx_step *at(const struct parsed *p, size_t i)
{
    assert_true(i < p->steps.count);
    return &p->steps.items[i];
}

static void test_values_are_typed(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"advance\": \"1h30m\", \"note\": \"later\"},"
              " {\"load\": \"/dashboard\", \"instance\": 2},"
              " {\"api\": \"stg/api/me\"},"
              " {\"sign_in\": {\"user\": \"bob@example.com\", \"method\": \"password\","
              "   \"password\": \"pw\", \"organization\": \"Acme\"}, \"at\": \"stg\"},"
              " {\"sign_in\": true},"
              " {\"spa_wait\": \"250ms\"},"
              " {\"spa_reload\": true}, {\"spa_call\": \"t2\"}, {\"spa_tab\": {\"hide\": \"t2\"}},"
              " {\"sign_out\": {\"path\": \"/bye\", \"next_action\": \"a1\"}},"
              " {\"navigate\": {\"path\": \"/x\", \"from\": \"cross_site\", \"by\": \"script\"}},"
              " {\"form_post\": {\"path\": \"/f\", \"form\": {\"a\": \"b\"}}},"
              " {\"tamper_cookie\": {\"mode\": \"flip\"}},"
              " {\"remove_fault\": \"fault-3\"},"
              " {\"restart_app\": {\"env\": {\"A\": \"1\"}}},"
              " {\"present_token\": {\"to\": \"/api/x\", \"forge\": {\"alg\": \"none\"}}},"
              " {\"convex_query\": true, \"backend\": \"billing\"}]");
    if (p.status)
        fail_msg("rejected: %s", p.err.message);
    assert_int_equal(p.steps.count, 17);

    assert_string_equal(at(&p, 0)->kind, "advance");
    assert_int_equal(at(&p, 0)->as.duration_ms, 90LL * 60 * 1000);
    assert_string_equal(at(&p, 0)->note, "later");
    assert_int_equal(at(&p, 0)->index, 0);

    assert_string_equal(at(&p, 1)->as.location, "/dashboard");
    assert_int_equal(at(&p, 1)->instance, 2);
    assert_null(at(&p, 1)->note);
    assert_string_equal(at(&p, 2)->as.location, "stg/api/me");
    assert_int_equal(at(&p, 2)->instance, 0);

    const struct hx_step *s = at(&p, 3);
    assert_string_equal(s->as.sign_in.email, "bob@example.com");
    assert_string_equal(s->as.sign_in.method, "password");
    assert_string_equal(s->as.sign_in.password, "pw");
    assert_string_equal(s->as.sign_in.organization, "Acme");
    assert_string_equal(s->at, "stg");
    assert_null(at(&p, 4)->as.sign_in.email); /* true: the default user */
    assert_string_equal(at(&p, 4)->as.sign_in.method, "authkit");

    assert_int_equal(at(&p, 5)->as.duration_ms, 250);
    assert_string_equal(at(&p, 6)->as.tab, "main");
    assert_string_equal(at(&p, 7)->as.tab, "t2");
    assert_string_equal(at(&p, 8)->as.spa_tab.op, "hide");
    assert_string_equal(at(&p, 8)->as.spa_tab.tab, "t2");

    assert_string_equal(at(&p, 9)->as.sign_out.path, "/bye");
    assert_string_equal(at(&p, 9)->as.sign_out.next_action, "a1");
    assert_null(at(&p, 9)->as.sign_out.method);
    assert_string_equal(at(&p, 10)->as.page.path, "/x");
    assert_string_equal(at(&p, 10)->as.page.from, "cross_site");
    assert_string_equal(at(&p, 10)->as.page.by, "script");
    assert_string_equal(json_string_value(json_object_get(at(&p, 11)->as.page.form, "a")), "b");
    assert_string_equal(at(&p, 12)->as.cookie.name, "wos-session"); /* the default */
    assert_string_equal(at(&p, 12)->as.cookie.mode, "flip");
    assert_string_equal(at(&p, 13)->as.fault_id, "fault-3");
    assert_string_equal(json_string_value(json_object_get(at(&p, 14)->as.env, "A")), "1");
    assert_string_equal(at(&p, 15)->as.forge.to, "/api/x");
    assert_string_equal(json_string_value(json_object_get(at(&p, 15)->as.forge.spec, "alg")), "none");
    assert_string_equal(at(&p, 16)->backend, "billing");
    done(&p);
}

static void test_children(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"repeat\": {\"times\": 3, \"steps\": [{\"advance\": \"1s\"}, {\"reload\": \"/\"}]}},"
              " {\"parallel\": [{\"api\": \"/a\"}, {\"parallel\": [{\"api\": \"/b\"}]}],"
              "  \"barrier\": {\"route\": \"authenticate\", \"hold\": 2}}]");
    if (p.status)
        fail_msg("rejected: %s", p.err.message);
    const struct hx_step *repeat = at(&p, 0), *parallel = at(&p, 1);
    assert_int_equal(repeat->as.times, 3);
    assert_int_equal(repeat->children.count, 2);
    assert_int_equal(repeat->children.items[0].as.duration_ms, 1000);
    assert_string_equal(repeat->children.items[1].kind, "reload");
    assert_int_equal(repeat->children.items[1].index, 1);
    assert_int_equal(parallel->children.count, 2);
    assert_non_null(parallel->barrier);
    assert_int_equal(json_integer_value(json_object_get(parallel->barrier, "hold")), 2);
    const struct hx_step *inner = &parallel->children.items[1];
    assert_string_equal(inner->kind, "parallel");
    assert_string_equal(inner->children.items[0].as.location, "/b");
    done(&p);
}

static void test_expectations(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"expect\": {\"session\": \"lost\", \"status\": 401, \"never_lost\": false,"
              "  \"lost_after\": \"5m\", \"timeline_contains\": [\"a\", \"b\"],"
              "  \"idp\": {\"refresh_rejected\": 1}, \"spa\": \"unauthenticated\"}}]");
    if (p.status)
        fail_msg("rejected: %s", p.err.message);
    const struct hx_expectations *x = &at(&p, 0)->expect;
    assert_int_equal(x->count, 7);
    assert_string_equal(x->items[0].name, "session"); /* in the document's order */
    assert_string_equal(x->items[0].as.text, "lost");
    assert_int_equal(hx_expect_find(x, "status")->as.number, 401);
    assert_false(hx_expect_find(x, "never_lost")->as.flag);
    assert_int_equal(hx_expect_find(x, "lost_after")->as.duration_ms, 5 * 60 * 1000);
    assert_int_equal(json_array_size(hx_expect_find(x, "timeline_contains")->value), 2);
    assert_int_equal(json_integer_value(json_object_get(hx_expect_find(x, "idp")->value,
                                                        "refresh_rejected")), 1);
    assert_string_equal(hx_expect_find(x, "spa")->as.text, "unauthenticated");
    assert_null(hx_expect_find(x, "cookie"));
    done(&p);

    /* Each bad expectation is counted; the good ones are kept. */
    parse(&p, "[{\"expect\": {\"status\": \"401\", \"lost_before\": \"soon\", \"signed_in\": true,"
              "  \"sesion\": \"lost\"}}]");
    assert_int_equal(p.status, IDP_INVALID);
    assert_int_equal(p.errors, 3);
    assert_true(hx_expect_find(&at(&p, 0)->expect, "signed_in")->as.flag);
    assert_null(hx_expect_find(&at(&p, 0)->expect, "sesion"));
    done(&p);
}

/* Every error of the list is counted, nested ones too; what parsed is freed
 * by the same call (ASan finds a leak otherwise). */
static void test_errors(void **state)
{
    (void)state;
    struct parsed p;
    parse(&p, "[{\"advance\": \"soon\"},"
              " {\"repeat\": {\"times\": 2, \"steps\": [{\"load\": \"dash board\"}, {\"advance\": \"1m\"}]}},"
              " {\"spa_tab\": {\"open\": \"\"}},"
              " {\"load\": \"/ok\"}]");
    assert_int_equal(p.status, IDP_INVALID);
    assert_int_equal(p.errors, 3);
    assert_int_equal(p.steps.count, 4);
    assert_string_equal(at(&p, 3)->as.location, "/ok");
    assert_int_equal(at(&p, 1)->children.count, 2);
    done(&p);

    parse(&p, "[]");
    assert_int_equal(p.status, IDP_INVALID);
    assert_int_equal(p.steps.count, 0);
    assert_non_null(strstr(p.err.message, "non-empty array of steps"));
    done(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_are_typed),
        cmocka_unit_test(test_children),
        cmocka_unit_test(test_expectations),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
