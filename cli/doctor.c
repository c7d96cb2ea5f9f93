/* fakeidp doctor: a checkup of an app against the failure catalogue. Reads
 * what the user can say about the app (flags and/or a small JSON file),
 * writes one scenario file per failure family (harness/doctor), runs them
 * with the ordinary runner and prints a verdict per probe. Exit status: 0 no
 * vulnerability, 1 some, 2 usage error, 3 could not run. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "doctor.h"
#include "duration.h"
#include "external.h"
#include "keys.h"
#include "runner.h"
#include "server.h"

static void doctor_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp doctor --url URL [--start COMMAND] [options]\n"
            "       fakeidp doctor --config FILE [options]\n"
            "       fakeidp doctor --reference [--knob NAME=VALUE]... [options]\n"
            "       fakeidp doctor --list\n\n"
            "A checkup for \"my app logs me out\": runs a probe per known failure (parallel\n"
            "refreshes, IdP errors, cookie size and attributes, issuer, key rotation, clock\n"
            "skew, expiry, cookie password, revocation, session limits, forged tokens and\n"
            "cookies) against your app, with fakeidp playing WorkOS, and prints for each:\n"
            "vulnerable, not vulnerable, not applicable, could not tell or not run, with the\n"
            "evidence (what the browser sent, what the app logged, what the IdP saw), the fix\n"
            "and its source. Every probe is written as a scenario file (--out) that\n"
            "reproduces the finding with `fakeidp run`: it fails until the app is fixed.\n\n"
            "the app:\n"
            "  --url URL             where a browser reaches the app (http://localhost:3000)\n"
            "  --start COMMAND       how to start it (sh -c, in --cwd); the harness starts and\n"
            "                        stops it for every probe, on the fake's clock (libfaketime)\n"
            "                        with the WORKOS_* variables set. Without it, start the app\n"
            "                        yourself (under `fakeidp exec`) and give --idp-url\n"
            "  --cwd DIR             the app's folder (default: the current folder)\n"
            "  --ready PATH          polled until the app answers (default: URL)\n"
            "  --ready-timeout D     (default 30s)\n"
            "  --env NAME=VALUE      an extra variable for the app (repeatable)\n"
            "  --idp-url URL         the fake your app talks to (default: doctor starts its own\n"
            "                        on a free loopback port; needs --start)\n"
            "  --protected PATH      a page that needs a session (default /dashboard)\n"
            "  --signed-in-text T    text a signed-in page shows (default \"signed_in\":true)\n"
            "  --signed-in-field F   instead: a JSON dot path that is truthy when signed in\n"
            "  --login PATH          where sign-in starts (default /login)\n"
            "  --api PATH            a fetch() endpoint that needs the session (default:\n"
            "                        the protected page), for the parallel-request probes\n"
            "  --logout PATH         the sign-out URL (a GET); without it the sign-out probe\n"
            "                        is not run\n"
            "  --cookie NAME         the session cookie (default wos-session)\n"
            "  --config FILE         the same as JSON: {\"url\", \"start\": {\"command\", \"cwd\",\n"
            "                        \"env\", \"ready\", ...}, \"idp_url\", \"protected_path\",\n"
            "                        \"signed_in_text\", \"signed_in_field\", \"login_path\",\n"
            "                        \"api_path\", \"logout_path\", \"session_cookie\",\n"
            "                        \"reference\", \"knobs\"}; flags win over it\n"
            "  --reference           check the embedded reference app instead (no npm needed)\n"
            "  --knob NAME=VALUE     a reference-app knob (repeatable), e.g. dedupe=true\n\n"
            "the checkup:\n"
            "  --only LIST           families or family/probe, comma-separated\n"
            "  --list                print the probes and exit\n"
            "  --out DIR             where the scenario files go (default: a new folder in\n"
            "                        $TMPDIR, printed)\n"
            "  --timeout DURATION    per probe, wall clock (default 120s)\n"
            "  --seed N              (default 1)\n"
            "  --junit FILE          JUnit XML, one testcase per probe (as fakeidp run)\n"
            "  --json FILE           the run's JSON report (as fakeidp run) plus \"doctor\":\n"
            "                        the verdicts\n"
            "  -v, --verbose         every probe's evidence and whole timeline\n"
            "  -h, --help            this help\n\n"
            "exit status: 0 no vulnerability found, 1 some, 2 usage error, 3 could not run\n"
            "             (the fake or the app unreachable, or the baseline sign-in failed)\n");
}

static void list_probes(FILE *out)
{
    for (size_t f = 0; f < dr_family_count; f++) {
        const struct dr_family *fam = &dr_families[f];
        static const char *const kinds[] = {"", " [negative control]", " [security control]"};
        fprintf(out, "%s: %s (%s)%s\n", fam->id, fam->title, fam->failure_mode, kinds[fam->kind]);
        for (size_t i = 0; i < dr_probe_count; i++) {
            const struct dr_probe *p = &dr_probes[i];
            if (strcmp(p->family, fam->id) != 0)
                continue;
            fprintf(out, "  %s/%s: %s%s%s%s\n", p->family, p->name, p->how,
                    p->needs & DR_NEEDS_START ? " (needs --start)" : "",
                    p->needs & DR_NEEDS_LOGOUT ? " (needs --logout)" : "",
                    p->needs & DR_NEEDS_HTTP ? " (http only)" : "");
        }
    }
}

/* A knob or env value: JSON when it parses (true, 3, "x"), else a string. */
static json_t *loose_value(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v && !json_is_object(v) && !json_is_array(v) ? v : (json_decref(v), json_string(text));
}

static bool add_pair(json_t *obj, const char *option, const char *text)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text) {
        fprintf(stderr, "fakeidp doctor: %s takes NAME=VALUE, got '%s'\n", option, text);
        return false;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(eq - text), text);
    json_object_set_new(obj, name, strcmp(option, "--env") == 0 ? json_string(eq + 1) : loose_value(eq + 1));
    return true;
}

static const char *const config_keys[] = {"url", "idp_url", "start", "protected_path", "login_path",
                                          "signed_in_text", "signed_in_field", "api_path",
                                          "logout_path", "session_cookie", "reference", "knobs", NULL};

static bool check_config(const char *path, json_t *config)
{
    if (!json_is_object(config)) {
        fprintf(stderr, "%s: the doctor's configuration must be a JSON object\n", path);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(config, key, v) {
        bool known = false;
        for (size_t i = 0; config_keys[i]; i++)
            known = known || strcmp(key, config_keys[i]) == 0;
        if (!known) {
            fprintf(stderr, "%s: unknown key \"%s\" (known: url, idp_url, start, protected_path, "
                            "login_path, signed_in_text, signed_in_field, api_path, logout_path, "
                            "session_cookie, reference, knobs)\n", path, key);
            return false;
        }
        bool ok = strcmp(key, "start") == 0 || strcmp(key, "knobs") == 0 ? json_is_object(v)
                  : strcmp(key, "reference") == 0                        ? json_is_boolean(v)
                                                                         : json_is_string(v);
        if (!ok) {
            fprintf(stderr, "%s: \"%s\" must be %s\n", path, key,
                    strcmp(key, "reference") == 0 ? "a boolean"
                    : strcmp(key, "start") == 0 || strcmp(key, "knobs") == 0 ? "an object"
                                                                             : "a string");
            return false;
        }
    }
    return true;
}

static const char *str(const json_t *config, const char *key, const char *flag)
{
    return flag ? flag : json_string_value(json_object_get(config, key));
}

/* A start.cwd as an absolute path (relative: from base), so the written
 * files run from anywhere. */
static bool absolute_cwd(json_t *start, const char *base)
{
    const char *cwd = json_string_value(json_object_get(start, "cwd"));
    char joined[PATH_MAX + 8], real[PATH_MAX];
    if (cwd && cwd[0] == '/')
        snprintf(joined, sizeof(joined), "%s", cwd);
    else
        snprintf(joined, sizeof(joined), "%s/%s", base, cwd ? cwd : ".");
    if (!realpath(joined, real)) {
        fprintf(stderr, "fakeidp doctor: the app's folder %s: %s\n", joined, strerror(errno));
        return false;
    }
    json_object_set_new(start, "cwd", json_string(real));
    return true;
}

/* What the command line asks for. env and knobs (owned) are the --env and
 * --knob pairs; knobs gets the configuration file's underneath. */
struct doctor_command {
    const char *url, *start_cmd, *cwd, *ready, *ready_timeout, *idp_url, *protected_path;
    const char *signed_text, *signed_field, *login, *api, *logout, *cookie, *config_path;
    const char *only, *out_dir, *junit, *json_path;
    bool reference, verbose;
    int64_t timeout_ms;
    unsigned long long seed;
    json_t *env, *knobs;
};

/* Reads the options into cmd (whose env and knobs the caller frees,
 * whatever this returns). Returns -1 to go on, else the exit status (0
 * after --help or --list, 2 a usage error). */
static int parse_doctor_options(int argc, char **argv, struct doctor_command *cmd)
{
    static const struct option longopts[] = {
        {"url", required_argument, NULL, 'u'},          {"start", required_argument, NULL, 'S'},
        {"cwd", required_argument, NULL, 'C'},          {"ready", required_argument, NULL, 'R'},
        {"ready-timeout", required_argument, NULL, 'W'}, {"env", required_argument, NULL, 'E'},
        {"idp-url", required_argument, NULL, 'I'},      {"protected", required_argument, NULL, 'p'},
        {"signed-in-text", required_argument, NULL, 'x'}, {"signed-in-field", required_argument, NULL, 'F'},
        {"login", required_argument, NULL, 'l'},        {"api", required_argument, NULL, 'a'},
        {"logout", required_argument, NULL, 'L'},       {"cookie", required_argument, NULL, 'c'},
        {"config", required_argument, NULL, 'f'},       {"reference", no_argument, NULL, 'r'},
        {"knob", required_argument, NULL, 'k'},         {"only", required_argument, NULL, 'o'},
        {"list", no_argument, NULL, 'Z'},               {"out", required_argument, NULL, 'O'},
        {"timeout", required_argument, NULL, 'T'},      {"seed", required_argument, NULL, 's'},
        {"junit", required_argument, NULL, 'J'},        {"json", required_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},            {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': cmd->url = optarg; break;
        case 'S': cmd->start_cmd = optarg; break;
        case 'C': cmd->cwd = optarg; break;
        case 'R': cmd->ready = optarg; break;
        case 'W': cmd->ready_timeout = optarg; break;
        case 'E':
        case 'k':
            if (!add_pair(c == 'E' ? cmd->env : cmd->knobs, c == 'E' ? "--env" : "--knob", optarg))
                return 2;
            break;
        case 'I': cmd->idp_url = optarg; break;
        case 'p': cmd->protected_path = optarg; break;
        case 'x': cmd->signed_text = optarg; break;
        case 'F': cmd->signed_field = optarg; break;
        case 'l': cmd->login = optarg; break;
        case 'a': cmd->api = optarg; break;
        case 'L': cmd->logout = optarg; break;
        case 'c': cmd->cookie = optarg; break;
        case 'f': cmd->config_path = optarg; break;
        case 'r': cmd->reference = true; break;
        case 'o': cmd->only = optarg; break;
        case 'Z': list_probes(stdout); return 0;
        case 'O': cmd->out_dir = optarg; break;
        case 'T':
            if (!idp_duration_parse(optarg, &cmd->timeout_ms) || cmd->timeout_ms < 1000) {
                fprintf(stderr, "fakeidp doctor: --timeout takes a duration of at least 1s\n");
                return 2;
            }
            break;
        case 's':
            if (!cli_parse_seed("doctor", optarg, &cmd->seed))
                return 2;
            break;
        case 'J': cmd->junit = optarg; break;
        case 'j': cmd->json_path = optarg; break;
        case 'v': cmd->verbose = true; break;
        case 'h': doctor_usage(stdout); return 0;
        default: doctor_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fakeidp doctor: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* The doctor's configuration file (an empty one without --config), and
 * the folder relative paths in it are read from (config_dir: the file's,
 * else here). NULL when it cannot be read or is not valid (said on
 * stderr). */
static json_t *read_config(const struct doctor_command *cmd, const char *here, char *config_dir,
                           size_t size)
{
    snprintf(config_dir, size, "%s", here);
    json_t *config = cmd->config_path ? cli_load_json_file(cmd->config_path) : json_object();
    if (!config || (cmd->config_path && !check_config(cmd->config_path, config))) {
        json_decref(config);
        return NULL;
    }
    if (cmd->config_path) {
        char real[PATH_MAX];
        if (realpath(cmd->config_path, real)) {
            char *slash = strrchr(real, '/');
            if (slash)
                *slash = '\0';
            snprintf(config_dir, size, "%s", real[0] ? real : "/");
        }
    }
    return config;
}

/* The start block: the file's, with the flags on top (*out: NULL when the
 * harness does not start the app). False on an error (said on stderr). */
static bool make_start(const struct doctor_command *cmd, const json_t *config, const char *here,
                       const char *config_dir, json_t **out)
{
    const json_t *file_start = json_object_get(config, "start");
    const char *start_base = here;
    json_t *start = NULL;
    *out = NULL;
    if (file_start) {
        start = json_deep_copy(file_start);
        start_base = config_dir;
    } else if (cmd->start_cmd) {
        start = json_object();
    }
    if (!start) {
        if (cmd->cwd || cmd->ready || cmd->ready_timeout || json_object_size(cmd->env)) {
            fprintf(stderr, "fakeidp doctor: --cwd, --ready, --ready-timeout and --env need --start\n");
            return false;
        }
        return true;
    }
    if (cmd->start_cmd)
        json_object_set_new(start, "command", json_string(cmd->start_cmd));
    if (cmd->cwd) {
        json_object_set_new(start, "cwd", json_string(cmd->cwd));
        start_base = here;
    }
    if (cmd->ready)
        json_object_set_new(start, "ready", json_string(cmd->ready));
    if (cmd->ready_timeout)
        json_object_set_new(start, "ready_timeout", json_string(cmd->ready_timeout));
    if (json_object_size(cmd->env)) {
        json_t *e = json_object_get(start, "env");
        if (!json_is_object(e))
            json_object_set_new(start, "env", e = json_object());
        json_object_update(e, cmd->env);
    }
    struct idp_error err;
    if (hx_external_validate(start, &err) != IDP_OK) {
        fprintf(stderr, "fakeidp doctor: start: %s\n", err.message);
        json_decref(start);
        return false;
    }
    if (!absolute_cwd(start, start_base)) {
        json_decref(start);
        return false;
    }
    *out = start;
    return true;
}

/* The app to check, from the flags over the file (start borrowed), and
 * whether the combination makes sense. False with the reason on stderr. */
static bool app_from(const struct doctor_command *cmd, const json_t *config, json_t *start,
                     struct dr_app *app)
{
    bool reference = cmd->reference;
    *app = (struct dr_app){
        .reference = reference,
        .knobs = json_object_size(cmd->knobs) ? cmd->knobs : NULL,
        .url = str(config, "url", cmd->url),
        .idp_url = str(config, "idp_url", cmd->idp_url),
        .protected_path = str(config, "protected_path", cmd->protected_path),
        .login_path = str(config, "login_path", cmd->login),
        .signed_in_text = str(config, "signed_in_text", cmd->signed_text),
        .signed_in_field = str(config, "signed_in_field", cmd->signed_field),
        .api_path = str(config, "api_path", cmd->api),
        .logout_path = str(config, "logout_path", cmd->logout),
        .cookie = str(config, "session_cookie", cmd->cookie),
        .start = start,
    };
    if (reference && (app->url || start || app->idp_url)) {
        fprintf(stderr, "fakeidp doctor: --reference checks the embedded app: no --url, --start or --idp-url\n");
        return false;
    }
    if (!reference && json_object_size(cmd->knobs)) {
        fprintf(stderr, "fakeidp doctor: --knob applies to --reference only\n");
        return false;
    }
    if (!reference && !app->url) {
        fprintf(stderr, "fakeidp doctor: say where the app is: --url URL (or --reference)\n\n");
        doctor_usage(stderr);
        return false;
    }
    if (!reference && strncmp(app->url, "http://", 7) != 0 && strncmp(app->url, "https://", 8) != 0) {
        fprintf(stderr, "fakeidp doctor: --url takes an http:// or https:// URL, got '%s'\n", app->url);
        return false;
    }
    if (!reference && !app->idp_url && !start) {
        fprintf(stderr, "fakeidp doctor: an app you started yourself talks to a fake you started: give\n"
                        "its --idp-url (and run the app under `fakeidp exec` so that it follows the\n"
                        "fake's clock, with --clock frozen), or give --start and doctor starts both\n");
        return false;
    }
    if (app->signed_in_text && app->signed_in_field) {
        fprintf(stderr, "fakeidp doctor: give --signed-in-text or --signed-in-field, not both\n");
        return false;
    }
    return true;
}

/* The signing key, and a fake on a free loopback port when the app does
 * not name one (app->idp_url then points at it). rotation_dir: the folder
 * of the key cache; *cached: whether rotation keys are cached there.
 * Returns -1 to go on, else the exit status (3). */
static int start_fake(const struct doctor_command *cmd, struct dr_app *app, EVP_PKEY **key,
                      struct idp_server **server, char *rotation_dir, size_t size, bool *cached)
{
    struct idp_error err;
    char cache[1024];
    idp_default_key_cache_path(cache, sizeof(cache));
    *key = idp_pem_load_or_generate(cache, &err);
    if (!*key) {
        fprintf(stderr, "fakeidp doctor: %s\n", err.message);
        return 3;
    }
    snprintf(rotation_dir, size, "%s", cache);
    char *slash = strrchr(rotation_dir, '/');
    if (slash)
        *slash = '\0';
    *cached = slash != NULL;
    if (!cmd->reference && !app->idp_url) {
        struct idp_server_options so = {.host = "127.0.0.1", .port = 0, .key = *key,
                                        .seed = cmd->seed,
                                        .rotation_key_dir = slash ? rotation_dir : NULL};
        *server = idp_server_start(&so, &err);
        if (!*server) {
            fprintf(stderr, "fakeidp doctor: could not start a fake: %s\n", err.message);
            return 3;
        }
        app->idp_url = idp_server_url(*server);
        app->idp_url_written = "${FAKEIDP_URL}";
        setenv("FAKEIDP_URL", app->idp_url, 1);
    }
    return -1;
}

/* Where the scenario files go: --out, or a new folder in $TMPDIR. */
static bool out_folder(const char *out_dir, char *dir, size_t size)
{
    if (out_dir) {
        snprintf(dir, size, "%s", out_dir);
        return true;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/fakeidp-doctor-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fakeidp doctor: cannot create a folder in %s: %s\n", tmp ? tmp : "/tmp",
                strerror(errno));
        return false;
    }
    return true;
}

static void print_header(const struct dr_app *app, const struct dr_plan *plan)
{
    const json_t *start = app->start;
    if (app->reference)
        printf("fakeidp doctor: the embedded reference app");
    else
        printf("fakeidp doctor: %s%s%s%s, fakeidp at %s", app->url, start ? " (started with: " : "",
               start ? json_string_value(json_object_get(start, "command")) : "", start ? ")" : "",
               app->idp_url);
    printf("\n%zu probes, scenario files in %s\n", plan->count, plan->dir);
    if (!app->reference && !start)
        printf("note: without --start the app keeps running across probes: it must follow the fake's\n"
               "clock under `fakeidp exec --clock frozen`, and its caches (a JWKS and its refetch\n"
               "cooldown) outlive each probe while the clock goes back to the same instant for the\n"
               "next one, which can make jwks-rotation and clock-skew look vulnerable; --start\n"
               "gives every probe a fresh app\n");
    fflush(stdout);
}

/* The verdicts and the report files; returns the exit status. */
static int report_verdicts(const struct doctor_command *cmd, struct dr_plan *plan,
                           const struct dr_app *app, const struct hx_results *results)
{
    dr_plan_judge(plan, results);
    dr_plan_print(plan, app, stdout, cmd->verbose);
    int status = dr_plan_status(plan);
    if (status == 3)
        fprintf(stderr, "fakeidp doctor: could not run: %s\n",
                results->broken ? "the fake or the app could not be reached or started (see above)"
                                : "the baseline sign-in did not work; check --login, --protected and "
                                  "--signed-in-text (run with -v for the timeline)");
    if (cmd->junit && !hx_report_junit(results, cmd->junit, NULL)) {
        fprintf(stderr, "fakeidp doctor: cannot write %s\n", cmd->junit);
        status = 2;
    }
    if (cmd->json_path) {
        json_t *doc = NULL;
        if (hx_report_json(results, cmd->json_path) && (doc = json_load_file(cmd->json_path, 0, NULL))) {
            json_object_set_new(doc, "doctor", dr_plan_json(plan));
            if (json_dump_file(doc, cmd->json_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
                json_decref(doc);
                doc = NULL;
            }
        }
        if (!doc) {
            fprintf(stderr, "fakeidp doctor: cannot write %s\n", cmd->json_path);
            status = 2;
        }
        json_decref(doc);
    }
    return status;
}

int cli_doctor(int argc, char **argv)
{
    struct doctor_command cmd = {.timeout_ms = 120000, .seed = 1, .env = json_object(),
                                 .knobs = json_object()};
    json_t *config = NULL, *start = NULL;
    EVP_PKEY *key = NULL;
    struct idp_server *server = NULL;
    struct dr_plan plan = {0};
    struct hx_results results = {0};
    bool ran = false;
    int status = parse_doctor_options(argc, argv, &cmd);
    if (status >= 0)
        goto out;
    status = 2;
    char here[PATH_MAX], config_dir[PATH_MAX];
    if (!getcwd(here, sizeof(here)))
        snprintf(here, sizeof(here), ".");
    if (!(config = read_config(&cmd, here, config_dir, sizeof(config_dir))))
        goto out;
    cmd.reference = cmd.reference || json_is_true(json_object_get(config, "reference"));
    json_t *file_knobs = json_object_get(config, "knobs");
    if (file_knobs) {
        json_t *merged = json_deep_copy(file_knobs);
        json_object_update(merged, cmd.knobs);
        json_decref(cmd.knobs);
        cmd.knobs = merged;
    }
    struct dr_app app;
    if (!make_start(&cmd, config, here, config_dir, &start) || !app_from(&cmd, config, start, &app))
        goto out;
    char rotation_dir[1024];
    bool cached = false;
    if ((status = start_fake(&cmd, &app, &key, &server, rotation_dir, sizeof(rotation_dir),
                             &cached)) >= 0)
        goto out;
    status = 2;
    char dir[PATH_MAX], error[1200];
    if (!out_folder(cmd.out_dir, dir, sizeof(dir)))
        goto out;
    if (!dr_plan_build(&plan, &app, cmd.only, dir, error, sizeof(error))) {
        fprintf(stderr, "fakeidp doctor: %s\n", error);
        goto out;
    }
    print_header(&app, &plan);
    struct hx_runner_options opt = {
        .jobs = cmd.reference ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1, .repeat = 1,
        .seed = cmd.seed, .timeout_ms = cmd.timeout_ms, .key = key,
        .rotation_key_dir = cached ? rotation_dir : NULL,
        .progress = isatty(STDERR_FILENO) ? stderr : NULL,
        .adopt_orphans = true /* the command's decision: it reaps its apps' orphans (external.h) */};
    if (opt.jobs < 1)
        opt.jobs = 1;
    hx_runner_run(plan.scenarios, plan.scenario_count, &opt, &results);
    ran = true;
    if (results.error[0]) {
        fprintf(stderr, "fakeidp doctor: could not run: %s\n", results.error);
        status = 3;
        goto out;
    }
    status = report_verdicts(&cmd, &plan, &app, &results);
out:
    if (ran)
        hx_results_cleanup(&results);
    dr_plan_free(&plan);
    idp_server_stop(&server);
    EVP_PKEY_free(key);
    json_decref(config);
    json_decref(start);
    json_decref(cmd.env);
    json_decref(cmd.knobs);
    return status;
}
