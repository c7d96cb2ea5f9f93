/* The runner's clean-up when it is interrupted or killed: see guard.h.
 * The signal handler and the guard process use async-signal-safe calls
 * only (the guard is forked from a threaded process and never execs). */
#define _GNU_SOURCE
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faketime.h"

#define SLOTS 64
#define TERM_GRACE_MS 2000 /* SIGTERM, then SIGKILL */
#define KILL_WAIT_MS 1000
#define DIR_MAX 3000       /* longer folders are left to hx_faketime_sweep */

struct slot {
    atomic_bool used;
    atomic_int pgid; /* 0 until the app runs */
    char dir[DIR_MAX + 1];
};

static struct slot slots[SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool stopping;
static int guard_fd = -1; /* the runner's end of the guard's socket */
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

/* ---- shared by the handler and the guard ------------------------------- */

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool any_alive(const pid_t *pgids, int n, bool reap)
{
    if (reap) /* ours to reap: the apps' shells and, as subreaper, their orphans */
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
    for (int i = 0; i < n; i++)
        if (pgids[i] > 0 && kill(-pgids[i], 0) == 0)
            return true;
    return false;
}

static bool wait_gone(const pid_t *pgids, int n, bool reap, long ms)
{
    long deadline = now_ms() + ms;
    while (any_alive(pgids, n, reap)) {
        if (now_ms() >= deadline)
            return false;
        pause_ms(20);
    }
    return true;
}

/* Stops the groups (SIGTERM, SIGKILL after TERM_GRACE_MS) and removes the
 * folders and the groups' libfaketime shared memory. */
static void stop_all(const pid_t *pgids, char *const *dirs, int n, bool reap)
{
    for (int i = 0; i < n; i++)
        if (pgids[i] > 0)
            kill(-pgids[i], SIGTERM);
    if (!wait_gone(pgids, n, reap, TERM_GRACE_MS)) {
        for (int i = 0; i < n; i++)
            if (pgids[i] > 0)
                kill(-pgids[i], SIGKILL);
        wait_gone(pgids, n, reap, KILL_WAIT_MS);
    }
    for (int i = 0; i < n; i++) {
        if (pgids[i] > 0)
            hx_faketime_forget_process(pgids[i]);
        if (dirs[i] && dirs[i][0])
            hx_faketime_remove_dir(dirs[i]);
    }
}

static void say(const char *text)
{
    ssize_t ignored = write(2, text, strlen(text));
    (void)ignored;
}

/* ---- the guard process ------------------------------------------------- */

static pid_t guarded_pgid[SLOTS];
static char guarded_dir[SLOTS][DIR_MAX + 1];

static long parse_long(const char **s)
{
    long v = 0;
    while (**s >= '0' && **s <= '9')
        v = v * 10 + (*(*s)++ - '0');
    return v;
}

/* "+SLOT DIR", "=SLOT PGID", "-SLOT". */
static void guard_record(const char *line)
{
    char op = *line++;
    long slot = parse_long(&line);
    if (slot < 0 || slot >= SLOTS)
        return;
    if (*line == ' ')
        line++;
    if (op == '+') {
        guarded_pgid[slot] = 0;
        size_t n = 0;
        while (line[n] && n < DIR_MAX) {
            guarded_dir[slot][n] = line[n];
            n++;
        }
        guarded_dir[slot][n] = '\0';
    } else if (op == '=') {
        guarded_pgid[slot] = (pid_t)parse_long(&line);
    } else if (op == '-') {
        guarded_pgid[slot] = 0;
        guarded_dir[slot][0] = '\0';
    }
}

static void guard_main(int fd)
{
    static char buf[DIR_MAX + 64];
    size_t used = 0;
    for (;;) {
        ssize_t got = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break; /* the runner is gone */
        used += (size_t)got;
        size_t start = 0;
        for (size_t i = 0; i < used; i++)
            if (buf[i] == '\n') {
                buf[i] = '\0';
                guard_record(buf + start);
                start = i + 1;
            }
        memmove(buf, buf + start, used - start);
        used -= start;
        if (used == sizeof(buf) - 1)
            used = 0; /* a line too long: not ours */
    }
    char *dirs[SLOTS];
    int live = 0;
    for (int i = 0; i < SLOTS; i++) {
        dirs[i] = guarded_dir[i];
        live += guarded_pgid[i] > 0 || guarded_dir[i][0];
    }
    if (live)
        stop_all(guarded_pgid, dirs, SLOTS, false);
    _exit(0);
}

static void start_guard(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        /* Ends only when the runner's end closes: not by the terminal's ^C
         * (the same process group) nor by a hangup. */
        struct sigaction ign = {0};
        ign.sa_handler = SIG_IGN;
        static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2};
        for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
            sigaction(ignored[i], &ign, NULL);
        prctl(PR_SET_NAME, "fakeidp-guard", 0L, 0L, 0L);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        if (dup2(sv[1], 3) != 3)
            _exit(1);
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0)
#endif
            for (int fd = 4; fd < 65536; fd++)
                close(fd);
        if (chdir("/") != 0) {
            /* stays where it was */
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        guard_main(3);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (pid < 0)
        close(sv[0]);
    else
        guard_fd = sv[0];
}

static void tell_guard(const char *text)
{
    if (guard_fd < 0)
        return;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = send(guard_fd, text + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

/* ---- registration ------------------------------------------------------ */

int hx_guard_add(const char *dir)
{
    pthread_once(&guard_once, start_guard);
    pthread_mutex_lock(&slots_lock);
    int slot = -1;
    for (int i = 0; i < SLOTS && slot < 0; i++)
        if (!atomic_load(&slots[i].used))
            slot = i;
    if (slot >= 0) {
        bool fits = dir && strlen(dir) <= DIR_MAX;
        snprintf(slots[slot].dir, sizeof(slots[slot].dir), "%s", fits ? dir : "");
        atomic_store(&slots[slot].pgid, 0);
        atomic_store(&slots[slot].used, true);
        char line[DIR_MAX + 32];
        snprintf(line, sizeof(line), "+%d %s\n", slot, slots[slot].dir);
        tell_guard(line);
    }
    pthread_mutex_unlock(&slots_lock);
    return slot;
}

void hx_guard_set_group(int slot, pid_t pgid)
{
    if (slot < 0 || slot >= SLOTS)
        return;
    pthread_mutex_lock(&slots_lock);
    atomic_store(&slots[slot].pgid, (int)pgid);
    char line[48];
    snprintf(line, sizeof(line), "=%d %ld\n", slot, (long)pgid);
    tell_guard(line);
    pthread_mutex_unlock(&slots_lock);
}

void hx_guard_remove(int slot)
{
    if (slot < 0 || slot >= SLOTS)
        return;
    pthread_mutex_lock(&slots_lock);
    char line[32];
    snprintf(line, sizeof(line), "-%d\n", slot);
    tell_guard(line);
    atomic_store(&slots[slot].pgid, 0);
    atomic_store(&slots[slot].used, false);
    pthread_mutex_unlock(&slots_lock);
}

bool hx_guard_stopping(void)
{
    return atomic_load(&stopping);
}

/* ---- the signal handler ------------------------------------------------ */

/* Takes what is registered now (a start in another thread may add more). */
static int snapshot(pid_t *pgids, char **dirs, int *seen)
{
    int n = 0;
    for (int i = 0; i < SLOTS; i++) {
        pgids[i] = 0;
        dirs[i] = NULL;
        int pgid = atomic_load(&slots[i].pgid);
        if (!atomic_load(&slots[i].used) || pgid == seen[i])
            continue;
        pgids[i] = pgid;
        dirs[i] = slots[i].dir;
        seen[i] = pgid;
        n++;
    }
    return n;
}

static void on_stop_signal(int sig)
{
    int saved = errno;
    atomic_store(&stopping, true);
    say(sig == SIGINT ? "fakeidp: interrupted (SIGINT): stopping the apps\n"
        : sig == SIGHUP ? "fakeidp: hangup (SIGHUP): stopping the apps\n"
                        : "fakeidp: terminated (SIGTERM): stopping the apps\n");
    pid_t pgids[SLOTS];
    char *dirs[SLOTS];
    int seen[SLOTS];
    for (int i = 0; i < SLOTS; i++)
        seen[i] = -1;
    /* Twice: an app whose start raced with the signal is in the second. */
    for (int pass = 0; pass < 2; pass++) {
        if (snapshot(pgids, dirs, seen))
            stop_all(pgids, dirs, SLOTS, true);
        for (int i = 0; i < SLOTS; i++)
            if (dirs[i]) {
                char line[8] = {'-', (char)('0' + i / 10), (char)('0' + i % 10), '\n', '\0'};
                tell_guard(line);
            }
    }
    /* End with the signal's own status (128+N), after this handler. */
    signal(sig, SIG_DFL);
    raise(sig);
    errno = saved;
}

void hx_guard_handle_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaction(sigs[i], &sa, NULL);
    }
}
