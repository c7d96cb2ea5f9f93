/* fakeidp doctor's table and verdict logic (harness/doctor): every row is
 * well formed and lints as a scenario, probes an app cannot support are not
 * run (with what to add) or not applicable, and a result becomes a verdict
 * only as the row says: vulnerable when every failure is the finding, could
 * not tell when something else failed, could not run when broken. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../assert_prefix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doctor.h"
#include "scenario.h"

static const struct dr_app reference = {.reference = true};

static void no_placeholder_left(const json_t *v)
{
    if (json_is_string(v))
        assert_int_not_equal(json_string_value(v)[0], '@');
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_object(v))
        json_object_foreach((json_t *)v, key, child) no_placeholder_left(child);
    if (json_is_array(v))
        json_array_foreach(v, i, child) no_placeholder_left(child);
}

static void test_table_rows_are_well_formed(void **state)
{
    (void)state;
    char error[256];
    for (size_t f = 0; f < dr_family_count; f++) {
        const struct dr_family *fam = &dr_families[f];
        assert_ptr_equal(dr_family_find(fam->id), fam); /* ids unique */
        assert_string_prefix(fam->source, "https://");
        assert_true(strlen(fam->fix) > 20 && strlen(fam->title) > 5);
        size_t probes = 0;
        for (size_t i = 0; i < dr_probe_count; i++)
            probes += strcmp(dr_probes[i].family, fam->id) == 0;
        assert_true(probes >= 1);
    }
    struct dr_app app = {.url = "http://localhost:3000", .idp_url = "http://127.0.0.1:8787",
                         .api_path = "/api/me", .logout_path = "/logout", .cookie = "sid"};
    for (size_t i = 0; i < dr_probe_count; i++) {
        const struct dr_probe *p = &dr_probes[i];
        assert_non_null(dr_family_find(p->family));
        for (size_t j = 0; j < i; j++)
            assert_false(strcmp(p->family, dr_probes[j].family) == 0 && strcmp(p->name, dr_probes[j].name) == 0);
        assert_true(p->vulnerable && *p->vulnerable && p->how && p->finding);
        json_t *steps = dr_template(p->steps, &app, error, sizeof(error));
        json_t *expect = dr_template(p->expect, &app, error, sizeof(error));
        assert_true(json_is_array(steps) && json_array_size(steps) > 0);
        assert_true(json_is_object(expect) && json_object_size(expect) > 0);
        no_placeholder_left(steps);
        if (p->reference_steps) {
            json_t *rs = dr_template(p->reference_steps, &app, error, sizeof(error));
            assert_true(json_is_array(rs));
            json_decref(rs);
        }
        if (p->browser) {
            json_t *b = dr_template(p->browser, &app, error, sizeof(error));
            assert_true(json_is_object(b));
            json_decref(b);
        }
        json_decref(steps);
        json_decref(expect);
    }
    assert_null(dr_template("[{'load': ", &app, error, sizeof(error)));
    assert_non_null(strstr(error, "probe template"));
}

static void test_placeholders_take_the_apps_values(void **state)
{
    (void)state;
    char error[256];
    struct dr_app app = {.protected_path = "/home", .cookie = "sid"};
    json_t *v = dr_template("[{'load': '@protected'}, {'api': '@api'}, {'tamper_cookie': {'name': '@cookie'}},"
                            " {'sign_out': {'path': '@logout'}}, {'note': 'not @protected'}]",
                            &app, error, sizeof(error));
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "load")), "/home");
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 1), "api")), "/home");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(v, 2), "tamper_cookie"), "name")), "sid");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(v, 3), "sign_out"), "path")), "/logout");
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 4), "note")), "not @protected");
    json_decref(v);
}

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test-doctor-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct dr_outcome *outcome(struct dr_plan *plan, const char *family, const char *name)
{
    for (size_t i = 0; i < plan->count; i++)
        if (strcmp(plan->outcomes[i].probe->family, family) == 0 && strcmp(plan->outcomes[i].probe->name, name) == 0)
            return &plan->outcomes[i];
    return NULL;
}

static void test_every_family_file_lints(void **state)
{
    (void)state;
    struct dr_plan plan;
    char error[1200] = "";
    struct dr_app app = reference;
    app.logout_path = "/logout";
    assert_true(dr_plan_build(&plan, &app, NULL, dir, error, sizeof(error)));
    assert_int_equal(plan.count, dr_probe_count);
    assert_int_equal(plan.scenario_count, dr_family_count); /* one loaded file per family */
    size_t variants = 0;
    for (size_t i = 0; i < plan.scenario_count; i++)
        variants += plan.scenarios[i]->variant_count;
    assert_int_equal(variants, dr_probe_count);
    dr_plan_free(&plan);
}

static void test_what_an_app_lacks_is_not_run(void **state)
{
    (void)state;
    struct dr_plan plan;
    char error[1200] = "";
    struct dr_app app = {.url = "https://app.example.test", .idp_url = "http://127.0.0.1:9"};
    assert_true(dr_plan_build(&plan, &app, "cookie-password,cookie-attributes,baseline", dir, error,
                              sizeof(error)));
    assert_int_equal(plan.count, 4);
    struct dr_outcome *o = outcome(&plan, "cookie-password", "changed-across-restart");
    assert_int_equal(o->verdict, DR_NOT_RUN);
    assert_non_null(strstr(o->why, "--start"));
    assert_string_equal(o->file, "");
    o = outcome(&plan, "cookie-attributes", "sign-out");
    assert_int_equal(o->verdict, DR_NOT_RUN);
    assert_non_null(strstr(o->why, "--logout"));
    o = outcome(&plan, "cookie-attributes", "safari-over-http");
    assert_int_equal(o->verdict, DR_NOT_APPLICABLE);
    assert_non_null(strstr(o->why, "https"));
    assert_int_equal(plan.scenario_count, 1); /* only the baseline runs */
    dr_plan_free(&plan);

    assert_false(dr_plan_build(&plan, &app, "nosuch,baseline/nosuch", dir, error, sizeof(error)));
    assert_non_null(strstr(error, "selects no probe"));
    dr_plan_free(&plan);
}

static void test_results_become_verdicts(void **state)
{
    (void)state;
    struct dr_plan plan;
    char error[1200] = "";
    assert_true(dr_plan_build(&plan, &reference, "baseline,parallel-refresh,forged-tokens/alg-none", dir,
                              error, sizeof(error)));
    struct hx_result items[4] = {0};
    struct hx_results results = {.items = items, .count = 4};
    const char *names[4][2] = {{"doctor-baseline", "sign-in-and-refresh"},
                               {"doctor-parallel-refresh", "strict"},
                               {"doctor-parallel-refresh", "grace"},
                               {"doctor-forged-tokens", "alg-none"}};
    for (int r = 0; r < 4; r++)
        for (size_t s = 0; s < plan.scenario_count; s++)
            for (size_t v = 0; v < plan.scenarios[s]->variant_count; v++)
                if (strcmp(plan.scenarios[s]->name, names[r][0]) == 0 &&
                    strcmp(plan.scenarios[s]->variants[v].name, names[r][1]) == 0) {
                    items[r].scenario = plan.scenarios[s];
                    items[r].variant = &plan.scenarios[s]->variants[v];
                }
    items[0].passed = true;
    items[0].failures = json_array();
    items[1].failures = json_pack("[s,s]", "session: expected it to survive, but …",
                                  "never_lost: the session was seen lost at +6m");
    items[2].failures = json_pack("[s,s]", "sign_in: the flow did not end signed in (500 at /callback)",
                                  "session: expected it to survive, but …");
    items[3].broken = true;
    items[3].failures = json_pack("[s]", "cannot reach fakeidp at http://127.0.0.1:9: refused");
    dr_plan_judge(&plan, &results);
    assert_int_equal(outcome(&plan, "baseline", "sign-in-and-refresh")->verdict, DR_NOT_VULNERABLE);
    struct dr_outcome *o = outcome(&plan, "parallel-refresh", "strict");
    assert_int_equal(o->verdict, DR_VULNERABLE);
    assert_string_prefix(o->why, "session:");
    o = outcome(&plan, "parallel-refresh", "grace");
    assert_int_equal(o->verdict, DR_COULD_NOT_TELL); /* the sign-in broke first */
    assert_string_prefix(o->why, "sign_in:");
    assert_int_equal(outcome(&plan, "forged-tokens", "alg-none")->verdict, DR_COULD_NOT_RUN);
    assert_int_equal(dr_plan_status(&plan), 1);
    json_t *j = dr_plan_json(&plan);
    assert_int_equal(json_array_size(j), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 1), "verdict")), "vulnerable");
    assert_non_null(json_object_get(json_array_get(j, 1), "fix"));
    json_decref(j);
    /* a baseline that could not tell: nothing can be judged */
    outcome(&plan, "baseline", "sign-in-and-refresh")->verdict = DR_COULD_NOT_TELL;
    assert_int_equal(dr_plan_status(&plan), 3);
    for (int r = 0; r < 4; r++)
        json_decref(items[r].failures);
    dr_plan_free(&plan);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_rows_are_well_formed),
        cmocka_unit_test(test_placeholders_take_the_apps_values),
        cmocka_unit_test(test_every_family_file_lints),
        cmocka_unit_test(test_what_an_app_lacks_is_not_run),
        cmocka_unit_test(test_results_become_verdicts),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
