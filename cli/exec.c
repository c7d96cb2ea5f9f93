/* fakeidp exec: runs a command (a dev server, a test runner) with the
 * WORKOS_* variables of a running fake and, under libfaketime, on that
 * fake's virtual clock, so that `POST /_fakeidp/clock {"advance": "6m"}`
 * moves the command's Date.now() too.
 *
 * How the clock follows: exec reads GET /_fakeidp/clock once, then polls
 * GET /_fakeidp/journal?since=N every POLL_MS (the journal route is the one
 * admin route that is not journaled itself, so following adds nothing to
 * what tests read). A POST to /_fakeidp/clock, a reset of the journal
 * (a restarted fake) or entries it missed make it read the clock again and
 * rewrite the libfaketime control file (harness/faketime.c, the mechanism
 * `fakeidp run` uses for external apps). So the command's clock moves at
 * most about POLL_MS after the fake's. Each time it has done so it says so
 * in the journal: a GET /_fakeidp/health with the request id
 * "fakeidp-exec-PID-SEQ" (PID: exec's own), SEQ being the journal's next seq when it looked,
 * so every entry before SEQ (the advance included) is in effect. A test that
 * advances and at once asks the app waits for that entry (the JavaScript
 * client's exec() and advance() do; docs/external-apps.md).
 *
 * The command runs in exec's process group (it keeps the terminal); signals
 * sent to exec are forwarded to it, those a terminal sends to the whole
 * group are not sent twice. exec's exit status is the command's (128 + N
 * when signal N ended it); 2 usage; 3 the fake cannot be reached; 126/127
 * the command cannot be run. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "faketime.h"
#include "http_client.h"
#include "url.h"

extern char **environ;

#define POLL_MS 20
#define REQUEST_TIMEOUT_MS 2000

static void exec_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp exec [options] [--] COMMAND [ARG...]\n\n"
            "Runs COMMAND with the WORKOS_* variables of the fake at URL (as printed by\n"
            "'fakeidp env') and, under libfaketime, on that fake's virtual clock: after\n"
            "POST /_fakeidp/clock {\"advance\":\"6m\"} the command's clock is six minutes on\n"
            "too (within about %d ms). The exit status is COMMAND's (128+N for signal N);\n"
            "3 when the fake cannot be reached.\n\n"
            "options:\n"
            "  --url URL            the running fake (default http://127.0.0.1:8787)\n"
            "  --clock MODE         frozen: the command's wall clock is exactly the fake's\n"
            "                       (it stands still while the fake's is frozen; timers run\n"
            "                       in real time); ticking: it runs on from the fake's, an\n"
            "                       advance also fires pending timers, it never goes back;\n"
            "                       off: the real clock (variables only). Default: frozen\n"
            "                       if the fake's clock is frozen at start, else ticking.\n"
            "                       Sleeps take real time in every mode (docs/external-\n"
            "                       apps.md, \"Sleeping\": libfakeidp-timefix.so)\n"
            "  --config FILE        the fake's configuration (client id and API key)\n"
            "  --redirect-uri URI   WORKOS_REDIRECT_URI (default: the inherited one, else\n"
            "                       http://localhost:3000/callback)\n"
            "  --admin-token TOKEN  the fake's admin token (default $FAKEIDP_ADMIN_TOKEN)\n"
            "  -h, --help           this help\n\n"
            "WORKOS_API_HOSTNAME, _PORT, _HTTPS, WORKOS_CLIENT_ID, WORKOS_API_KEY and\n"
            "FAKEIDP_URL are always set; WORKOS_REDIRECT_URI, NEXT_PUBLIC_WORKOS_REDIRECT_URI\n"
            "and WORKOS_COOKIE_PASSWORD only when not inherited (a fresh random password).\n",
            POLL_MS);
}

static volatile sig_atomic_t child_pid;
/* A signal that ends the command was forwarded: from then on exec only
 * waits for it, without a request to the fake that could hold its exit
 * back by up to REQUEST_TIMEOUT_MS each. */
static volatile sig_atomic_t stopping;

/* Forwards a signal to the command. A terminal's ^C or ^\ (si_code
 * SI_KERNEL) already reached the command, which shares our process group. */
static void forward_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    if (info && info->si_code == SI_KERNEL)
        return;
    if (child_pid > 0) {
        kill((pid_t)child_pid, sig);
        if (sig != SIGUSR1 && sig != SIGUSR2)
            stopping = 1;
    }
}

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define FORWARDED_COUNT (sizeof(forwarded_signals) / sizeof(forwarded_signals[0]))

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fake and what exec knows of its clock. */
struct follower {
    char url[1024];           /* no trailing slash */
    char auth[600];           /* "Authorization: Bearer TOKEN", or "" */
    struct hx_http_client *http;
    unsigned long long next;  /* the journal seq to ask for next */
    int64_t virtual_ms;       /* the fake's clock when last read ... */
    int64_t read_mono_ms;     /* ... at this monotonic instant */
    bool running;             /* not frozen */
};

static int64_t follower_now_ms(const struct follower *f)
{
    return f->virtual_ms + (f->running ? mono_ms() - f->read_mono_ms : 0);
}

/* GET url/path; *out is the parsed JSON object on 200. False with why set
 * otherwise. */
static bool admin_get(struct follower *f, const char *path, json_t **out, char *why, size_t size)
{
    char url[1400];
    snprintf(url, sizeof(url), "%s%s", f->url, path);
    const char *headers[] = {f->auth[0] ? f->auth : NULL, NULL};
    struct hx_http_response resp;
    *out = NULL;
    bool got = hx_http_request(f->http, "GET", url, headers, NULL, 0, REQUEST_TIMEOUT_MS, &resp);
    if (!got)
        snprintf(why, size, "%s", resp.error[0] ? resp.error : "no answer");
    else if (resp.status == 401)
        snprintf(why, size, "it wants the admin token (--admin-token or $FAKEIDP_ADMIN_TOKEN)");
    else if (resp.status != 200)
        snprintf(why, size, "GET %s answered %ld: is this a fakeidp?", path, resp.status);
    else if (!(*out = json_loadb(resp.body, resp.body_len, 0, NULL)) || !json_is_object(*out))
        snprintf(why, size, "GET %s did not answer a JSON object: is this a fakeidp?", path);
    bool ok = *out && json_is_object(*out);
    if (!ok) {
        json_decref(*out);
        *out = NULL;
    }
    hx_http_response_cleanup(&resp);
    return ok;
}

static bool read_clock(struct follower *f, char *why, size_t size)
{
    json_t *clock;
    if (!admin_get(f, "/_fakeidp/clock", &clock, why, size))
        return false;
    json_t *now = json_object_get(clock, "now_ms");
    bool ok = json_is_integer(now);
    if (ok) {
        f->virtual_ms = json_integer_value(now);
        f->read_mono_ms = mono_ms();
        f->running = !json_is_true(json_object_get(clock, "frozen"));
    } else {
        snprintf(why, size, "GET /_fakeidp/clock has no now_ms: is this a fakeidp?");
    }
    json_decref(clock);
    return ok;
}

/* Reads the journal since f->next. *changed: the clock may have changed
 * (a POST to /_fakeidp/clock, a reset or restart, entries missed). False
 * when the fake did not answer. */
static bool poll_journal(struct follower *f, bool *changed, char *why, size_t size)
{
    char path[96];
    snprintf(path, sizeof(path), "/_fakeidp/journal?since=%llu", f->next);
    json_t *journal;
    if (!admin_get(f, path, &journal, why, size))
        return false;
    json_t *next = json_object_get(journal, "next");
    json_t *entries = json_object_get(journal, "entries");
    unsigned long long next_seq = json_is_integer(next) ? (unsigned long long)json_integer_value(next) : 0;
    if (next_seq < f->next)
        *changed = true; /* reset, or another fake on this URL */
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(e, "seq"));
        if (i == 0 && seq > f->next)
            *changed = true; /* entries left the ring before we saw them */
        const char *method = json_string_value(json_object_get(e, "method"));
        const char *epath = json_string_value(json_object_get(e, "path"));
        if (method && epath && strcmp(method, "POST") == 0 &&
            strncmp(epath, "/_fakeidp/clock", 15) == 0)
            *changed = true;
    }
    if (json_array_size(entries) == 0 && next_seq > f->next)
        *changed = true; /* cleared before we saw them */
    f->next = next_seq;
    json_decref(journal);
    return true;
}

/* Moves the command's clock to the fake's, saying so when a ticking clock
 * cannot follow the fake back. */
static void follow(struct follower *f, struct hx_faketime *ft)
{
    int64_t now = follower_now_ms(f);
    if (ft->mode == HX_CLOCK_TICKING && ft->have_offset) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double wanted = (double)now / 1000.0 - ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
        if (wanted < ft->offset_s - 1.0)
            fprintf(stderr, "fakeidp exec: the fake's clock went back; a ticking clock never "
                            "does (--clock frozen follows it back)\n");
    }
    if (!hx_faketime_set(ft, now, ft->mode == HX_CLOCK_FROZEN))
        fprintf(stderr, "fakeidp exec: cannot write %s: %s\n", ft->rc_path, strerror(errno));
}

/* Tells whoever reads the journal that the command's clock now reflects
 * every entry before f->next (see the top of this file). */
static void acknowledge(struct follower *f)
{
    char url[1100], id[120];
    snprintf(url, sizeof(url), "%s/_fakeidp/health", f->url);
    snprintf(id, sizeof(id), "X-Request-ID: fakeidp-exec-%ld-%llu", (long)getpid(), f->next);
    const char *headers[] = {id, f->auth[0] ? f->auth : NULL, NULL};
    struct hx_http_response resp;
    hx_http_request(f->http, "GET", url, headers, NULL, 0, REQUEST_TIMEOUT_MS, &resp);
    hx_http_response_cleanup(&resp);
}

/* Replaces this process's environment by vars (an object of strings). */
static bool set_environment(const json_t *vars)
{
    if (clearenv() != 0)
        return false;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)vars, name, value)
        if (setenv(name, json_string_value(value), 1) != 0)
            return false;
    return true;
}

/* The command's environment: ours, the fake's variables, libfaketime's. */
static json_t *command_environment(const char *url, const char *config_path, const char *redirect,
                                   const struct hx_faketime *ft)
{
    json_t *fake = json_object();
    if (!fake || cli_env_vars("fakeidp exec", url, config_path,
                              redirect ? redirect : "http://localhost:3000/callback", fake)) {
        json_decref(fake);
        return NULL;
    }
    json_t *vars = json_object();
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || eq == *e)
            continue;
        char *name = strndup(*e, (size_t)(eq - *e));
        if (name)
            json_object_set_new(vars, name, json_string(eq + 1));
        free(name);
    }
    static const char *const if_unset[] = {"WORKOS_REDIRECT_URI", "NEXT_PUBLIC_WORKOS_REDIRECT_URI",
                                           "WORKOS_COOKIE_PASSWORD", NULL};
    const char *name;
    json_t *value;
    json_object_foreach(fake, name, value) {
        bool keep_inherited = false;
        for (int i = 0; if_unset[i]; i++)
            if (strcmp(name, if_unset[i]) == 0) {
                const char *old = json_string_value(json_object_get(vars, name));
                keep_inherited = old && old[0] && !(redirect && strstr(name, "REDIRECT_URI"));
            }
        if (!keep_inherited)
            json_object_set(vars, name, value);
    }
    json_decref(fake);
    json_object_set_new(vars, "FAKEIDP_URL", json_string(url));
    hx_faketime_env(ft, vars);
    hx_faketime_preload(ft, vars);
    return vars;
}

/* Starts argv with signals blocked around the fork, so that none sent in
 * between is lost. Returns the pid, or -1. */
static pid_t start_command(char **argv)
{
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaddset(&block, forwarded_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < FORWARDED_COUNT; i++)
            signal(forwarded_signals[i], SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* exec killed: the command goes too */
        if (getppid() != parent)
            _exit(127);
        execvp(argv[0], argv);
        int e = errno;
        fprintf(stderr, "fakeidp exec: cannot run '%s': %s\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    if (pid > 0)
        child_pid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return pid;
}

/* What the command line asks for. */
struct exec_command {
    const char *url, *clock_given, *config_path, *redirect, *token;
    char **command;
    enum hx_clock_mode mode; /* --clock, or frozen until the fake's clock is read */
};

/* Reads the options into cmd and checks them. Returns -1 to go on, else the
 * exit status (0 after --help, 2 a usage error). */
static int parse_exec_options(int argc, char **argv, struct exec_command *cmd)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"clock", required_argument, NULL, 'k'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"redirect-uri", required_argument, NULL, 'r'},
                                             {"admin-token", required_argument, NULL, 'A'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    *cmd = (struct exec_command){.url = "http://127.0.0.1:8787",
                                 .token = getenv("FAKEIDP_ADMIN_TOKEN"), .mode = HX_CLOCK_FROZEN};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': cmd->url = optarg ? optarg : cmd->url; break;
        case 'k': cmd->clock_given = optarg; break;
        case 'c': cmd->config_path = optarg; break;
        case 'r': cmd->redirect = optarg; break;
        case 'A': cmd->token = optarg; break;
        case 'h': exec_usage(stdout); return 0;
        default: exec_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "fakeidp exec: no command given (fakeidp exec [options] -- COMMAND...)\n");
        return 2;
    }
    cmd->command = argv + optind;
    const char *clock_given = cmd->clock_given;
    if (clock_given && strcmp(clock_given, "frozen") != 0) {
        if (strcmp(clock_given, "ticking") == 0)
            cmd->mode = HX_CLOCK_TICKING;
        else if (strcmp(clock_given, "off") == 0)
            cmd->mode = HX_CLOCK_OFF;
        else {
            fprintf(stderr, "fakeidp exec: --clock is frozen, ticking or off, got '%s'\n", clock_given);
            return 2;
        }
    }
    struct hx_url parsed;
    if (!hx_url_parse(cmd->url, &parsed)) {
        fprintf(stderr, "fakeidp exec: --url must be an http:// or https:// URL, got '%s'\n", cmd->url);
        return 2;
    }
    if (cmd->token && strlen(cmd->token) > 512) {
        fprintf(stderr, "fakeidp exec: the admin token is longer than 512 bytes\n");
        return 2;
    }
    return -1;
}

/* The fake's URL (without trailing slashes) and admin token into f.
 * Returns -1 to go on, or 2 (a usage error). */
static int follower_init(struct follower *f, const struct exec_command *cmd)
{
    *f = (struct follower){0};
    size_t url_len = strlen(cmd->url);
    while (url_len && cmd->url[url_len - 1] == '/')
        url_len--;
    if (url_len >= sizeof(f->url)) {
        fprintf(stderr, "fakeidp exec: --url is longer than %zu bytes\n", sizeof(f->url) - 1);
        return 2;
    }
    snprintf(f->url, sizeof(f->url), "%.*s", (int)url_len, cmd->url);
    if (cmd->token && cmd->token[0])
        snprintf(f->auth, sizeof(f->auth), "Authorization: Bearer %s", cmd->token);
    return -1;
}

/* The fake must answer before anything starts: reads its clock and where
 * its journal is. No connection of ours is left for the command to
 * inherit. False when it cannot be reached (said on stderr). */
static bool reach_fake(struct follower *f)
{
    char why[400];
    json_t *journal = NULL;
    f->http = hx_http_client_new();
    if (!f->http) {
        fprintf(stderr, "fakeidp exec: out of memory\n");
        return false;
    }
    if (!read_clock(f, why, sizeof(why)) ||
        !admin_get(f, "/_fakeidp/journal?since=9223372036854775807", &journal, why, sizeof(why))) {
        fprintf(stderr, "fakeidp exec: cannot reach the fake at %s: %s (start one with 'fakeidp "
                        "serve', or give --url)\n", f->url, why);
        hx_http_client_free(&f->http);
        return false;
    }
    f->next = (unsigned long long)json_integer_value(json_object_get(journal, "next"));
    json_decref(journal);
    hx_http_client_free(&f->http);
    return true;
}

/* Until the command pid exits: polls the fake's journal every POLL_MS and
 * moves the command's clock after the fake's. Returns the command's wait
 * status. */
static int follow_until_exit(struct follower *f, struct hx_faketime *ft, pid_t pid,
                             enum hx_clock_mode mode)
{
    char why[400];
    f->http = hx_http_client_new();
    bool lost = false;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        struct timespec pause = {.tv_sec = 0, .tv_nsec = POLL_MS * 1000000L};
        nanosleep(&pause, NULL);
        if (stopping)
            continue;
        bool changed = false;
        if (!f->http || !poll_journal(f, &changed, why, sizeof(why))) {
            if (!lost)
                fprintf(stderr, "fakeidp exec: lost the fake at %s (%s); the command's clock "
                                "stays where it is until it answers again\n", f->url, why);
            lost = true;
            continue;
        }
        if (lost) {
            fprintf(stderr, "fakeidp exec: the fake at %s answers again\n", f->url);
            lost = false;
            changed = true;
        }
        if (changed && read_clock(f, why, sizeof(why))) {
            follow(f, ft);
            acknowledge(f);
        } else if (mode == HX_CLOCK_FROZEN && f->running)
            follow(f, ft); /* a running fake: the frozen file moves with it */
    }
    hx_http_client_free(&f->http);
    return status;
}

int cli_exec(int argc, char **argv)
{
    struct exec_command cmd;
    struct follower f;
    int usage = parse_exec_options(argc, argv, &cmd);
    if (usage >= 0 || (usage = follower_init(&f, &cmd)) >= 0)
        return usage;
    enum hx_clock_mode mode = cmd.mode;
    char lib[PATH_MAX] = "";
    if (mode != HX_CLOCK_OFF && !hx_faketime_find_lib(lib, sizeof(lib))) {
        fprintf(stderr, "fakeidp exec: libfaketime not found (apt-get install libfaketime, or set "
                        "FAKEIDP_LIBFAKETIME to libfaketime.so.1); --clock off runs the command on "
                        "the real clock\n");
        return 3;
    }
    if (!reach_fake(&f))
        return 3;
    if (!cmd.clock_given)
        mode = f.running ? HX_CLOCK_TICKING : HX_CLOCK_FROZEN;

    struct hx_faketime ft;
    hx_faketime_sweep(); /* what a killed run or exec left behind */
    if (!hx_faketime_open(&ft, mode, lib, follower_now_ms(&f))) {
        fprintf(stderr, "fakeidp exec: cannot create the faketime file: %s\n", strerror(errno));
        return 3;
    }
    json_t *vars = command_environment(f.url, cmd.config_path, cmd.redirect, &ft);
    if (!vars) {
        hx_faketime_close(&ft);
        return 2;
    }
    bool env_ok = set_environment(vars);
    json_decref(vars);
    if (!env_ok) {
        fprintf(stderr, "fakeidp exec: cannot set the environment: %s\n", strerror(errno));
        hx_faketime_close(&ft);
        return 3;
    }

    struct sigaction sa = {0};
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        sigaction(forwarded_signals[i], &sa, NULL);
    pid_t pid = start_command(cmd.command);
    if (pid < 0) {
        fprintf(stderr, "fakeidp exec: fork: %s\n", strerror(errno));
        hx_faketime_close(&ft);
        return 3;
    }

    hx_faketime_set_pid(&ft, pid);
    int status = follow_until_exit(&f, &ft, pid, mode);
    child_pid = 0;
    hx_faketime_close(&ft);
    if (mode != HX_CLOCK_OFF)
        hx_faketime_forget_process(pid);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 1;
}
