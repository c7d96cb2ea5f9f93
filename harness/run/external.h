/* A user's real app as the target: started by the harness (command, working
 * folder, environment with the fake's WORKOS_* variables, readiness URL),
 * run under libfaketime so that the app's clock follows the scenario's
 * virtual time, and stopped at the end. See docs/external-apps.md. */
#ifndef HX_EXTERNAL_H
#define HX_EXTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "timeline.h"

struct hx_external;

struct hx_external_env {
    const char *idp_url;      /* the fake as the app reaches it, e.g. http://127.0.0.1:PORT */
    const char *client_id;
    const char *api_key;
    const char *app_url;      /* the target's url from the scenario */
    int64_t virtual_now_ms;   /* the app's clock starts here */
    const char *base_dir;     /* a relative start.cwd is taken from here (the scenario's folder) */
    /* Whether this process may become a child subreaper (prctl
     * PR_SET_CHILD_SUBREAPER) when it starts the app: the app's processes
     * whose parent exits are then handed to it, and reaped when the app
     * stops, instead of going to a PID 1 that may never reap them. This
     * changes the whole process for good (every orphaned descendant comes
     * to it), so the library never does it unless asked: programs that
     * start apps (fakeidp run, fakeidp doctor) ask, through
     * hx_runner_options.adopt_orphans. Without it the app still starts and
     * stops (its process group is signalled); orphans it leaves are reaped
     * by whoever adopts them. */
    bool adopt_orphans;
};

/* Checks a start block's keys and types (lint time); err says what is wrong. */
enum idp_status hx_external_validate(const json_t *start, struct idp_error *err);

/* Starts the app described by `start` ({"command", "cwd", "env", "ready",
 * "ready_timeout", "stop_signal"}); waits until the readiness URL answers.
 * NULL with err set when it fails to start or become ready. */
struct hx_external *hx_external_start(const json_t *start, const struct hx_external_env *env,
                                      struct hx_timeline *timeline, struct idp_error *err);
/* Moves the app's clock to virtual_now_ms (rewrites the faketime control file). */
void hx_external_set_time(struct hx_external *ext, int64_t virtual_now_ms);
/* Stops the app (signal, then SIGKILL after a grace period) and frees. */
void hx_external_stop(struct hx_external **ext);

#endif
