/* The runner: expands scenario files into variant jobs, runs them on a pool
 * of threads (each with its own fakeidp, reference app, browser and virtual
 * clock, on ephemeral ports), and collects results for the reporters. */
#ifndef HX_RUNNER_H
#define HX_RUNNER_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

struct hx_runner_options {
    int jobs;               /* parallel variants; default: the core count */
    const char *filter;     /* substring of "scenario/variant" */
    const char *tag;        /* only scenarios with this tag */
    uint64_t seed;          /* 0: random; printed so a failure can be replayed */
    int repeat;             /* run each variant this many times */
    int shard_index, shard_count; /* run only the jobs of this shard (shard.h) */
    const json_t *shard_timings;  /* "scenario/variant" -> ms balances shards, or NULL */
    int64_t timeout_ms;     /* per variant, wall clock */
    EVP_PKEY *key;          /* signing key shared by every fakeidp (borrowed) */
    const char *rotation_key_dir; /* where rotation keys are cached, or NULL */
    FILE *progress;         /* progress lines while running, or NULL */
    const char *browser_engine; /* "model" or "chromium" for every variant, or NULL: each
                                   variant's browser.engine knob */
    bool fresh_worlds;      /* a new fakeidp and app for every variant (default: each
                               worker keeps one pair and resets it between variants) */
    uint64_t order_seed;    /* 0: jobs in file order; else a shuffle seeded with this */
    bool keep_journal;      /* each result keeps fakeidp's whole journal (tests) */
    bool adopt_orphans;     /* the process may become a child subreaper when it starts an
                               external app (hx_external_env.adopt_orphans): set by programs,
                               not by libraries or tests that share their process */
};

struct hx_result {
    const struct hx_scenario *scenario;
    const struct hx_variant *variant;
    int repeat_index;
    uint64_t seed;
    bool passed;
    bool broken;            /* could not be carried out (infrastructure, not the app) */
    double duration_ms;
    json_t *failures;       /* array of strings */
    char *timeline;         /* text, for failures */
    json_t *timeline_json;
    json_t *journal;        /* fakeidp's journal entries at the end, with keep_journal */
};

struct hx_results {
    struct hx_result *items;
    size_t count;
    size_t passed, failed, broken;
    char error[256];        /* the run as a whole could not be carried out, or "" */
    double wall_ms;
    uint64_t seed;
    const char *browser_engine; /* --browser, for the replay command, or NULL */
};

/* Runs every selected variant of the scenarios. */
void hx_runner_run(struct hx_scenario *const *scenarios, size_t count,
                   const struct hx_runner_options *options, struct hx_results *results);
void hx_results_cleanup(struct hx_results *results);

/* Reporters. */
void hx_report_console(const struct hx_results *results, FILE *out, bool verbose);
/* html: the HTML report's path, or NULL; each testcase then links to its
 * variant there (a property and a system-out line with file#anchor). */
bool hx_report_junit(const struct hx_results *results, const char *path, const char *html);
void hx_report_tap(const struct hx_results *results, FILE *out);
bool hx_report_json(const struct hx_results *results, const char *path);
/* One self-contained HTML file: overview and a swimlane diagram per variant. */
bool hx_report_html(const struct hx_results *results, const char *path);

#endif
