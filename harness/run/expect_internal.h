/* What the pieces of the expectation table share. The table (one row per
 * key of an "expect" object: {name, help, parse, evaluate}) is in
 * expect.c with the rows on time, start-up and the timeline; the other
 * rows' functions live in the file of their family, declared here:
 *
 *   expect_browser.c  the session, the last step's page, the sign-in, the
 *                     access token's claims, the cookie jar
 *   expect_idp.c      fakeidp's journal
 *   expect_app.c      the reference app's counters, named backends, the
 *                     Convex and SPA clients
 *
 * Plain values (true or false, a string...) are parsed in expect.c, and
 * counts met by hx_count_holds. Family files call
 * the run context (run.h), never expect.c. */
#ifndef HX_EXPECT_INTERNAL_H
#define HX_EXPECT_INTERNAL_H

#include <jansson.h>

#include "check.h"
#include "expect.h"
#include "run.h"

/* Checks an expectation's value at path (its JSON pointer) and fills out's
 * typed fields from it: the one reading of the value. */
typedef enum idp_status hx_expect_parse_fn(struct hx_check *check, const json_t *value,
                                           const char *path, struct hx_expectation *out);
/* Evaluates a parsed expectation against the run; each failure goes to
 * run->failures with what was seen. */
typedef void hx_expect_evaluate_fn(struct hx_run *run, const struct hx_expectation *expectation);

/* expect_browser.c */
hx_expect_parse_fn hx_expect_session_parse, hx_expect_sign_in_parse, hx_expect_claims_parse,
    hx_expect_cookie_parse;
hx_expect_evaluate_fn hx_expect_session_evaluate, hx_expect_signed_in_evaluate,
    hx_expect_sign_in_evaluate, hx_expect_status_evaluate, hx_expect_login_redirect_evaluate,
    hx_expect_redirect_evaluate, hx_expect_claims_evaluate, hx_expect_body_contains_evaluate,
    hx_expect_cookie_evaluate;

/* expect_idp.c */
hx_expect_parse_fn hx_expect_idp_parse;
hx_expect_evaluate_fn hx_expect_idp_evaluate;

/* expect_app.c */
hx_expect_parse_fn hx_expect_app_parse, hx_expect_backend_parse, hx_expect_authenticated_parse,
    hx_expect_spa_counts_parse;
hx_expect_evaluate_fn hx_expect_app_evaluate, hx_expect_backend_evaluate,
    hx_expect_convex_evaluate, hx_expect_convex_error_evaluate, hx_expect_spa_evaluate,
    hx_expect_spa_degraded_evaluate, hx_expect_spa_counts_evaluate;

#endif
