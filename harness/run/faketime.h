/* libfaketime for a child process whose wall clock must follow fakeidp's
 * virtual clock: the preload library, the control file it re-reads on every
 * clock call, and the variables that tie the two together. Shared by the
 * harness's external apps (external.c) and `fakeidp exec` (cli/exec.c).
 *
 * Clock modes:
 *   frozen  the file holds an absolute time ("SECONDS.MMM", FAKETIME_FMT=%s):
 *           the child's Date.now() is exactly the virtual time and stands
 *           still between changes. Monotonic clocks stay real
 *           (FAKETIME_DONT_FAKE_MONOTONIC=1), so timers run in real time.
 *   ticking the file holds a relative offset ("+N.NNN" seconds): the child's
 *           clock runs on from the virtual time, and monotonic clocks are
 *           faked too, so an advance also fires pending timers. The offset
 *           never decreases unless asked (Node aborts when its monotonic
 *           clock goes back).
 *   off     no libfaketime; the child keeps the real time. */
#ifndef HX_FAKETIME_H
#define HX_FAKETIME_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum hx_clock_mode { HX_CLOCK_FROZEN, HX_CLOCK_TICKING, HX_CLOCK_OFF };

struct hx_faketime {
    enum hx_clock_mode mode;
    double offset_s;           /* ticking: the last offset written */
    bool have_offset;
    char lib[PATH_MAX];        /* libfaketime.so.1 */
    char dir[PATH_MAX];        /* temporary folder holding the control file */
    char rc_path[PATH_MAX + 32];
};

/* libfaketime's preload library: $FAKEIDP_LIBFAKETIME, else the usual
 * Debian/Fedora places. False when there is none (out then names what was
 * tried last). */
bool hx_faketime_find_lib(char *out, size_t size);

/* Prepares ft for mode with the library lib (ignored for off): creates a
 * temporary folder under $TMPDIR (or /tmp) and writes virtual_now_ms into
 * its control file. False with errno set when the folder or file cannot be
 * made; ft is then already cleaned up. */
bool hx_faketime_open(struct hx_faketime *ft, enum hx_clock_mode mode, const char *lib,
                      int64_t virtual_now_ms);

/* Moves the child's clock to virtual_ms. Ticking: an offset smaller than the
 * last one is ignored unless allow_back. False with errno set when the file
 * cannot be written (true for off, or a skipped step back). */
bool hx_faketime_set(struct hx_faketime *ft, int64_t virtual_ms, bool allow_back);

/* Puts FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE, FAKETIME_FMT and
 * FAKETIME_DONT_FAKE_MONOTONIC (frozen only) into vars (an object of
 * strings), and removes FAKETIME, which would override the control file.
 * Nothing for off. */
void hx_faketime_env(const struct hx_faketime *ft, json_t *vars);

/* Prepends the library to vars' LD_PRELOAD. Nothing for off. */
void hx_faketime_preload(const struct hx_faketime *ft, json_t *vars);

/* The temporary folders are $TMPDIR/fakeidp-app-OWNERPID-XXXXXX. */
#define HX_FAKETIME_DIR_PREFIX "fakeidp-app-"

/* Removes the control file and its folder. Safe on a zeroed or closed ft. */
void hx_faketime_close(struct hx_faketime *ft);

/* Records the pid of the process that loads libfaketime first (whose name
 * its shared memory carries) in ft's folder, for hx_faketime_sweep. */
void hx_faketime_set_pid(const struct hx_faketime *ft, pid_t pid);

/* Removes a control folder and the files in it. Async-signal-safe. */
void hx_faketime_remove_dir(const char *dir);

/* libfaketime keeps a semaphore and a shared memory segment named after the
 * first process that loaded it and removes them only at a normal exit; a
 * signalled child leaves them behind, and a later process with the same pid
 * would then fail to start. Removes those of pid. Async-signal-safe. */
void hx_faketime_forget_process(pid_t pid);

/* Once per process: the leftovers of runs that ended without cleaning up
 * (SIGKILL of the runner and its guard): for every control folder whose
 * owner pid is dead, kills the processes whose FAKETIME_TIMESTAMP_FILE is
 * in it (and waits up to 2 s for them), removes the shared memory of its
 * recorded pid and the folder, and says so on stderr. */
void hx_faketime_sweep(void);

#endif
