/* Targets: the app a variant runs against and the fakeidp it uses. */
#ifndef HX_TARGET_H
#define HX_TARGET_H

#include <stdbool.h>
#include <stdint.h>

#include "run.h"
#include "runner.h"

/* A runner worker's reference world: its fakeidp and reference app, kept
 * running between variants and reset (idp_server_reuse, hx_app_reuse) to
 * the state a fresh start gives. */
struct hx_kept;
struct hx_kept *hx_kept_new(void);
/* Stops what the world holds and frees it. Accepts NULL. */
void hx_kept_free(struct hx_kept **kept);

/* Starts the variant's target: the reference app with an in-process fakeidp
 * (seeded with seed), or an external app with its fakeidp elsewhere (reset
 * and set to the run's start). Returns false when the steps cannot run; the
 * reason is recorded (hx_run_broken when the run could not be carried out).
 * A target that refuses to start on purpose leaves run->start_error. */
bool hx_target_start(struct hx_run *run, const struct hx_runner_options *opt, uint64_t seed);
/* Stops the external app the harness started and starts it again with env
 * (an object, may be NULL) added to its start.env, on the run's current
 * virtual time; cookies stay in the browser. False with why when the target
 * is not such an app or it did not come back. */
bool hx_target_restart(struct hx_run *run, const json_t *env, char *why, size_t why_size);
/* Stops whatever hx_target_start started; safe after a partial start. A
 * reference target of a run with a world is left running in the world. */
void hx_target_stop(struct hx_run *run);

#endif
