/* What the external-app modules share (external.h is the interface):
 *   external.c         start (checks, environment, fork, readiness), clock, stop
 *   external_group.c   the app's process group: reaping and stopping it
 *   external_output.c  the app's output: read into the timeline, the last lines kept;
 *                      the timeline notes and the clock helpers all three use
 * Calls go one way: external.c -> external_group.c -> external_output.c. */
#ifndef HX_EXTERNAL_INTERNAL_H
#define HX_EXTERNAL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "external.h"
#include "faketime.h"

#define TAIL_LINES 40         /* output lines kept for error messages */

struct hx_external {
    pid_t pid; /* sh; also the process group id */
    bool reaped;
    int wait_status;
    bool exit_noted;
    int out_fd;
    pthread_t reader;
    bool reader_started;
    atomic_bool stopping;
    _Atomic int64_t now_ms; /* virtual time for timeline entries */
    pthread_mutex_t lock;   /* guards the fields below */
    char *tail[TAIL_LINES];
    size_t tail_count;      /* lines ever seen */
    struct hx_timeline *timeline;
    int stop_signal;
    struct hx_faketime ft;  /* the app's clock (ft.mode) */
    int guard_slot;         /* hx_guard registration, -1 when none */
};

/* ---- external_group.c --------------------------------------------------- */

/* Reaps the shell and every member of its group that was handed to us
 * (with adopt_orphans the process is a child subreaper, so orphaned
 * grandchildren come to it instead of a PID 1 that may never reap them);
 * sets ext->reaped and ext->wait_status once the shell is reaped. */
void external_reap(struct hx_external *ext);
/* "exit status N", "signal N (name)" for a wait status. */
void external_describe_status(int status, char *out, size_t size);
/* Stops the group: sig, SIGKILL after a grace period; reaps it and forgets
 * its libfaketime shared memory. */
void external_stop_group(struct hx_external *ext, int sig);

/* ---- external_output.c -------------------------------------------------- */

/* Monotonic milliseconds, and a sleep that resumes after signals. */
int64_t external_mono_ms(void);
void external_sleep_ms(long ms);
/* A timeline line of the app (source "app") at the app's virtual now. */
void external_note(struct hx_external *ext, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The reader thread (arg: the app): copies the app's output lines from
 * ext->out_fd into the timeline and the tail until EOF, or until a short
 * drain once ext->stopping is set. */
void *external_read_output(void *arg);
/* The last `want` output lines joined by " | ", into out. */
void external_tail(struct hx_external *ext, size_t want, char *out, size_t size);

#endif
