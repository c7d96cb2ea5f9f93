/* Expectations: one row per key of an "expect" object ({name, help, parse,
 * evaluate}). Each names the mechanism it checks, so a scenario cannot pass
 * for the wrong reason unnoticed. An "expect" object is parsed once, when
 * the scenario is loaded, into struct hx_expectations (lang/expectation.h),
 * and evaluated from that. */
#ifndef HX_EXPECT_H
#define HX_EXPECT_H

#include <jansson.h>

#include "run.h"
#include "scenario.h"

/* Parses an "expect" object at path into out, checking every key (each
 * error is recorded). hx_expectations_free frees out either way. */
enum idp_status hx_expect_parse(struct hx_check *check, const json_t *expect, const char *path,
                                struct hx_expectations *out);
/* hx_expect_parse without keeping the result (lint's check as written). */
enum idp_status hx_expect_validate(struct hx_check *check, const json_t *expect, const char *path);
void hx_expectations_free(struct hx_expectations *expect);
/* The expectation of that name in expect, or NULL. */
const struct hx_expectation *hx_expect_find(const struct hx_expectations *expect, const char *name);
/* Evaluates every expectation; failures go to run->failures. */
void hx_expect_evaluate(struct hx_run *run, const struct hx_expectations *expect);
json_t *hx_expect_kinds(void);

#endif
