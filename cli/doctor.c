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

int cli_doctor(int argc, char **argv)
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
    const char *url = NULL, *start_cmd = NULL, *cwd = NULL, *ready = NULL, *ready_timeout = NULL;
    const char *idp_url = NULL, *protected_path = NULL, *signed_text = NULL, *signed_field = NULL;
    const char *login = NULL, *api = NULL, *logout = NULL, *cookie = NULL, *config_path = NULL;
    const char *only = NULL, *out_dir = NULL, *junit = NULL, *json_path = NULL;
    bool reference = false, verbose = false;
    int64_t timeout_ms = 120000;
    unsigned long long seed = 1;
    int status = 2, c;
    json_t *env = json_object(), *knobs = json_object(), *config = NULL, *start = NULL;
    EVP_PKEY *key = NULL;
    struct idp_server *server = NULL;
    struct dr_plan plan = {0};
    struct hx_results results = {0};
    bool ran = false;
    optind = 1;
    while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'S': start_cmd = optarg; break;
        case 'C': cwd = optarg; break;
        case 'R': ready = optarg; break;
        case 'W': ready_timeout = optarg; break;
        case 'E':
        case 'k':
            if (!add_pair(c == 'E' ? env : knobs, c == 'E' ? "--env" : "--knob", optarg))
                goto out;
            break;
        case 'I': idp_url = optarg; break;
        case 'p': protected_path = optarg; break;
        case 'x': signed_text = optarg; break;
        case 'F': signed_field = optarg; break;
        case 'l': login = optarg; break;
        case 'a': api = optarg; break;
        case 'L': logout = optarg; break;
        case 'c': cookie = optarg; break;
        case 'f': config_path = optarg; break;
        case 'r': reference = true; break;
        case 'o': only = optarg; break;
        case 'Z': list_probes(stdout); status = 0; goto out;
        case 'O': out_dir = optarg; break;
        case 'T':
            if (!idp_duration_parse(optarg, &timeout_ms) || timeout_ms < 1000) {
                fprintf(stderr, "fakeidp doctor: --timeout takes a duration of at least 1s\n");
                goto out;
            }
            break;
        case 's':
            if (!cli_parse_seed("doctor", optarg, &seed))
                goto out;
            break;
        case 'J': junit = optarg; break;
        case 'j': json_path = optarg; break;
        case 'v': verbose = true; break;
        case 'h': doctor_usage(stdout); status = 0; goto out;
        default: doctor_usage(stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fakeidp doctor: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    char here[PATH_MAX], config_dir[PATH_MAX];
    if (!getcwd(here, sizeof(here)))
        snprintf(here, sizeof(here), ".");
    snprintf(config_dir, sizeof(config_dir), "%s", here);
    config = config_path ? cli_load_json_file(config_path) : json_object();
    if (!config || (config_path && !check_config(config_path, config)))
        goto out;
    if (config_path) {
        char real[PATH_MAX];
        if (realpath(config_path, real)) {
            char *slash = strrchr(real, '/');
            if (slash)
                *slash = '\0';
            snprintf(config_dir, sizeof(config_dir), "%s", real[0] ? real : "/");
        }
    }
    reference = reference || json_is_true(json_object_get(config, "reference"));
    json_t *file_knobs = json_object_get(config, "knobs");
    if (file_knobs) {
        json_t *merged = json_deep_copy(file_knobs);
        json_object_update(merged, knobs);
        json_decref(knobs);
        knobs = merged;
    }
    /* The start block: the file's, with the flags on top. */
    const json_t *file_start = json_object_get(config, "start");
    const char *start_base = here;
    if (file_start) {
        start = json_deep_copy(file_start);
        start_base = config_dir;
    } else if (start_cmd) {
        start = json_object();
    }
    if (start) {
        if (start_cmd)
            json_object_set_new(start, "command", json_string(start_cmd));
        if (cwd) {
            json_object_set_new(start, "cwd", json_string(cwd));
            start_base = here;
        }
        if (ready)
            json_object_set_new(start, "ready", json_string(ready));
        if (ready_timeout)
            json_object_set_new(start, "ready_timeout", json_string(ready_timeout));
        if (json_object_size(env)) {
            json_t *e = json_object_get(start, "env");
            if (!json_is_object(e))
                json_object_set_new(start, "env", e = json_object());
            json_object_update(e, env);
        }
        struct idp_error err;
        if (hx_external_validate(start, &err) != IDP_OK) {
            fprintf(stderr, "fakeidp doctor: start: %s\n", err.message);
            goto out;
        }
        if (!absolute_cwd(start, start_base))
            goto out;
    } else if (cwd || ready || ready_timeout || json_object_size(env)) {
        fprintf(stderr, "fakeidp doctor: --cwd, --ready, --ready-timeout and --env need --start\n");
        goto out;
    }
    struct dr_app app = {
        .reference = reference,
        .knobs = json_object_size(knobs) ? knobs : NULL,
        .url = str(config, "url", url),
        .idp_url = str(config, "idp_url", idp_url),
        .protected_path = str(config, "protected_path", protected_path),
        .login_path = str(config, "login_path", login),
        .signed_in_text = str(config, "signed_in_text", signed_text),
        .signed_in_field = str(config, "signed_in_field", signed_field),
        .api_path = str(config, "api_path", api),
        .logout_path = str(config, "logout_path", logout),
        .cookie = str(config, "session_cookie", cookie),
        .start = start,
    };
    if (reference && (app.url || start || app.idp_url)) {
        fprintf(stderr, "fakeidp doctor: --reference checks the embedded app: no --url, --start or --idp-url\n");
        goto out;
    }
    if (!reference && json_object_size(knobs)) {
        fprintf(stderr, "fakeidp doctor: --knob applies to --reference only\n");
        goto out;
    }
    if (!reference && !app.url) {
        fprintf(stderr, "fakeidp doctor: say where the app is: --url URL (or --reference)\n\n");
        doctor_usage(stderr);
        goto out;
    }
    if (!reference && strncmp(app.url, "http://", 7) != 0 && strncmp(app.url, "https://", 8) != 0) {
        fprintf(stderr, "fakeidp doctor: --url takes an http:// or https:// URL, got '%s'\n", app.url);
        goto out;
    }
    if (!reference && !app.idp_url && !start) {
        fprintf(stderr, "fakeidp doctor: an app you started yourself talks to a fake you started: give\n"
                        "its --idp-url (and run the app under `fakeidp exec` so that it follows the\n"
                        "fake's clock, with --clock frozen), or give --start and doctor starts both\n");
        goto out;
    }
    if (app.signed_in_text && app.signed_in_field) {
        fprintf(stderr, "fakeidp doctor: give --signed-in-text or --signed-in-field, not both\n");
        goto out;
    }

    struct idp_error err;
    char cache[1024];
    idp_default_key_cache_path(cache, sizeof(cache));
    key = idp_pem_load_or_generate(cache, &err);
    if (!key) {
        fprintf(stderr, "fakeidp doctor: %s\n", err.message);
        status = 3;
        goto out;
    }
    char rotation_dir[1024];
    snprintf(rotation_dir, sizeof(rotation_dir), "%s", cache);
    char *slash = strrchr(rotation_dir, '/');
    if (slash)
        *slash = '\0';
    if (!reference && !app.idp_url) {
        struct idp_server_options so = {.host = "127.0.0.1", .port = 0, .key = key, .seed = seed,
                                        .rotation_key_dir = slash ? rotation_dir : NULL};
        server = idp_server_start(&so, &err);
        if (!server) {
            fprintf(stderr, "fakeidp doctor: could not start a fake: %s\n", err.message);
            status = 3;
            goto out;
        }
        app.idp_url = idp_server_url(server);
        app.idp_url_written = "${FAKEIDP_URL}";
        setenv("FAKEIDP_URL", app.idp_url, 1);
    }

    char dir[PATH_MAX];
    if (out_dir) {
        snprintf(dir, sizeof(dir), "%s", out_dir);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/fakeidp-doctor-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "fakeidp doctor: cannot create a folder in %s: %s\n", tmp ? tmp : "/tmp",
                    strerror(errno));
            goto out;
        }
    }
    char error[1200];
    if (!dr_plan_build(&plan, &app, only, dir, error, sizeof(error))) {
        fprintf(stderr, "fakeidp doctor: %s\n", error);
        goto out;
    }
    if (reference)
        printf("fakeidp doctor: the embedded reference app");
    else
        printf("fakeidp doctor: %s%s%s%s, fakeidp at %s", app.url, start ? " (started with: " : "",
               start ? json_string_value(json_object_get(start, "command")) : "", start ? ")" : "",
               app.idp_url);
    printf("\n%zu probes, scenario files in %s\n", plan.count, plan.dir);
    if (!reference && !start)
        printf("note: without --start the app keeps running across probes: it must follow the fake's\n"
               "clock under `fakeidp exec --clock frozen`, and its caches (a JWKS and its refetch\n"
               "cooldown) outlive each probe while the clock goes back to the same instant for the\n"
               "next one, which can make jwks-rotation and clock-skew look vulnerable; --start\n"
               "gives every probe a fresh app\n");
    fflush(stdout);

    struct hx_runner_options opt = {
        .jobs = reference ? (int)sysconf(_SC_NPROCESSORS_ONLN) : 1, .repeat = 1, .seed = seed,
        .timeout_ms = timeout_ms, .key = key, .rotation_key_dir = slash ? rotation_dir : NULL,
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
    dr_plan_judge(&plan, &results);
    dr_plan_print(&plan, &app, stdout, verbose);
    status = dr_plan_status(&plan);
    if (status == 3)
        fprintf(stderr, "fakeidp doctor: could not run: %s\n",
                results.broken ? "the fake or the app could not be reached or started (see above)"
                               : "the baseline sign-in did not work; check --login, --protected and "
                                 "--signed-in-text (run with -v for the timeline)");
    if (junit && !hx_report_junit(&results, junit, NULL)) {
        fprintf(stderr, "fakeidp doctor: cannot write %s\n", junit);
        status = 2;
    }
    if (json_path) {
        json_t *doc = NULL;
        if (hx_report_json(&results, json_path) && (doc = json_load_file(json_path, 0, NULL))) {
            json_object_set_new(doc, "doctor", dr_plan_json(&plan));
            if (json_dump_file(doc, json_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
                json_decref(doc);
                doc = NULL;
            }
        }
        if (!doc) {
            fprintf(stderr, "fakeidp doctor: cannot write %s\n", json_path);
            status = 2;
        }
        json_decref(doc);
    }
out:
    if (ran)
        hx_results_cleanup(&results);
    dr_plan_free(&plan);
    idp_server_stop(&server);
    EVP_PKEY_free(key);
    json_decref(config);
    json_decref(start);
    json_decref(env);
    json_decref(knobs);
    return status;
}
