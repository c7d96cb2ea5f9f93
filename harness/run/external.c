/* External apps: the harness starts the user's app with `sh -c COMMAND` in
 * its own process group, with the fake's WORKOS_* variables, under
 * libfaketime so that the app's wall clock follows the scenario's virtual
 * time, waits until it answers, copies its output into the timeline
 * (external_output.c), and stops the whole group at the end
 * (external_group.c). See docs/external-apps.md.
 *
 * Clock modes ("clock" in the start block): frozen (default), ticking or
 * off, as described in faketime.h. */
#define _GNU_SOURCE
#include "external_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "guard.h"
#include "http_client.h"
#include "url.h"

extern char **environ;

#define READY_POLL_MS 50

/* 43 characters, like a base64url-encoded 32-byte secret. */
static const char default_cookie_password[] = "fakeidp-external-app-cookie-password-000000";
_Static_assert(sizeof(default_cookie_password) - 1 == 43, "cookie password must be 43 characters");

/* ---- the app's clock ---------------------------------------------------- */

static void apply_time(struct hx_external *ext, int64_t virtual_ms, bool allow_back)
{
    if (!hx_faketime_set(&ext->ft, virtual_ms, allow_back))
        external_note(ext, "could not write the faketime file %s: %s", ext->ft.rc_path, strerror(errno));
}

/* ---- the start block ----------------------------------------------------- */

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

/* What a start block and the environment ask for, checked before anything
 * runs. */
struct start_plan {
    const char *command;
    const json_t *env_vars;      /* the scenario's start.env, or NULL */
    int64_t ready_timeout_ms;
    int stop_signal;
    enum hx_clock_mode mode;
    struct hx_url app, idp;      /* the target's URL and the fake's */
    char ready[1200];            /* the readiness URL */
    char cwd[PATH_MAX];          /* the app's folder, resolved */
    char libfaketime[PATH_MAX];  /* "" with the clock off */
};

/* The start block's keys, types and values (lint time too): the command,
 * ready timeout, stop signal and clock mode into plan. */
static enum idp_status check_start(const json_t *start, struct start_plan *plan,
                                   struct idp_error *err)
{
    static const char *const keys[] = {"command", "cwd", "env", "ready", "ready_timeout",
                                       "stop_signal", "clock", NULL};
    memset(plan, 0, sizeof(*plan));
    if (!json_is_object(start))
        return idp_fail(err, IDP_INVALID,
                        "target.start must be an object {\"command\", \"cwd\", \"env\", ...}");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)start, key, value) {
        bool known = false;
        for (int i = 0; keys[i]; i++)
            known = known || strcmp(keys[i], key) == 0;
        if (!known)
            return idp_fail(err, IDP_INVALID,
                            "target.start: unknown key \"%s\" (keys: command, cwd, env, ready, "
                            "ready_timeout, stop_signal, clock)", key);
    }
    plan->command = json_string_value(json_object_get(start, "command"));
    if (!plan->command || !plan->command[0])
        return idp_fail(err, IDP_INVALID,
                        "target.start needs a \"command\" string (run with sh -c)");
    plan->env_vars = json_object_get(start, "env");
    if (plan->env_vars && !json_is_object(plan->env_vars))
        return idp_fail(err, IDP_INVALID, "target.start.env must be an object of variables");
    plan->ready_timeout_ms = 30000;
    const json_t *rt = json_object_get(start, "ready_timeout");
    bool rt_ok = !rt || (idp_duration_json(rt, false, &plan->ready_timeout_ms) &&
                         plan->ready_timeout_ms > 0 && plan->ready_timeout_ms < 86400000);
    if (!rt_ok)
        return idp_fail(err, IDP_INVALID,
                        "target.start.ready_timeout is a duration such as \"30s\"");
    bool sig_ok;
    plan->stop_signal = parse_signal(json_object_get(start, "stop_signal"), &sig_ok);
    if (!sig_ok)
        return idp_fail(err, IDP_INVALID, "target.start.stop_signal is a signal name such as "
                                          "\"SIGTERM\" or a number");
    plan->mode = HX_CLOCK_FROZEN;
    const json_t *clock_v = json_object_get(start, "clock");
    if (clock_v) {
        const char *c = json_string_value(clock_v);
        if (c && strcmp(c, "frozen") == 0)
            plan->mode = HX_CLOCK_FROZEN;
        else if (c && strcmp(c, "ticking") == 0)
            plan->mode = HX_CLOCK_TICKING;
        else if (c && strcmp(c, "off") == 0)
            plan->mode = HX_CLOCK_OFF;
        else
            return idp_fail(err, IDP_INVALID,
                            "target.start.clock is \"frozen\", \"ticking\" or \"off\"");
    }
    return IDP_OK;
}

enum idp_status hx_external_validate(const json_t *start, struct idp_error *err)
{
    struct start_plan plan;
    return check_start(start, &plan, err);
}

/* The whole plan: the start block, the URLs (the readiness URL: start.ready
 * as a URL, or as a path on the target's URL, or the target's URL), the
 * app's folder (relative to the scenario's folder) and libfaketime. */
static enum idp_status plan_start(const json_t *start, const struct hx_external_env *env,
                                  struct start_plan *plan, struct idp_error *err)
{
    enum idp_status status = check_start(start, plan, err);
    if (status)
        return status;
    if (!env->app_url || !hx_url_parse(env->app_url, &plan->app))
        return idp_fail(err, IDP_INVALID, "target.url is not an absolute http(s) URL: %s",
                        env->app_url ? env->app_url : "(none)");
    if (!env->idp_url || !hx_url_parse(env->idp_url, &plan->idp))
        return idp_fail(err, IDP_INVALID, "target.idp_url is not an absolute http(s) URL: %s",
                        env->idp_url ? env->idp_url : "(none)");
    const char *ready_given = json_string_value(json_object_get(start, "ready"));
    size_t app_len = strlen(env->app_url);
    while (app_len && env->app_url[app_len - 1] == '/')
        app_len--;
    if (ready_given && ready_given[0] == '/')
        snprintf(plan->ready, sizeof(plan->ready), "%.*s%s", (int)app_len, env->app_url,
                 ready_given);
    else
        snprintf(plan->ready, sizeof(plan->ready), "%s", ready_given ? ready_given : env->app_url);
    struct hx_url ready_url;
    if (!hx_url_parse(plan->ready, &ready_url))
        return idp_fail(err, IDP_INVALID, "target.start.ready is not a URL or a path: %s",
                        plan->ready);
    const char *cwd_given = json_string_value(json_object_get(start, "cwd"));
    if (json_object_get(start, "cwd") && !cwd_given)
        return idp_fail(err, IDP_INVALID, "target.start.cwd must be a string");
    char joined[PATH_MAX];
    if (cwd_given && cwd_given[0] != '/' && env->base_dir && env->base_dir[0]) {
        snprintf(joined, sizeof(joined), "%s/%s", env->base_dir, cwd_given);
        cwd_given = joined;
    }
    if (!realpath(cwd_given ? cwd_given : ".", plan->cwd)) {
        int e = errno;
        return idp_fail(err, IDP_NOT_FOUND, "target.start.cwd %s: %s (relative paths start at "
                        "the scenario file's folder)", cwd_given ? cwd_given : ".", strerror(e));
    }
    struct stat st;
    if (stat(plan->cwd, &st) != 0 || !S_ISDIR(st.st_mode))
        return idp_fail(err, IDP_INVALID, "target.start.cwd %s is not a folder", plan->cwd);
    plan->libfaketime[0] = '\0';
    if (plan->mode != HX_CLOCK_OFF &&
        !hx_faketime_find_lib(plan->libfaketime, sizeof(plan->libfaketime)))
        return idp_fail(err, IDP_NOT_FOUND,
                        "libfaketime not found (apt-get install libfaketime, or set "
                        "FAKEIDP_LIBFAKETIME to libfaketime.so.1); \"clock\": \"off\" runs the "
                        "app on the real clock");
    return IDP_OK;
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

/* The app's environment: ours, the fake's WORKOS_* variables and the app's
 * URL, the clock's (libfaketime), then the scenario's start.env (null
 * removes a variable). NULL with why set when start.env has a bad value;
 * NULL with why empty when out of memory. */
static char **app_environment(struct hx_faketime *ft, const struct hx_external_env *env,
                              const struct start_plan *plan, char *why, size_t why_size)
{
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
    snprintf(port, sizeof(port), "%d", plan->app.port);
    snprintf(idp_port, sizeof(idp_port), "%d", plan->idp.port);
    snprintf(base, sizeof(base), "%s", env->app_url);
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        base[--blen] = '\0';
    snprintf(redirect, sizeof(redirect), "%s/callback", base);
    bool https = strcmp(plan->idp.scheme, "https") == 0;
    json_object_set_new(vars, "WORKOS_API_HOSTNAME", json_string(plan->idp.host));
    json_object_set_new(vars, "WORKOS_API_PORT", json_string(idp_port));
    json_object_set_new(vars, "WORKOS_API_HTTPS", json_string(https ? "true" : "false"));
    json_object_set_new(vars, "WORKOS_CLIENT_ID", json_string(env->client_id ? env->client_id : ""));
    json_object_set_new(vars, "WORKOS_API_KEY", json_string(env->api_key ? env->api_key : ""));
    json_object_set_new(vars, "WORKOS_COOKIE_PASSWORD", json_string(default_cookie_password));
    json_object_set_new(vars, "WORKOS_REDIRECT_URI", json_string(redirect));
    json_object_set_new(vars, "NEXT_PUBLIC_WORKOS_REDIRECT_URI", json_string(redirect));
    json_object_set_new(vars, "FAKEIDP_URL", json_string(env->idp_url));
    json_object_set_new(vars, "APP_URL", json_string(base));
    json_object_set_new(vars, "PORT", json_string(port));
    hx_faketime_env(ft, vars);
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)plan->env_vars, name, value) {
        struct idp_error bad;
        if (!env_put(vars, name, value, &bad)) {
            snprintf(why, why_size, "%s", bad.message);
            json_decref(vars);
            return NULL;
        }
    }
    hx_faketime_preload(ft, vars);
    char **envp = env_array(vars);
    json_decref(vars);
    return envp;
}

/* ---- start -------------------------------------------------------------- */

/* The process-wide decision hx_external_env.adopt_orphans asks for, taken
 * once: this process becomes a child subreaper. */
static pthread_once_t subreaper_once = PTHREAD_ONCE_INIT;

static void become_subreaper(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);
}

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

/* Fails a start: stops what runs, puts what went wrong and the last output
 * lines into err, frees ext. */
static struct hx_external *fail_start(struct hx_external *ext, const char *what,
                                      struct idp_error *err)
{
    if (ext->pid > 0)
        external_stop_group(ext, ext->stop_signal);
    if (ext->reader_started) {
        atomic_store(&ext->stopping, true);
        pthread_join(ext->reader, NULL);
        ext->reader_started = false;
    }
    char tail[400];
    external_tail(ext, 6, tail, sizeof(tail));
    external_note(ext, "did not start: %s", what);
    if (tail[0])
        idp_fail(err, IDP_INVALID, "%s; last output: %s", what, tail);
    else
        idp_fail(err, IDP_INVALID, "%s (no output)", what);
    free_ext(ext);
    return NULL;
}

/* Forks `sh -c command` in a process group of its own, in cwd, with envp,
 * stdin from devnull and stdout and stderr into out_fd; the child's pid, or
 * -1 (errno set). The child makes async-signal-safe calls only until exec,
 * and dies with the harness (PR_SET_PDEATHSIG). */
static pid_t spawn(const char *command, const char *cwd, char **envp, int devnull, int out_fd)
{
    char *const argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
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

/* The timeline's line for the start: command, folder, group and clock,
 * and what goes wrong without the timefix library. */
static void note_started(struct hx_external *ext, const struct start_plan *plan)
{
    enum hx_clock_mode mode = plan->mode;
    external_note(ext, "started `%s` in %s (process group %d%s%s)", plan->command, plan->cwd,
                  (int)ext->pid,
                  mode == HX_CLOCK_FROZEN ? ", frozen clock" : mode == HX_CLOCK_TICKING ? ", ticking clock" : "",
                  mode == HX_CLOCK_OFF ? ", real clock" : "");
    if (mode != HX_CLOCK_OFF && !ext->ft.fix[0])
        external_note(ext, "without libfakeidp-timefix.so (FAKEIDP_TIMEFIX): %s", mode == HX_CLOCK_FROZEN
                      ? "an absolute sleep on the monotonic clock fails with EINVAL (Python's time.sleep)"
                      : "a timed wait on the monotonic clock waits far too long (Python's Event.wait)");
}

/* Waits until the readiness URL answers (below 500): false with why set
 * when the app exits first or the ready timeout passes. */
static bool wait_ready(struct hx_external *ext, struct hx_http_client *probe,
                       const struct start_plan *plan, char *why, size_t why_size)
{
    int64_t began = external_mono_ms(), deadline = began + plan->ready_timeout_ms;
    long status = 0;
    for (;;) {
        external_reap(ext);
        if (ext->reaped) {
            char how[64];
            external_describe_status(ext->wait_status, how, sizeof(how));
            ext->exit_noted = true;
            snprintf(why, why_size, "the app exited (%s) before %s answered", how, plan->ready);
            return false;
        }
        long last = 0;
        bool up = answers(probe, plan->ready, 2000, &last);
        if (last)
            status = last;
        if (up)
            break;
        if (external_mono_ms() >= deadline) {
            char answered[48] = "", timeout_text[32];
            if (status)
                snprintf(answered, sizeof(answered), " (last answer: %ld)", status);
            idp_duration_format(plan->ready_timeout_ms, timeout_text);
            snprintf(why, why_size, "the app did not answer at %s within %s%s", plan->ready,
                     timeout_text, answered);
            return false;
        }
        external_sleep_ms(READY_POLL_MS);
    }
    external_note(ext, "ready: %s answered %ld after %lld ms", plan->ready, status,
                  (long long)(external_mono_ms() - began));
    return true;
}

/* Every failure after ext exists goes to `fail`: what is still held here
 * (the probe, the environment, the pipe and /dev/null) is released there,
 * then fail_start stops what runs and frees ext. */
struct hx_external *hx_external_start(const json_t *start, const struct hx_external_env *env,
                                      struct hx_timeline *timeline, struct idp_error *err)
{
    struct start_plan plan;
    if (plan_start(start, env, &plan, err))
        return NULL;
    struct hx_external *ext = calloc(1, sizeof(*ext));
    if (!ext) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    ext->out_fd = -1;
    ext->guard_slot = -1;
    ext->timeline = timeline;
    ext->ft.mode = plan.mode;
    ext->stop_signal = plan.stop_signal;
    atomic_store(&ext->now_ms, env->virtual_now_ms);
    pthread_mutex_init(&ext->lock, NULL);

    char why[400] = "";
    char **envp = NULL;
    int devnull = -1, pipefd[2] = {-1, -1};
    long status = 0;
    /* What a killed run left (an app still on this port, say) goes first. */
    hx_faketime_sweep();
    struct hx_http_client *probe = hx_http_client_new();
    if (!probe) {
        snprintf(why, sizeof(why), "out of memory");
        goto fail;
    }
    /* The browser model reaches every host on 127.0.0.1; so does the probe. */
    hx_http_client_loopback(probe, true);
    if (answers(probe, plan.ready, 500, &status)) {
        snprintf(why, sizeof(why), "something already answers at %s (status %ld) before the app "
                 "started: stop it or give the target another port", plan.ready, status);
        goto fail;
    }
    if (!hx_faketime_open(&ext->ft, plan.mode, plan.libfaketime, env->virtual_now_ms)) {
        snprintf(why, sizeof(why), "cannot create the faketime file: %s", strerror(errno));
        goto fail;
    }
    ext->guard_slot = hx_guard_add(ext->ft.dir);
    envp = app_environment(&ext->ft, env, &plan, why, sizeof(why));
    if (why[0])
        goto fail;
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (!envp || devnull < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(why, sizeof(why), "cannot set up the app's output: %s", strerror(errno));
        goto fail;
    }
    if (env->adopt_orphans)
        pthread_once(&subreaper_once, become_subreaper);
    if (hx_guard_stopping()) {
        snprintf(why, sizeof(why), "the run is being interrupted");
        goto fail;
    }
    pid_t pid = spawn(plan.command, plan.cwd, envp, devnull, pipefd[1]);
    int fork_errno = errno;
    close(pipefd[1]);
    close(devnull);
    env_free(envp);
    pipefd[1] = devnull = -1;
    envp = NULL;
    if (pid < 0) {
        snprintf(why, sizeof(why), "fork: %s", strerror(fork_errno));
        goto fail;
    }
    setpgid(pid, pid); /* also in the parent: no window where a signal misses the group */
    ext->pid = pid;
    hx_guard_set_group(ext->guard_slot, pid);
    hx_faketime_set_pid(&ext->ft, pid);
    ext->out_fd = pipefd[0];
    pipefd[0] = -1;
    if (pthread_create(&ext->reader, NULL, external_read_output, ext) == 0)
        ext->reader_started = true;
    note_started(ext, &plan);
    if (!wait_ready(ext, probe, &plan, why, sizeof(why)))
        goto fail;
    hx_http_client_free(&probe);
    /* A ticking clock is not set back to the virtual now here: Node aborts
     * when its monotonic clock goes back (Environment::GetNowUint64 asserts
     * now >= timer_base). It stays ahead by the start-up time until an
     * advance catches up with it. */
    return ext;

fail:
    hx_http_client_free(&probe);
    env_free(envp);
    if (devnull >= 0)
        close(devnull);
    for (int i = 0; i < 2; i++)
        if (pipefd[i] >= 0)
            close(pipefd[i]);
    return fail_start(ext, why, err);
}

void hx_external_set_time(struct hx_external *ext, int64_t virtual_now_ms)
{
    if (!ext)
        return;
    atomic_store(&ext->now_ms, virtual_now_ms);
    pthread_mutex_lock(&ext->lock);
    apply_time(ext, virtual_now_ms, false);
    external_reap(ext);
    bool exited = ext->reaped && !ext->exit_noted;
    ext->exit_noted = ext->exit_noted || exited;
    int status = ext->wait_status;
    pthread_mutex_unlock(&ext->lock);
    if (exited) {
        char how[64];
        external_describe_status(status, how, sizeof(how));
        external_note(ext, "the app's process exited (%s) during the run", how);
    }
}

void hx_external_stop(struct hx_external **extp)
{
    if (!extp || !*extp)
        return;
    struct hx_external *ext = *extp;
    *extp = NULL;
    external_reap(ext);
    if (ext->reaped && !ext->exit_noted) {
        char how[64];
        external_describe_status(ext->wait_status, how, sizeof(how));
        external_note(ext, "the app's process had exited (%s) before the end of the run", how);
    }
    external_stop_group(ext, ext->stop_signal);
    free_ext(ext);
}
