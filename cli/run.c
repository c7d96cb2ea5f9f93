/* fakeidp run / fakeidp lint: load scenario files (or folders of them), run
 * their variants against the embedded reference app (or an external target),
 * report. Exit status: 0 every expectation held, 1 one failed, 2 a usage or
 * scenario-file error, 3 the run could not be carried out. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "keys.h"
#include "duration.h"
#include "guard.h"
#include "runner.h"
#include "shard.h"

static void run_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp run [options] PATH...\n\n"
            "Runs scenario files (PATH may be a folder: every *.json in it, recursively).\n"
            "Each variant starts from a fresh fakeidp and reference app: every worker keeps\n"
            "one pair on ephemeral ports and resets it between variants.\n\n"
            "options:\n"
            "  -j, --jobs N        variants run in parallel (default: the core count)\n"
            "  --filter TEXT       only variants whose \"scenario/variant\" contains TEXT\n"
            "  --tag TAG           only scenarios tagged TAG\n"
            "  --seed N            seed for ids, tokens and probabilistic faults (default: random)\n"
            "  --repeat N          run each variant N times (exposes flakiness)\n"
            "  --shard I/N         run the I-th of N shards (1-based), for CI; 'auto': from the\n"
            "                      CI's parallel-job variables (GitLab, CircleCI, Buildkite)\n"
            "  --shard-timings FILE  balance the shards by the durations in FILE, a previous\n"
            "                      --json report (missing variants count as the median)\n"
            "  --timeout DURATION  per variant, wall clock (default 60s)\n"
            "  --fresh-worlds      start a new fakeidp and app for every variant instead of\n"
            "                      resetting the worker's pair (slower; the same results)\n"
            "  --junit FILE        write a JUnit XML report\n"
            "  --json FILE         write the full results as JSON\n"
            "  --html FILE         write a self-contained HTML report (swimlane diagrams)\n"
            "  --tap               print TAP instead of the console report\n"
            "  --key PEM           signing key (default: the cached test key)\n"
            "  --browser ENGINE    run browser steps in ENGINE: model (the C browser model) or\n"
            "                      chromium (headless Chromium at /usr/bin/chromium or $CHROMIUM,\n"
            "                      driven by node and puppeteer-core, installed on first use);\n"
            "                      default: each scenario's browser.engine, else model\n"
            "  -v, --verbose       print every variant's timeline\n"
            "  -h, --help          this help\n\n"
            "exit status: 0 all expectations held, 1 an expectation failed, 2 usage or file error,\n"
            "             3 the run could not be carried out (a fake or app unreachable or not starting),\n"
            "             128+N stopped by signal N (SIGINT, SIGTERM, SIGHUP: the apps it started are\n"
            "             stopped and their files removed first)\n");
}

static void lint_usage(FILE *out)
{
    fprintf(out, "usage: fakeidp lint PATH...\n\n"
                 "Checks scenario files without running them; errors are file:line:col: message.\n"
                 "exit status: 0 all valid, 2 an error\n");
}

struct file_list {
    char **paths;
    size_t count, capacity;
};

static void add_path(struct file_list *list, const char *path)
{
    if (list->count == list->capacity) {
        size_t cap = list->capacity ? list->capacity * 2 : 32;
        char **grown = realloc(list->paths, cap * sizeof(*grown));
        if (!grown)
            return;
        list->paths = grown;
        list->capacity = cap;
    }
    list->paths[list->count++] = strdup(path);
}

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects *.json under a folder (sorted), or the file itself. */
static bool collect(struct file_list *list, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: no such file or folder\n", path);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        add_path(list, path);
        return true;
    }
    if (depth > 8)
        return true;
    DIR *dir = opendir(path);
    if (!dir)
        return false;
    struct dirent *d;
    struct file_list here = {0};
    while ((d = readdir(dir))) {
        if (d->d_name[0] == '.' || strcmp(d->d_name, "node_modules") == 0)
            continue;
        char child[4096];
        size_t plen = strlen(path);
        while (plen > 1 && path[plen - 1] == '/')
            plen--; /* "scenarios/" names the same folder as "scenarios" */
        snprintf(child, sizeof(child), "%.*s/%s", (int)plen, path, d->d_name);
        size_t len = strlen(d->d_name);
        struct stat cs;
        if (stat(child, &cs) == 0 && (S_ISDIR(cs.st_mode) ||
                                      (len > 5 && strcmp(d->d_name + len - 5, ".json") == 0 &&
                                       strcmp(d->d_name, "schema.json") != 0 &&
                                       strcmp(d->d_name, "package.json") != 0 &&
                                       strcmp(d->d_name, "package-lock.json") != 0)))
            add_path(&here, child);
    }
    closedir(dir);
    if (here.count)
        qsort(here.paths, here.count, sizeof(char *), compare);
    bool ok = true;
    for (size_t i = 0; i < here.count; i++) {
        ok = collect(list, here.paths[i], depth + 1) && ok;
        free(here.paths[i]);
    }
    free(here.paths);
    return ok;
}

/* Loads every file; prints each error; returns the number of errors. */
static size_t load_all(const struct file_list *files, struct hx_scenario ***out, size_t *count)
{
    size_t errors = 0;
    *out = calloc(files->count ? files->count : 1, sizeof(struct hx_scenario *));
    *count = 0;
    for (size_t i = 0; *out && i < files->count; i++) {
        struct idp_error err;
        json_t *messages = json_array();
        struct hx_scenario *sc = hx_scenario_load(files->paths[i], &err, messages);
        if (!sc) {
            char text[1200];
            idp_error_format(&err, text, sizeof(text));
            size_t m;
            json_t *message;
            json_array_foreach(messages, m, message)
                fprintf(stderr, "%s\n", json_string_value(message));
            if (!json_array_size(messages))
                fprintf(stderr, "%s\n", text);
            errors += json_array_size(messages) ? json_array_size(messages) : 1;
        }
        json_decref(messages);
        if (!sc)
            continue;
        (*out)[(*count)++] = sc;
    }
    return errors;
}

static void free_all(struct file_list *files, struct hx_scenario **scenarios, size_t count)
{
    for (size_t i = 0; i < count; i++)
        hx_scenario_free(&scenarios[i]);
    free(scenarios);
    for (size_t i = 0; i < files->count; i++)
        free(files->paths[i]);
    free(files->paths);
}

int cli_lint(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        lint_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    struct file_list files = {0};
    bool ok = true;
    for (int i = 1; i < argc; i++)
        ok = collect(&files, argv[i], 0) && ok;
    struct hx_scenario **scenarios;
    size_t count;
    size_t errors = load_all(&files, &scenarios, &count);
    size_t variants = 0;
    for (size_t i = 0; i < count; i++)
        variants += scenarios[i]->variant_count;
    if (ok && !errors)
        printf("%zu files, %zu variants: ok\n", count, variants);
    free_all(&files, scenarios, count);
    return ok && !errors ? 0 : 2;
}

/* What the command line asks for. */
struct run_command {
    struct hx_runner_options opt;
    const char *junit, *json_path, *html, *key_path, *timings_path;
    bool tap, verbose;
};

/* Reads the options into cmd; optind is then the first path. Returns -1
 * to go on, else the exit status (0 after --help, 2 a usage error). */
static int parse_run_options(int argc, char **argv, struct run_command *cmd)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},    {"filter", required_argument, NULL, 'f'},
        {"tag", required_argument, NULL, 't'},     {"seed", required_argument, NULL, 's'},
        {"repeat", required_argument, NULL, 'r'},  {"shard", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 'T'}, {"junit", required_argument, NULL, 'J'},
        {"json", required_argument, NULL, 'O'},    {"tap", no_argument, NULL, 'P'},
        {"key", required_argument, NULL, 'k'},     {"verbose", no_argument, NULL, 'v'},
        {"html", required_argument, NULL, 'H'},    {"browser", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},          {"shard-timings", required_argument, NULL, 'D'},
        {"fresh-worlds", no_argument, NULL, 'W'},
        {NULL, 0, NULL, 0}};
    struct hx_runner_options *opt = &cmd->opt;
    *cmd = (struct run_command){.opt = {.jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), .repeat = 1,
                                        .timeout_ms = 60000}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
        case 'r': {
            long long n;
            if (!cli_parse_number("run", c == 'j' ? "--jobs" : "--repeat", optarg, 1, 100000, &n))
                return 2;
            *(c == 'j' ? &opt->jobs : &opt->repeat) = (int)n;
            break;
        }
        case 'f': opt->filter = optarg; break;
        case 't': opt->tag = optarg; break;
        case 's': {
            unsigned long long seed;
            if (!cli_parse_seed("run", optarg, &seed))
                return 2;
            opt->seed = seed;
            break;
        }
        case 'S':
            if (strcmp(optarg, "auto") == 0) {
                char note[256], error[512];
                if (!hx_shard_auto(&opt->shard_index, &opt->shard_count, note, sizeof(note), error,
                                   sizeof(error))) {
                    fprintf(stderr, "fakeidp run: %s\n", error);
                    return 2;
                }
                fprintf(stderr, "fakeidp run: %s\n", note);
                break;
            }
            if (sscanf(optarg, "%d/%d", &opt->shard_index, &opt->shard_count) != 2 ||
                opt->shard_count < 1 || opt->shard_index < 1 || opt->shard_index > opt->shard_count) {
                fprintf(stderr, "fakeidp run: --shard takes I/N with 1 <= I <= N, or auto\n");
                return 2;
            }
            opt->shard_index--;
            break;
        case 'T':
            if (!idp_duration_parse(optarg, &opt->timeout_ms)) {
                fprintf(stderr, "fakeidp run: --timeout takes a duration such as 60s\n");
                return 2;
            }
            break;
        case 'D': cmd->timings_path = optarg; break;
        case 'J': cmd->junit = optarg; break;
        case 'O': cmd->json_path = optarg; break;
        case 'H': cmd->html = optarg; break;
        case 'B':
            if (strcmp(optarg, "model") && strcmp(optarg, "chromium")) {
                fprintf(stderr, "fakeidp run: --browser is model or chromium\n");
                return 2;
            }
            opt->browser_engine = optarg;
            break;
        case 'P': cmd->tap = true; break;
        case 'W': opt->fresh_worlds = true; break;
        case 'k': cmd->key_path = optarg; break;
        case 'v': cmd->verbose = true; break;
        case 'h': run_usage(stdout); return 0;
        default: run_usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        run_usage(stderr);
        return 2;
    }
    if (opt->jobs < 1 || opt->repeat < 1) {
        fprintf(stderr, "fakeidp run: --jobs and --repeat take numbers >= 1\n");
        return 2;
    }
    return -1;
}

/* Prints the console or TAP report, writes the report files, and returns
 * the exit status: 0 all held, 1 an expectation failed, 2 usage or scenario
 * error, 3 the run could not be carried out (CI tells infrastructure from
 * regressions). */
static int report_results(const struct run_command *cmd, const struct hx_results *results)
{
    if (cmd->tap)
        hx_report_tap(results, stdout);
    else
        hx_report_console(results, stdout, cmd->verbose);
    int status = results->failed ? 1 : 0;
    if (results->broken) {
        fprintf(stderr, "fakeidp run: %zu variant(s) could not be carried out (see above)\n",
                results->broken);
        status = 3;
    }
    if (results->error[0]) {
        fprintf(stderr, "fakeidp run: could not run: %s\n", results->error);
        status = 3;
    } else if (results->count == 0 && cmd->opt.shard_count > 1) {
        fprintf(stderr, "fakeidp run: shard %d/%d selects no variant: nothing to do\n",
                cmd->opt.shard_index + 1, cmd->opt.shard_count);
    } else if (results->count == 0) {
        fprintf(stderr, "fakeidp run: no variant matched the selection\n");
        status = 2;
    }
    if (cmd->junit && !hx_report_junit(results, cmd->junit, cmd->html)) {
        fprintf(stderr, "fakeidp run: cannot write %s\n", cmd->junit);
        status = 2;
    }
    if (cmd->json_path && !hx_report_json(results, cmd->json_path)) {
        fprintf(stderr, "fakeidp run: cannot write %s\n", cmd->json_path);
        status = 2;
    }
    if (cmd->html && !hx_report_html(results, cmd->html)) {
        fprintf(stderr, "fakeidp run: cannot write %s\n", cmd->html);
        status = 2;
    }
    return status;
}

int cli_run(int argc, char **argv)
{
    struct run_command cmd;
    int status = parse_run_options(argc, argv, &cmd);
    if (status >= 0)
        return status;
    struct hx_runner_options opt = cmd.opt;
    struct file_list files = {0};
    bool ok = true;
    for (int i = optind; i < argc; i++)
        ok = collect(&files, argv[i], 0) && ok;
    struct hx_scenario **scenarios;
    size_t count;
    size_t errors = load_all(&files, &scenarios, &count);
    if (!ok || errors || !count) {
        if (ok && !errors)
            fprintf(stderr, "fakeidp run: no scenario files found\n");
        free_all(&files, scenarios, count);
        return 2;
    }
    struct idp_error err;
    char cache[1024];
    idp_default_key_cache_path(cache, sizeof(cache));
    EVP_PKEY *key = cmd.key_path ? idp_pem_load(cmd.key_path, &err)
                                 : idp_pem_load_or_generate(cache, &err);
    if (!key) {
        fprintf(stderr, "fakeidp run: %s\n", err.message);
        free_all(&files, scenarios, count);
        return 2;
    }
    opt.key = key;
    json_t *timings = NULL;
    if (cmd.timings_path) {
        char error[1200];
        timings = hx_shard_timings_load(cmd.timings_path, error, sizeof(error));
        if (!timings) {
            fprintf(stderr, "fakeidp run: --shard-timings: %s\n", error);
            EVP_PKEY_free(key);
            free_all(&files, scenarios, count);
            return 2;
        }
        opt.shard_timings = timings;
    }
    char rotation_dir[1024];
    snprintf(rotation_dir, sizeof(rotation_dir), "%s", cache);
    char *slash = strrchr(rotation_dir, '/');
    if (slash) {
        *slash = '\0';
        opt.rotation_key_dir = rotation_dir;
    }
    opt.progress = isatty(STDERR_FILENO) && !cmd.tap ? stderr : NULL;
    struct hx_results results;
    /* The process-wide decisions are the command's: its signal handlers,
     * and adopting the orphans of the apps it starts (external.h). */
    hx_guard_handle_signals();
    opt.adopt_orphans = true;
    hx_runner_run(scenarios, count, &opt, &results);
    status = report_results(&cmd, &results);
    hx_results_cleanup(&results);
    json_decref(timings);
    EVP_PKEY_free(key);
    free_all(&files, scenarios, count);
    return status;
}
