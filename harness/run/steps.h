/* Scenario steps: one row per step kind ({name, validate, run}). A step is a
 * JSON object with exactly one kind key, plus optional "note". */
#ifndef HX_STEPS_H
#define HX_STEPS_H

#include <jansson.h>

#include "run.h"
#include "scenario.h"

/* Validates a non-empty array of steps at path ("/steps"). */
enum idp_status hx_steps_validate(struct hx_check *check, const json_t *steps, const char *path);
/* Validates one step object at path ("/steps/3"). */
enum idp_status hx_step_validate(struct hx_check *check, const json_t *step, const char *path);
/* Runs one step; failures are recorded in run->failures. Returns false when
 * the run cannot go on (the target is down, an expect step failed hard). */
bool hx_step_run(struct hx_run *run, const json_t *step, int index);
/* Whether text is a step location: "/path", "app/path", "app" or a URL. */
bool hx_step_location_ok(const char *text);
/* The step kinds, for docs and the schema (new reference). */
json_t *hx_step_kinds(void);

#endif
