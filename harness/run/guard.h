/* What the runner must not leave behind when it is interrupted: the process
 * groups of the external apps it started and their faketime folders.
 *
 *   SIGINT, SIGTERM, SIGHUP  a handler (hx_guard_handle_signals) stops every
 *            registered group (SIGTERM, SIGKILL after 2 s), reaps it, removes
 *            the folders and libfaketime's shared memory, and ends the
 *            process with the signal (exit status 128+N);
 *   SIGKILL  a guard process, forked at the first registration, reads the
 *            registrations from a pipe whose only writer is the runner; when
 *            the pipe closes with groups still registered (the runner died),
 *            it stops them and removes their files the same way.
 * What neither could do (both killed at once) the next run does
 * (hx_faketime_sweep). See docs/external-apps.md, "Interrupted runs". */
#ifndef HX_GUARD_H
#define HX_GUARD_H

#include <stdbool.h>
#include <sys/types.h>

/* Registers a faketime folder (NULL or "": none) before the app starts;
 * returns a slot for hx_guard_set_group and hx_guard_remove, or -1 when the
 * table is full (the app then runs unguarded). */
int hx_guard_add(const char *dir);
/* The app's process group (its leader's pid, which also names libfaketime's
 * shared memory). */
void hx_guard_set_group(int slot, pid_t pgid);
/* The app was stopped and its files removed. */
void hx_guard_remove(int slot);
/* True once a stop signal arrived: start no new app. */
bool hx_guard_stopping(void);
/* Installs the handler for SIGINT, SIGTERM and SIGHUP (a signal ignored on
 * entry, like SIGINT for a shell's background job, stays ignored). */
void hx_guard_handle_signals(void);

#endif
