/* Scenario files: loading, validation with file:line:col positions, and the
 * expansion of variants. A loaded scenario is immutable; a variant is the
 * base document with the variant's objects merged in (objects merge key by
 * key; arrays and scalars replace). See scenarios/README.md for the format. */
#ifndef HX_SCENARIO_H
#define HX_SCENARIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "error.h"
#include "jsonpos.h"
#include "step.h"

struct hx_variant {
    char *name;     /* "default" when the file has no variants */
    json_t *doc;    /* the merged document: idp, target, browser, steps, expect */
    struct hx_steps steps; /* doc's steps, parsed (borrow from doc) */
    struct hx_expectations expect; /* doc's expect, parsed */
    int64_t timeout_ms;    /* its own "timeout", or -1 (the runner's) */
};

struct hx_scenario {
    char *file;
    char *name;
    json_t *root;
    json_t *tags;   /* array of strings (borrowed from root) */
    struct hx_jsonpos positions;
    struct hx_variant *variants;
    size_t variant_count;
};

/* Loads and validates a scenario file. On failure returns NULL with err
 * holding file:line:col and a message (the first error); the caller exits
 * with status 2. When messages (a JSON array) is given, every validation
 * error found is appended to it as "file:line:col: message" (it stays empty
 * when the file could not be read or parsed: err says why). */
struct hx_scenario *hx_scenario_load(const char *path, struct idp_error *err, json_t *messages);
void hx_scenario_free(struct hx_scenario **scenario);

/* The target's keys the runner reads itself; every other key of a
 * reference or spa target is a reference-app knob (new reference). In
 * scenario_sections.c, which calls nothing of the runner that calls it. */
json_t *hx_target_knobs(const json_t *target);

#endif
