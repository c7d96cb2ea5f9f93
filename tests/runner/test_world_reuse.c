/* Reused worlds are indistinguishable from fresh ones: the whole bundled
 * library runs in one worker twice, once with a new fakeidp and app for
 * every variant (fresh_worlds) and once in one reused pair, in a seeded
 * random order; every variant's verdict, failures and fakeidp journal must
 * be the same.
 *
 * Normalised, because they legitimately differ between any two runs: the
 * journal's wall_time and duration_ms (wall clock), and port numbers in
 * any string (":12345" -> ":PORT": fresh worlds listen on new ephemeral
 * ports). The scenarios of a variant whose reused run differs run four more
 * times each way (fresh and reused): the variant passes when some reused
 * outcome equals some fresh one, or, when the outcomes vary between runs
 * of the same kind (parallel steps race by design: which request gets the
 * 429, which id), when the verdict and the sorted request lines ("method
 * route grant status outcome fault") agree. A deterministic variant gives
 * one outcome each way, and the two must be equal.
 *
 * usage: test_world_reuse SCENARIO_DIR [ORDER_SEED] */
#include <dirent.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "runner.h"
#include "scenario.h"

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ":12345" -> ":PORT" in a copy of text. */
static char *without_ports(const char *text)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1 + len); /* ":PORT" may be longer than ":1" */
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (text[i] == ':' && text[i + 1] >= '0' && text[i + 1] <= '9') {
            size_t j = i + 1;
            while (text[j] >= '0' && text[j] <= '9')
                j++;
            if (j - i - 1 >= 4 && j - i - 1 <= 5) {
                memcpy(out + o, ":PORT", 5);
                o += 5;
                i = j;
                continue;
            }
        }
        out[o++] = text[i++];
    }
    out[o] = '\0';
    return out;
}

static json_t *normalise(const json_t *value)
{
    if (json_is_string(value)) {
        char *text = without_ports(json_string_value(value));
        json_t *copy = json_string(text);
        free(text);
        return copy;
    }
    if (json_is_array(value)) {
        json_t *copy = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(value, i, item) json_array_append_new(copy, normalise(item));
        return copy;
    }
    if (json_is_object(value)) {
        json_t *copy = json_object();
        const char *key;
        json_t *member;
        json_object_foreach((json_t *)value, key, member)
            if (strcmp(key, "wall_time") != 0 && strcmp(key, "duration_ms") != 0)
                json_object_set_new(copy, key, normalise(member));
        return copy;
    }
    return json_deep_copy(value);
}

/* The variant's verdict, failures and journal, normalised, as one text. */
static char *strict_text(const struct hx_result *r)
{
    json_t *doc = json_pack("{s:b, s:b, s:o, s:o}", "passed", r->passed, "broken", r->broken,
                            "failures", normalise(r->failures), "journal",
                            r->journal ? normalise(r->journal) : json_null());
    char *text = json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(doc);
    return text;
}

static const char *field(const json_t *e, const char *name)
{
    const char *v = json_string_value(json_object_get(e, name));
    return v ? v : "-";
}

/* The verdict and the journal as sorted lines of what each request was. */
static char *coarse_text(const struct hx_result *r)
{
    size_t n = json_array_size(r->journal);
    char **lines = calloc(n ? n : 1, sizeof(char *));
    size_t total = 64;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(r->journal, i);
        char line[512];
        snprintf(line, sizeof(line), "%s %s %s %lld %s %s\n", field(e, "method"), field(e, "route"),
                 field(e, "grant_type"), (long long)json_integer_value(json_object_get(e, "status")),
                 field(e, "outcome"), field(e, "fault"));
        lines[i] = strdup(line);
        total += strlen(line);
    }
    qsort(lines, n, sizeof(char *), compare_names);
    char *text = malloc(total);
    snprintf(text, total, "passed=%d broken=%d\n", r->passed, r->broken);
    for (size_t i = 0; i < n; i++) {
        strcat(text, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return text;
}

static const struct hx_result *find(const struct hx_results *results, const struct hx_result *like)
{
    for (size_t i = 0; i < results->count; i++)
        if (results->items[i].variant == like->variant)
            return &results->items[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCENARIO_DIR [ORDER_SEED]\n", argv[0]);
        return 2;
    }
    uint64_t order_seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261203;
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 2;
    }
    char *names[256];
    size_t name_count = 0;
    struct dirent *ent;
    while ((ent = readdir(dir)) && name_count < 256) {
        size_t len = strlen(ent->d_name);
        if (len > 5 && strcmp(ent->d_name + len - 5, ".json") == 0 && strcmp(ent->d_name, "schema.json") != 0)
            names[name_count++] = strdup(ent->d_name);
    }
    closedir(dir);
    qsort(names, name_count, sizeof(char *), compare_names);
    struct hx_scenario *scenarios[256];
    size_t count = 0;
    for (size_t i = 0; i < name_count; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
        struct idp_error err;
        scenarios[count] = hx_scenario_load(path, &err, NULL);
        if (!scenarios[count]) {
            fprintf(stderr, "%s\n", err.message);
            return 2;
        }
        count++;
        free(names[i]);
    }
    char rotation_dir[] = "/tmp/fakeidp-world-reuse.XXXXXX";
    if (!mkdtemp(rotation_dir)) {
        perror("mkdtemp");
        return 2;
    }
    EVP_PKEY *key = idp_rsa_generate(NULL);
    struct hx_runner_options fresh = {.jobs = 1, .seed = 42, .timeout_ms = 60000, .key = key,
                                      .rotation_key_dir = rotation_dir, .fresh_worlds = true,
                                      .keep_journal = true};
    struct hx_runner_options reused = fresh;
    reused.fresh_worlds = false;
    reused.order_seed = order_seed;
    struct hx_results a, b, c = {0};
    hx_runner_run(scenarios, count, &fresh, &a);
    hx_runner_run(scenarios, count, &reused, &b);
    int bad = 0, racy = 0, compared = 0;
    /* The scenarios with a variant whose reused run differs run fresh
     * RERUNS more times. */
    enum { RERUNS = 4 };
    struct hx_scenario *again[256];
    size_t again_count = 0;
    for (size_t i = 0; i < a.count; i++) {
        const struct hx_result *ra = &a.items[i], *rb = find(&b, ra);
        compared++;
        if (!ra->journal || !rb) {
            fprintf(stderr, "%s/%s: %s\n", ra->scenario->name, ra->variant->name,
                    rb ? "no journal" : "missing from the reused run");
            bad++;
            continue;
        }
        char *ta = strict_text(ra), *tb = strict_text(rb);
        if (strcmp(ta, tb) != 0 && (!again_count || again[again_count - 1] != ra->scenario))
            again[again_count++] = (struct hx_scenario *)ra->scenario;
        free(ta);
        free(tb);
    }
    struct hx_results d = {0};
    if (again_count) {
        struct hx_runner_options more = fresh;
        more.repeat = RERUNS;
        hx_runner_run(again, again_count, &more, &c);
        struct hx_runner_options more_reused = reused;
        more_reused.repeat = RERUNS;
        hx_runner_run(again, again_count, &more_reused, &d);
    }
    for (size_t i = 0; i < a.count && again_count; i++) {
        const struct hx_result *ra = &a.items[i], *rb = find(&b, ra);
        if (!ra->journal || !rb)
            continue;
        /* Every outcome seen fresh against every outcome seen reused. */
        char *fresh_texts[1 + RERUNS], *reused_texts[1 + RERUNS];
        size_t nf = 0, nr = 0;
        fresh_texts[nf++] = strict_text(ra);
        reused_texts[nr++] = strict_text(rb);
        for (size_t j = 0; j < c.count && nf < 1 + RERUNS; j++)
            if (c.items[j].variant == ra->variant)
                fresh_texts[nf++] = strict_text(&c.items[j]);
        for (size_t j = 0; j < d.count && nr < 1 + RERUNS; j++)
            if (d.items[j].variant == ra->variant)
                reused_texts[nr++] = strict_text(&d.items[j]);
        bool same = false, varies = false;
        for (size_t x = 0; x < nf; x++)
            for (size_t y = 0; y < nr; y++)
                same = same || strcmp(fresh_texts[x], reused_texts[y]) == 0;
        for (size_t x = 1; x < nf; x++)
            varies = varies || strcmp(fresh_texts[0], fresh_texts[x]) != 0;
        for (size_t y = 1; y < nr; y++)
            varies = varies || strcmp(reused_texts[0], reused_texts[y]) != 0;
        if (!same) {
            char *ca = coarse_text(ra), *cb = coarse_text(rb);
            if (varies && strcmp(ca, cb) == 0) {
                racy++;
                fprintf(stderr, "%s/%s: runs differ among themselves (parallel steps); "
                                "same verdict and requests\n", ra->scenario->name, ra->variant->name);
            } else {
                bad++;
                fprintf(stderr, "%s/%s: the reused world differs from a fresh one\n--- fresh\n%s\n--- reused\n%s\n",
                        ra->scenario->name, ra->variant->name, varies ? ca : fresh_texts[0],
                        varies ? cb : reused_texts[0]);
            }
            free(ca);
            free(cb);
        }
        for (size_t x = 0; x < nf; x++)
            free(fresh_texts[x]);
        for (size_t y = 0; y < nr; y++)
            free(reused_texts[y]);
    }
    printf("%d variants compared (order seed %llu): %d identical, %d nondeterministic by design "
           "(same verdict and requests), %d different\n",
           compared, (unsigned long long)order_seed, compared - racy - bad, racy, bad);
    if (compared < 50) {
        fprintf(stderr, "too few variants: is %s the bundled library?\n", argv[1]);
        bad++;
    }
    hx_results_cleanup(&a);
    hx_results_cleanup(&b);
    hx_results_cleanup(&c);
    hx_results_cleanup(&d);
    for (size_t i = 0; i < count; i++)
        hx_scenario_free(&scenarios[i]);
    EVP_PKEY_free(key);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rotation_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", rotation_dir);
    return bad ? 1 : 0;
}
