/* External apps: the harness starts the user's app with `sh -c COMMAND` in
 * its own process group, with the fake's WORKOS_* variables, under
 * libfaketime so that the app's wall clock follows the scenario's virtual
 * time, waits until it answers, copies its output into the timeline, and
 * stops the whole group at the end. See docs/external-apps.md.
 *
 * Clock modes ("clock" in the start block): frozen (default), ticking or
 * off, as described in faketime.h. */
#define _GNU_SOURCE
#include "external.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "faketime.h"
#include "guard.h"
#include "http_client.h"
#include "url.h"

extern char **environ;

#define TAIL_LINES 40         /* output lines kept for error messages */
#define TIMELINE_LINES 400    /* output lines copied into the timeline */
#define LINE_MAX_BYTES 900    /* longer output lines are cut */
#define STOP_GRACE_MS 3000    /* stop_signal, then SIGKILL after this */
#define KILL_WAIT_MS 2000
#define READY_POLL_MS 50
#define DRAIN_MS 500          /* output still read after the group is gone */

/* 43 characters, like a base64url-encoded 32-byte secret. */
static const char default_cookie_password[] = "fakeidp-external-app-cookie-password-000000";
_Static_assert(sizeof(default_cookie_password) - 1 == 43, "cookie password must be 43 characters");

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

/* ---- small helpers ---------------------------------------------------- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static void note(struct hx_external *ext, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct hx_external *ext, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hx_timeline_add(ext->timeline, atomic_load(&ext->now_ms), "app", "%s", text);
}

/* Keeps valid UTF-8 and printable ASCII, drops ANSI escape sequences and
 * control characters, replaces invalid bytes by '?'. In place. */
static void clean_line(char *s)
{
    unsigned char *in = (unsigned char *)s, *out = (unsigned char *)s;
    while (*in) {
        if (*in == 0x1b) { /* ESC [ ... final byte, or ESC + one byte */
            in++;
            if (*in == '[') {
                in++;
                while (*in && !(*in >= 0x40 && *in <= 0x7e))
                    in++;
                if (*in)
                    in++;
            } else if (*in) {
                in++;
            }
            continue;
        }
        if (*in < 0x80) {
            if (*in >= 0x20 || *in == '\t')
                *out++ = *in == '\t' ? ' ' : *in;
            in++;
            continue;
        }
        int len = (*in & 0xe0) == 0xc0 ? 2 : (*in & 0xf0) == 0xe0 ? 3 : (*in & 0xf8) == 0xf0 ? 4 : 0;
        bool ok = len > 0;
        for (int i = 1; ok && i < len; i++)
            ok = (in[i] & 0xc0) == 0x80;
        if (!ok) {
            *out++ = '?';
            in++;
            continue;
        }
        for (int i = 0; i < len; i++)
            *out++ = *in++;
    }
    *out = '\0';
    while (out > (unsigned char *)s && out[-1] == ' ')
        *--out = '\0';
}

static void take_line(struct hx_external *ext, char *line)
{
    clean_line(line);
    if (!line[0])
        return;
    pthread_mutex_lock(&ext->lock);
    size_t n = ext->tail_count++;
    free(ext->tail[n % TAIL_LINES]);
    ext->tail[n % TAIL_LINES] = strdup(line);
    pthread_mutex_unlock(&ext->lock);
    if (n < TIMELINE_LINES)
        note(ext, "%s", line);
    else if (n == TIMELINE_LINES)
        note(ext, "(further output not copied into the timeline)");
}

/* The last `want` output lines joined by " | ", into out. */
static void tail_text(struct hx_external *ext, size_t want, char *out, size_t size)
{
    out[0] = '\0';
    pthread_mutex_lock(&ext->lock);
    size_t count = ext->tail_count < TAIL_LINES ? ext->tail_count : TAIL_LINES;
    if (want > count)
        want = count;
    size_t used = 0;
    for (size_t i = ext->tail_count - want; i < ext->tail_count && used + 4 < size; i++) {
        const char *line = ext->tail[i % TAIL_LINES];
        int n = snprintf(out + used, size - used, "%s%s", used ? " | " : "", line ? line : "");
        if (n < 0)
            break;
        used += (size_t)n < size - used ? (size_t)n : size - used - 1;
    }
    pthread_mutex_unlock(&ext->lock);
}

static void *reader_main(void *arg)
{
    struct hx_external *ext = arg;
    char buf[4096];
    char line[LINE_MAX_BYTES + 1];
    size_t len = 0;
    int64_t drain_until = 0;
    for (;;) {
        if (atomic_load(&ext->stopping)) {
            if (!drain_until)
                drain_until = mono_ms() + DRAIN_MS;
            else if (mono_ms() > drain_until)
                break;
        }
        struct pollfd pfd = {.fd = ext->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, 100);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t got = read(ext->out_fd, buf, sizeof(buf));
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            break; /* EOF: every process holding the pipe is gone */
        for (ssize_t i = 0; i < got; i++) {
            if (buf[i] == '\n' || buf[i] == '\r') {
                line[len] = '\0';
                take_line(ext, line);
                len = 0;
            } else if (len < LINE_MAX_BYTES) {
                line[len++] = buf[i];
            }
        }
    }
    if (len) {
        line[len] = '\0';
        take_line(ext, line);
    }
    return NULL;
}

/* ---- the app's clock ---------------------------------------------------- */

static void apply_time(struct hx_external *ext, int64_t virtual_ms, bool allow_back)
{
    if (!hx_faketime_set(&ext->ft, virtual_ms, allow_back))
        note(ext, "could not write the faketime file %s: %s", ext->ft.rc_path, strerror(errno));
}

/* ---- process group ------------------------------------------------------ */

/* Reaps the shell and every member of its group that was handed to us
 * (the harness is a child subreaper, so orphaned grandchildren come to it
 * instead of a PID 1 that may never reap them). */
static void reap(struct hx_external *ext)
{
    if (ext->pid <= 0)
        return;
    int status;
    pid_t r;
    while ((r = waitpid(-ext->pid, &status, WNOHANG)) > 0)
        if (r == ext->pid) {
            ext->reaped = true;
            ext->wait_status = status;
        }
    if (!ext->reaped && r < 0 && errno == ECHILD) {
        ext->reaped = true;
        ext->wait_status = 0;
    }
}

static pthread_once_t subreaper_once = PTHREAD_ONCE_INIT;

static void become_subreaper(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
}

static void describe_status(int status, char *out, size_t size)
{
    if (WIFEXITED(status))
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, size, "status %d", status);
}

/* Counts the group's members: live ones, and zombies that are ours to reap
 * (a zombie leader whose threads are still exiting cannot be reaped yet).
 * Zombies of other parents do not count: a container's PID 1 may never
 * reap what it inherits. */
static void group_members(pid_t pgid, int *alive, int *ours)
{
    *alive = *ours = 0;
    DIR *proc = opendir("/proc");
    if (!proc) {
        *alive = !(kill(-pgid, 0) == -1 && errno == ESRCH);
        return;
    }
    long self = (long)getpid();
    struct dirent *d;
    while ((d = readdir(proc))) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        const char *rest = strrchr(buf, ')'); /* comm may hold spaces */
        char state = 0;
        long ppid = 0, pgrp = 0;
        if (!rest || sscanf(rest + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3 || pgrp != pgid)
            continue;
        if (state != 'Z' && state != 'X')
            (*alive)++;
        else if (ppid == self)
            (*ours)++;
    }
    closedir(proc);
}

static bool group_alive(pid_t pgid)
{
    int alive, ours;
    group_members(pgid, &alive, &ours);
    return alive > 0;
}

/* Waits up to ms for the group to end and its zombies to be reaped; true
 * when it has. */
static bool wait_group(struct hx_external *ext, long ms)
{
    int64_t deadline = mono_ms() + ms;
    for (;;) {
        reap(ext);
        int alive, ours;
        group_members(ext->pid, &alive, &ours);
        if (!alive && !ours)
            return true;
        if (mono_ms() >= deadline)
            return !alive;
        sleep_ms(alive ? 20 : 5);
    }
}

static int parse_signal(const json_t *v, bool *ok)
{
    *ok = true;
    if (!v)
        return SIGTERM;
    if (json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) < 65)
        return (int)json_integer_value(v);
    const char *s = json_string_value(v);
    if (s) {
        if (strncasecmp(s, "SIG", 3) == 0)
            s += 3;
        static const struct {
            const char *name;
            int sig;
        } names[] = {{"TERM", SIGTERM}, {"INT", SIGINT}, {"HUP", SIGHUP}, {"QUIT", SIGQUIT},
                     {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcasecmp(s, names[i].name) == 0)
                return names[i].sig;
    }
    *ok = false;
    return SIGTERM;
}

/* Stops the group: sig, SIGKILL after the grace period. */
static void stop_group(struct hx_external *ext, int sig)
{
    if (ext->pid <= 0)
        return;
    reap(ext);
    if (group_alive(ext->pid)) {
        int64_t started = mono_ms();
        kill(-ext->pid, sig);
        if (!wait_group(ext, STOP_GRACE_MS)) {
            note(ext, "still running %d ms after %s: SIGKILL", STOP_GRACE_MS, strsignal(sig));
            kill(-ext->pid, SIGKILL);
            if (!wait_group(ext, KILL_WAIT_MS))
                note(ext, "process group %d survived SIGKILL", (int)ext->pid);
        }
        note(ext, "stopped in %lld ms", (long long)(mono_ms() - started));
    } else {
        wait_group(ext, 500); /* reap what is left */
    }
    /* The shell itself may be a zombie now. */
    for (int i = 0; i < 100 && !ext->reaped; i++) {
        reap(ext);
        if (!ext->reaped)
            sleep_ms(10);
    }
    reap(ext);
    if (ext->ft.mode != HX_CLOCK_OFF)
        hx_faketime_forget_process(ext->pid);
}

/* ---- environment -------------------------------------------------------- */

static bool env_put(json_t *vars, const char *name, const json_t *value, struct idp_error *err)
{
    char text[64];
    const char *s;
    if (json_is_null(value)) {
        json_object_del(vars, name);
        return true;
    }
    if (json_is_string(value))
        s = json_string_value(value);
    else if (json_is_integer(value)) {
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(value));
        s = text;
    } else if (json_is_boolean(value))
        s = json_is_true(value) ? "true" : "false";
    else {
        idp_fail(err, IDP_INVALID, "start.env.%s must be a string, a number, a boolean or null", name);
        return false;
    }
    json_object_set_new(vars, name, json_string(s));
    return true;
}

static char **env_array(const json_t *vars)
{
    size_t n = json_object_size(vars), i = 0;
    char **envp = calloc(n + 1, sizeof(*envp));
    if (!envp)
        return NULL;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)vars, key, value) {
        const char *v = json_string_value(value);
        size_t len = strlen(key) + strlen(v) + 2;
        envp[i] = malloc(len);
        if (!envp[i])
            break;
        snprintf(envp[i], len, "%s=%s", key, v);
        i++;
    }
    envp[i] = NULL;
    return envp;
}

static void env_free(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

/* ---- start -------------------------------------------------------------- */

/* Ready: an HTTP answer below 500 (a redirect or a 404 too); 5xx, as in
 * "503 starting", means not yet. */
static bool answers(struct hx_http_client *client, const char *url, long timeout_ms, long *status)
{
    struct hx_http_response resp;
    bool got = hx_http_request(client, "GET", url, NULL, NULL, 0, timeout_ms, &resp) &&
               resp.status >= 100 && resp.status < 500;
    if (status)
        *status = resp.status;
    hx_http_response_cleanup(&resp);
    return got;
}

static void free_ext(struct hx_external *ext)
{
    if (ext->reader_started) {
        atomic_store(&ext->stopping, true);
        pthread_join(ext->reader, NULL);
    }
    if (ext->out_fd >= 0)
        close(ext->out_fd);
    hx_faketime_close(&ext->ft);
    hx_guard_remove(ext->guard_slot);
    for (size_t i = 0; i < TAIL_LINES; i++)
        free(ext->tail[i]);
    pthread_mutex_destroy(&ext->lock);
    free(ext);
}

/* Fails a start: stops what runs, puts the last output lines into err. */
static struct hx_external *fail_start(struct hx_external *ext, int sig, struct idp_error *err,
                                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct hx_external *fail_start(struct hx_external *ext, int sig, struct idp_error *err,
                                      const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (ext->pid > 0)
        stop_group(ext, sig);
    if (ext->reader_started) {
        atomic_store(&ext->stopping, true);
        pthread_join(ext->reader, NULL);
        ext->reader_started = false;
    }
    char tail[400];
    tail_text(ext, 6, tail, sizeof(tail));
    note(ext, "did not start: %s", what);
    if (tail[0])
        idp_fail(err, IDP_INVALID, "%s; last output: %s", what, tail);
    else
        idp_fail(err, IDP_INVALID, "%s (no output)", what);
    free_ext(ext);
    return NULL;
}

static enum idp_status check_start(const json_t *start, int64_t *ready_timeout_out, int *stop_sig_out,
                                   int *mode_out, struct idp_error *err)
{
    static const char *const keys[] = {"command", "cwd", "env", "ready", "ready_timeout",
                                       "stop_signal", "clock", NULL};
    if (!json_is_object(start)) {
        idp_fail(err, IDP_INVALID, "target.start must be an object {\"command\", \"cwd\", \"env\", ...}");
        return err ? err->status : IDP_INVALID;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)start, key, value) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            known = known || strcmp(keys[i], key) == 0;
        if (!known) {
            idp_fail(err, IDP_INVALID,
                     "target.start: unknown key \"%s\" (keys: command, cwd, env, ready, "
                     "ready_timeout, stop_signal, clock)", key);
            return err ? err->status : IDP_INVALID;
        }
    }
    const char *command = json_string_value(json_object_get(start, "command"));
    if (!command || !command[0]) {
        idp_fail(err, IDP_INVALID, "target.start needs a \"command\" string (run with sh -c)");
        return err ? err->status : IDP_INVALID;
    }
    const json_t *env_obj = json_object_get(start, "env");
    if (env_obj && !json_is_object(env_obj)) {
        idp_fail(err, IDP_INVALID, "target.start.env must be an object of variables");
        return err ? err->status : IDP_INVALID;
    }
    int64_t ready_timeout = 30000;
    const json_t *rt = json_object_get(start, "ready_timeout");
    bool rt_ok = !rt || (idp_duration_json(rt, false, &ready_timeout) && ready_timeout > 0 &&
                         ready_timeout < 86400000);
    if (!rt_ok) {
        idp_fail(err, IDP_INVALID, "target.start.ready_timeout is a duration such as \"30s\"");
        return err ? err->status : IDP_INVALID;
    }
    bool sig_ok;
    int stop_sig = parse_signal(json_object_get(start, "stop_signal"), &sig_ok);
    if (!sig_ok) {
        idp_fail(err, IDP_INVALID, "target.start.stop_signal is a signal name such as \"SIGTERM\" or a number");
        return err ? err->status : IDP_INVALID;
    }
    enum hx_clock_mode mode = HX_CLOCK_FROZEN;
    const json_t *clock_v = json_object_get(start, "clock");
    if (clock_v) {
        const char *c = json_string_value(clock_v);
        if (c && strcmp(c, "frozen") == 0)
            mode = HX_CLOCK_FROZEN;
        else if (c && strcmp(c, "ticking") == 0)
            mode = HX_CLOCK_TICKING;
        else if (c && strcmp(c, "off") == 0)
            mode = HX_CLOCK_OFF;
        else {
            idp_fail(err, IDP_INVALID, "target.start.clock is \"frozen\", \"ticking\" or \"off\"");
            return err ? err->status : IDP_INVALID;
        }
    }
    *ready_timeout_out = ready_timeout;
    *stop_sig_out = stop_sig;
    *mode_out = mode;
    return IDP_OK;
}

enum idp_status hx_external_validate(const json_t *start, struct idp_error *err)
{
    int64_t ready_timeout;
    int stop_sig;
    int mode;
    return check_start(start, &ready_timeout, &stop_sig, &mode, err);
}

struct hx_external *hx_external_start(const json_t *start, const struct hx_external_env *env,
                                      struct hx_timeline *timeline, struct idp_error *err)
{
    int64_t ready_timeout = 0;
    int stop_sig = 0;
    int mode_value = 0;
    if (check_start(start, &ready_timeout, &stop_sig, &mode_value, err))
        return NULL;
    enum hx_clock_mode mode = (enum hx_clock_mode)mode_value;
    const char *command = json_string_value(json_object_get(start, "command"));
    const json_t *env_obj = json_object_get(start, "env");
    json_t *value;
    struct hx_url app, idp;
    if (!env->app_url || !hx_url_parse(env->app_url, &app)) {
        idp_fail(err, IDP_INVALID, "target.url is not an absolute http(s) URL: %s",
                 env->app_url ? env->app_url : "(none)");
        return NULL;
    }
    if (!env->idp_url || !hx_url_parse(env->idp_url, &idp)) {
        idp_fail(err, IDP_INVALID, "target.idp_url is not an absolute http(s) URL: %s",
                 env->idp_url ? env->idp_url : "(none)");
        return NULL;
    }
    char ready[1200];
    const char *ready_given = json_string_value(json_object_get(start, "ready"));
    size_t app_len = strlen(env->app_url);
    while (app_len && env->app_url[app_len - 1] == '/')
        app_len--;
    if (ready_given && ready_given[0] == '/')
        snprintf(ready, sizeof(ready), "%.*s%s", (int)app_len, env->app_url, ready_given);
    else
        snprintf(ready, sizeof(ready), "%s", ready_given ? ready_given : env->app_url);
    struct hx_url ready_url;
    if (!hx_url_parse(ready, &ready_url)) {
        idp_fail(err, IDP_INVALID, "target.start.ready is not a URL or a path: %s", ready);
        return NULL;
    }
    char cwd[PATH_MAX];
    const char *cwd_given = json_string_value(json_object_get(start, "cwd"));
    if (json_object_get(start, "cwd") && !cwd_given) {
        idp_fail(err, IDP_INVALID, "target.start.cwd must be a string");
        return NULL;
    }
    char joined[PATH_MAX];
    if (cwd_given && cwd_given[0] != '/' && env->base_dir && env->base_dir[0]) {
        snprintf(joined, sizeof(joined), "%s/%s", env->base_dir, cwd_given);
        cwd_given = joined;
    }
    if (!realpath(cwd_given ? cwd_given : ".", cwd)) {
        int e = errno;
        idp_fail(err, IDP_NOT_FOUND, "target.start.cwd %s: %s (relative paths start at the "
                 "scenario file's folder)", cwd_given ? cwd_given : ".", strerror(e));
        return NULL;
    }
    struct stat st;
    if (stat(cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        idp_fail(err, IDP_INVALID, "target.start.cwd %s is not a folder", cwd);
        return NULL;
    }
    char libfaketime[PATH_MAX] = "";
    if (mode != HX_CLOCK_OFF && !hx_faketime_find_lib(libfaketime, sizeof(libfaketime))) {
        idp_fail(err, IDP_NOT_FOUND,
                 "libfaketime not found (apt-get install libfaketime, or set FAKEIDP_LIBFAKETIME "
                 "to libfaketime.so.1); \"clock\": \"off\" runs the app on the real clock");
        return NULL;
    }

    struct hx_external *ext = calloc(1, sizeof(*ext));
    if (!ext) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    ext->out_fd = -1;
    ext->guard_slot = -1;
    ext->timeline = timeline;
    ext->ft.mode = mode;
    ext->stop_signal = stop_sig;
    atomic_store(&ext->now_ms, env->virtual_now_ms);
    pthread_mutex_init(&ext->lock, NULL);

    /* What a killed run left (an app still on this port, say) goes first. */
    hx_faketime_sweep();
    struct hx_http_client *probe = hx_http_client_new();
    if (!probe)
        return fail_start(ext, stop_sig, err, "out of memory");
    /* The browser model reaches every host on 127.0.0.1; so does the probe. */
    hx_http_client_loopback(probe, true);
    long status = 0;
    if (answers(probe, ready, 500, &status)) {
        hx_http_client_free(&probe);
        return fail_start(ext, stop_sig, err,
                          "something already answers at %s (status %ld) before the app started: "
                          "stop it or give the target another port", ready, status);
    }

    if (!hx_faketime_open(&ext->ft, mode, libfaketime, env->virtual_now_ms)) {
        hx_http_client_free(&probe);
        return fail_start(ext, stop_sig, err, "cannot create the faketime file: %s", strerror(errno));
    }
    ext->guard_slot = hx_guard_add(ext->ft.dir);

    /* The environment: ours, the fake's variables, then the scenario's. */
    json_t *vars = json_object();
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(eq - *e), *e);
        json_object_set_new(vars, name, json_string(eq + 1));
    }
    char port[16], idp_port[16], redirect[1200], base[600];
    snprintf(port, sizeof(port), "%d", app.port);
    snprintf(idp_port, sizeof(idp_port), "%d", idp.port);
    snprintf(base, sizeof(base), "%s", env->app_url);
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        base[--blen] = '\0';
    snprintf(redirect, sizeof(redirect), "%s/callback", base);
    json_object_set_new(vars, "WORKOS_API_HOSTNAME", json_string(idp.host));
    json_object_set_new(vars, "WORKOS_API_PORT", json_string(idp_port));
    json_object_set_new(vars, "WORKOS_API_HTTPS", json_string(strcmp(idp.scheme, "https") == 0 ? "true" : "false"));
    json_object_set_new(vars, "WORKOS_CLIENT_ID", json_string(env->client_id ? env->client_id : ""));
    json_object_set_new(vars, "WORKOS_API_KEY", json_string(env->api_key ? env->api_key : ""));
    json_object_set_new(vars, "WORKOS_COOKIE_PASSWORD", json_string(default_cookie_password));
    json_object_set_new(vars, "WORKOS_REDIRECT_URI", json_string(redirect));
    json_object_set_new(vars, "NEXT_PUBLIC_WORKOS_REDIRECT_URI", json_string(redirect));
    json_object_set_new(vars, "FAKEIDP_URL", json_string(env->idp_url));
    json_object_set_new(vars, "APP_URL", json_string(base));
    json_object_set_new(vars, "PORT", json_string(port));
    hx_faketime_env(&ext->ft, vars);
    const char *name;
    json_object_foreach((json_t *)env_obj, name, value) {
        if (!env_put(vars, name, value, err)) {
            json_decref(vars);
            hx_http_client_free(&probe);
            return fail_start(ext, stop_sig, err, "%s", err->message);
        }
    }
    hx_faketime_preload(&ext->ft, vars);
    char **envp = env_array(vars);
    json_decref(vars);

    int pipefd[2] = {-1, -1};
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!envp || devnull < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        env_free(envp);
        if (devnull >= 0)
            close(devnull);
        hx_http_client_free(&probe);
        return fail_start(ext, stop_sig, err, "cannot set up the app's output: %s", strerror(errno));
    }
    pthread_once(&subreaper_once, become_subreaper);
    if (hx_guard_stopping()) {
        env_free(envp);
        close(devnull);
        close(pipefd[0]);
        close(pipefd[1]);
        hx_http_client_free(&probe);
        return fail_start(ext, stop_sig, err, "the run is being interrupted");
    }
    char *const argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: async-signal-safe calls only until exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(devnull, 0);
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        if (chdir(cwd) != 0) {
            static const char msg[] = "fakeidp: cannot enter the app's folder\n";
            ssize_t ignored = write(2, msg, sizeof(msg) - 1);
            (void)ignored;
            _exit(127);
        }
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
            for (int fd = 3; fd < 65536; fd++)
                close(fd);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        static const int defaults[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};
        for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
            signal(defaults[i], SIG_DFL);
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    close(devnull);
    env_free(envp);
    if (pid < 0) {
        close(pipefd[0]);
        hx_http_client_free(&probe);
        return fail_start(ext, stop_sig, err, "fork: %s", strerror(fork_errno));
    }
    setpgid(pid, pid); /* also in the parent: no window where a signal misses the group */
    ext->pid = pid;
    hx_guard_set_group(ext->guard_slot, pid);
    hx_faketime_set_pid(&ext->ft, pid);
    ext->out_fd = pipefd[0];
    if (pthread_create(&ext->reader, NULL, reader_main, ext) == 0)
        ext->reader_started = true;
    char ready_timeout_text[32];
    idp_duration_format(ready_timeout, ready_timeout_text);
    note(ext, "started `%s` in %s (process group %d%s%s)", command, cwd, (int)pid,
         mode == HX_CLOCK_FROZEN ? ", frozen clock" : mode == HX_CLOCK_TICKING ? ", ticking clock" : "",
         mode == HX_CLOCK_OFF ? ", real clock" : "");
    if (mode != HX_CLOCK_OFF && !ext->ft.fix[0])
        note(ext, "without libfakeidp-timefix.so (FAKEIDP_TIMEFIX): %s", mode == HX_CLOCK_FROZEN
             ? "an absolute sleep on the monotonic clock fails with EINVAL (Python's time.sleep)"
             : "a timed wait on the monotonic clock waits far too long (Python's Event.wait)");

    /* Ready when the readiness URL answers (below 500). */
    int64_t began = mono_ms(), deadline = began + ready_timeout;
    status = 0;
    for (;;) {
        reap(ext);
        if (ext->reaped) {
            char how[64];
            describe_status(ext->wait_status, how, sizeof(how));
            ext->exit_noted = true;
            hx_http_client_free(&probe);
            return fail_start(ext, stop_sig, err, "the app exited (%s) before %s answered", how, ready);
        }
        long last = 0;
        bool up = answers(probe, ready, 2000, &last);
        if (last)
            status = last;
        if (up)
            break;
        if (mono_ms() >= deadline) {
            char answered[48] = "";
            if (status)
                snprintf(answered, sizeof(answered), " (last answer: %ld)", status);
            hx_http_client_free(&probe);
            return fail_start(ext, stop_sig, err, "the app did not answer at %s within %s%s", ready,
                              ready_timeout_text, answered);
        }
        sleep_ms(READY_POLL_MS);
    }
    hx_http_client_free(&probe);
    note(ext, "ready: %s answered %ld after %lld ms", ready, status, (long long)(mono_ms() - began));
    /* A ticking clock is not set back to the virtual now here: Node aborts
     * when its monotonic clock goes back (Environment::GetNowUint64 asserts
     * now >= timer_base). It stays ahead by the start-up time until an
     * advance catches up with it. */
    return ext;
}

void hx_external_set_time(struct hx_external *ext, int64_t virtual_now_ms)
{
    if (!ext)
        return;
    atomic_store(&ext->now_ms, virtual_now_ms);
    pthread_mutex_lock(&ext->lock);
    apply_time(ext, virtual_now_ms, false);
    reap(ext);
    bool exited = ext->reaped && !ext->exit_noted;
    ext->exit_noted = ext->exit_noted || exited;
    int status = ext->wait_status;
    pthread_mutex_unlock(&ext->lock);
    if (exited) {
        char how[64];
        describe_status(status, how, sizeof(how));
        note(ext, "the app's process exited (%s) during the run", how);
    }
}

void hx_external_stop(struct hx_external **extp)
{
    if (!extp || !*extp)
        return;
    struct hx_external *ext = *extp;
    *extp = NULL;
    reap(ext);
    if (ext->reaped && !ext->exit_noted) {
        char how[64];
        describe_status(ext->wait_status, how, sizeof(how));
        note(ext, "the app's process had exited (%s) before the end of the run", how);
    }
    stop_group(ext, ext->stop_signal);
    free_ext(ext);
}
