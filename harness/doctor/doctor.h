/* fakeidp doctor: a checkup of an app against the failure catalogue. Each
 * probe (a row of the table in probes.c) is a scenario variant that states
 * the healthy behaviour; doctor writes the probes of a family into one
 * scenario file, runs the files through the ordinary runner against the
 * user's target, and turns each variant's result into a verdict. A
 * vulnerable probe's file is the reproduction: it fails until the app is
 * fixed. See docs/doctor.md. */
#ifndef HX_DOCTOR_H
#define HX_DOCTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "runner.h"

/* What an app must offer for a probe to run (dr_probe.needs). */
enum {
    DR_NEEDS_START = 1,   /* the harness starts (and restarts) the app: target.start */
    DR_NEEDS_LOGOUT = 2,  /* a sign-out path */
    DR_NEEDS_HTTP = 4,    /* only meaningful for an app served over plain http */
};

enum dr_kind { DR_RESILIENCE, DR_NEGATIVE_CONTROL, DR_SECURITY_CONTROL };

struct dr_family {
    const char *id;          /* scenario file doctor-<id>.json */
    const char *title;
    const char *failure_mode; /* catalogue ids, "F5" */
    enum dr_kind kind;
    const char *fix;
    const char *source;      /* from the catalogue (failure-modes.md) */
};

struct dr_probe {
    const char *family;
    const char *name;        /* the variant's name */
    unsigned needs;          /* DR_NEEDS_* */
    const char *how;         /* one line: what the probe does */
    const char *finding;     /* what "vulnerable" means here */
    const char *steps;       /* JSON with ' for ", placeholders @protected @api @cookie @logout */
    const char *expect;      /* the healthy outcome, same notation */
    const char *browser;     /* browser knobs, or NULL */
    const char *vulnerable;  /* failure prefixes that mean vulnerable, '|' separated;
                                any other failure: could not tell */
    const char *reference_steps; /* for the reference target when it differs (restart), or NULL */
};

extern const struct dr_family dr_families[];
extern const size_t dr_family_count;
extern const struct dr_probe dr_probes[];
extern const size_t dr_probe_count;
const struct dr_family *dr_family_find(const char *id);

/* What the user said about the app. Strings are borrowed. */
struct dr_app {
    bool reference;            /* the embedded reference app (knobs apply) */
    const json_t *knobs;       /* reference-app knobs, or NULL */
    const char *url;           /* external: where the browser reaches the app */
    const char *idp_url;       /* the running fake the app talks to */
    const char *idp_url_written; /* what the written files say for it (e.g. ${FAKEIDP_URL}) */
    const char *protected_path, *login_path, *signed_in_text, *signed_in_field;
    const char *api_path;      /* a fetch() endpoint that needs the session; default protected_path */
    const char *logout_path;   /* NULL: sign-out probes are not run */
    const char *cookie;        /* the session cookie's name, default wos-session */
    const json_t *start;       /* target.start, or NULL */
};

enum dr_verdict {
    DR_VULNERABLE, DR_NOT_VULNERABLE, DR_NOT_APPLICABLE, DR_COULD_NOT_TELL, DR_NOT_RUN, DR_COULD_NOT_RUN
};
const char *dr_verdict_name(enum dr_verdict v);

struct dr_outcome {
    const struct dr_probe *probe;
    enum dr_verdict verdict;
    char why[512];             /* not run / not applicable: what to add; else the first failure */
    const struct hx_result *result; /* NULL when not run */
    char file[1024];           /* the written scenario, "" when not run */
};

struct dr_plan {
    struct dr_outcome *outcomes;  /* one per probe of the table, in table order */
    size_t count;
    char dir[1024];
    struct hx_scenario **scenarios;
    size_t scenario_count;
};

/* Builds the probes' scenario files in dir (created if missing) for the
 * selected families ("only": comma-separated family ids or family/probe,
 * NULL: all) and loads them back through the scenario loader (lint).
 * Returns false with a message when a file cannot be written or loaded. */
bool dr_plan_build(struct dr_plan *plan, const struct dr_app *app, const char *only,
                   const char *dir, char *error, size_t error_size);
/* Fills the verdicts from a run of plan->scenarios. */
void dr_plan_judge(struct dr_plan *plan, const struct hx_results *results);
/* Prints the diagnosis; verbose adds every probe's whole timeline. */
void dr_plan_print(const struct dr_plan *plan, const struct dr_app *app, FILE *out, bool verbose);
/* The verdicts as JSON (for --json). */
json_t *dr_plan_json(const struct dr_plan *plan);
/* 0 no vulnerability, 1 some, 3 nothing could be judged (the baseline
 * could not sign in, or every probe that ran could not be carried out). */
int dr_plan_status(const struct dr_plan *plan);
void dr_plan_free(struct dr_plan *plan);

/* Turns the ' notation into JSON and replaces the placeholders; NULL with
 * a message on a malformed template (a bug in the table: tests load every row). */
json_t *dr_template(const char *text, const struct dr_app *app, char *error, size_t error_size);

#endif
