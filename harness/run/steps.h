/* Scenario steps: one row per kind in the step table ({name, help, parse,
 * run}, steps.c). A step is a JSON object with exactly one kind key, plus
 * the modifiers "note", "at", "instance", "backend" and "barrier"; it is
 * parsed once, when the scenario is loaded, into a struct hx_step
 * (lang/step.h), and the runner runs that. */
#ifndef HX_STEPS_H
#define HX_STEPS_H

#include <jansson.h>

#include "run.h"
#include "scenario.h"
#include "step.h"

/* Parses a non-empty array of steps at path ("/steps") into out, checking
 * every step (each error is recorded: lint reports them all). On failure
 * out holds what was parsed; hx_steps_free frees it either way. */
enum idp_status hx_steps_parse(struct hx_check *check, const json_t *steps, const char *path,
                               struct hx_steps *out);
/* hx_steps_parse without keeping the steps: lint's check of a section as
 * written (a variant's own steps, the base's). */
enum idp_status hx_steps_validate(struct hx_check *check, const json_t *steps, const char *path);
/* The same for one step object at path ("/steps/3"). */
enum idp_status hx_step_validate(struct hx_check *check, const json_t *step, const char *path);
void hx_steps_free(struct hx_steps *steps);
/* Runs one parsed step; failures are recorded in run->failures. Returns
 * false when the run cannot go on (the target is down, an expect step
 * failed hard). */
bool hx_step_run(struct hx_run *run, const struct hx_step *step);
/* Whether text is a step location: "/path", "app/path", "app" or a URL. */
bool hx_step_location_ok(const char *text);
/* The step kinds, for docs and the schema (new reference). */
json_t *hx_step_kinds(void);

#endif
