/* Expectations: one row per key of an "expect" object ({name, validate,
 * evaluate}). Each names the mechanism it checks, so a scenario cannot pass
 * for the wrong reason unnoticed. */
#ifndef HX_EXPECT_H
#define HX_EXPECT_H

#include <jansson.h>

#include "run.h"
#include "scenario.h"

enum idp_status hx_expect_validate(struct hx_check *check, const json_t *expect, const char *path);
/* Evaluates every expectation; failures go to run->failures. */
void hx_expect_evaluate(struct hx_run *run, const json_t *expect);
json_t *hx_expect_kinds(void);

#endif
