/* Shard planning: CI variables, round robin or greedy longest processing
 * time over the durations of a previous report. */
#include "shard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_int(const char *text, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 0 || v > 1000000)
        return false;
    *out = v;
    return true;
}

bool hx_shard_auto(int *index, int *count, char *note, size_t note_size, char *error,
                   size_t error_size)
{
    static const struct {
        const char *system, *index, *total;
        int base; /* the index of the first job */
    } ci[] = {
        {"GitLab", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1},
        {"CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0},
        {"Buildkite", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0},
    };
    note[0] = error[0] = '\0';
    for (size_t i = 0; i < sizeof(ci) / sizeof(ci[0]); i++) {
        const char *iv = getenv(ci[i].index), *tv = getenv(ci[i].total);
        if (!iv && !tv)
            continue;
        long idx, total;
        if (!iv || !tv || !parse_int(iv, &idx) || !parse_int(tv, &total) || total < 1 ||
            idx < ci[i].base || idx - ci[i].base >= total) {
            snprintf(error, error_size,
                     "--shard auto: %s variables %s=%s and %s=%s are not a job index (from %d) "
                     "and a job count",
                     ci[i].system, ci[i].index, iv ? iv : "(unset)", ci[i].total,
                     tv ? tv : "(unset)", ci[i].base);
            return false;
        }
        *index = (int)(idx - ci[i].base);
        *count = (int)total;
        snprintf(note, note_size, "--shard auto: shard %d/%d from %s (%s, %s)", *index + 1, *count,
                 ci[i].system, ci[i].index, ci[i].total);
        return true;
    }
    *index = 0;
    *count = 1;
    snprintf(note, note_size,
             "--shard auto: no CI parallel-job variables (CI_NODE_INDEX, CIRCLE_NODE_INDEX, "
             "BUILDKITE_PARALLEL_JOB): one shard runs everything");
    return true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct item {
    double ms;
    size_t index;
};

static int cmp_item(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? 1 : -1; /* longest first */
    return (x->index > y->index) - (x->index < y->index);
}

void hx_shard_plan(const double *ms, size_t n, int shards, int *out)
{
    if (shards < 1)
        shards = 1;
    struct item *items = ms && n ? calloc(n, sizeof(*items)) : NULL;
    double *known = items ? calloc(n, sizeof(*known)) : NULL;
    double *load = known ? calloc((size_t)shards, sizeof(*load)) : NULL;
    if (!load) { /* no timings (or no memory): round robin */
        for (size_t i = 0; i < n; i++)
            out[i] = (int)(i % (size_t)shards);
        free(items);
        free(known);
        return;
    }
    size_t nknown = 0;
    for (size_t i = 0; i < n; i++)
        if (ms[i] >= 0)
            known[nknown++] = ms[i];
    double median = 1.0;
    if (nknown) {
        qsort(known, nknown, sizeof(*known), cmp_double);
        median = nknown % 2 ? known[nknown / 2] : (known[nknown / 2 - 1] + known[nknown / 2]) / 2;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = (struct item){ms[i] >= 0 ? ms[i] : median, i};
    qsort(items, n, sizeof(*items), cmp_item);
    for (size_t k = 0; k < n; k++) {
        int best = 0;
        for (int s = 1; s < shards; s++)
            if (load[s] < load[best])
                best = s;
        load[best] += items[k].ms;
        out[items[k].index] = best;
    }
    free(items);
    free(known);
    free(load);
}

json_t *hx_shard_timings_load(const char *path, char *error, size_t error_size)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        if (jerr.line > 0)
            snprintf(error, error_size, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        else
            snprintf(error, error_size, "%s", jerr.text); /* cannot open: names the file */
        return NULL;
    }
    json_t *list = json_object_get(doc, "results");
    if (!json_is_array(list)) {
        snprintf(error, error_size, "%s: not a fakeidp run --json report (no \"results\" array)",
                 path);
        json_decref(doc);
        return NULL;
    }
    json_t *sums = json_object(), *timings = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        const char *sc = json_string_value(json_object_get(r, "scenario"));
        const char *va = json_string_value(json_object_get(r, "variant"));
        json_t *d = json_object_get(r, "duration_ms");
        if (!sc || !va || !json_is_number(d))
            continue;
        char name[1024];
        snprintf(name, sizeof(name), "%s/%s", sc, va);
        json_t *acc = json_object_get(sums, name);
        if (!acc) {
            acc = json_pack("[f, i]", 0.0, 0);
            json_object_set_new(sums, name, acc);
        }
        json_array_set_new(acc, 0, json_real(json_real_value(json_array_get(acc, 0)) +
                                             json_number_value(d)));
        json_array_set_new(acc, 1, json_integer(json_integer_value(json_array_get(acc, 1)) + 1));
    }
    const char *name;
    json_t *acc;
    json_object_foreach(sums, name, acc)
        json_object_set_new(timings, name,
                            json_real(json_real_value(json_array_get(acc, 0)) /
                                      (double)json_integer_value(json_array_get(acc, 1))));
    json_decref(sums);
    json_decref(doc);
    return timings;
}

int *hx_shard_assign(struct hx_scenario *const *scenarios, size_t count, int repeat, int shards,
                     const json_t *timings)
{
    size_t total = 0;
    for (size_t s = 0; s < count; s++)
        total += scenarios[s]->variant_count * (size_t)repeat;
    int *out = calloc(total ? total : 1, sizeof(*out));
    double *ms = timings ? calloc(total ? total : 1, sizeof(*ms)) : NULL;
    if (!out || (timings && !ms)) {
        free(out);
        free(ms);
        return NULL;
    }
    size_t k = 0;
    for (size_t s = 0; ms && s < count; s++)
        for (size_t v = 0; v < scenarios[s]->variant_count; v++)
            for (int r = 0; r < repeat; r++) {
                char name[1024];
                snprintf(name, sizeof(name), "%s/%s", scenarios[s]->name,
                         scenarios[s]->variants[v].name);
                json_t *d = json_object_get(timings, name);
                ms[k++] = json_is_number(d) ? json_number_value(d) : -1;
            }
    hx_shard_plan(ms, total, shards, out);
    free(ms);
    return out;
}
