/* The INDEX of scenarios/README.md against the scenario files: one row per
 * file, naming the file and its scenario name, its failure mode, and every
 * variant; the count line matches. A new file or variant without its row
 * (or a row left behind) fails here, naming what is missing. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scenario.h"

#ifndef SCENARIO_DIR
#define SCENARIO_DIR "scenarios"
#endif

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    size_t got = text ? fread(text, 1, (size_t)size, f) : 0;
    fclose(f);
    if (text)
        text[got] = '\0';
    return text;
}

/* The INDEX row of a file: the line that starts with "| [file](file)". */
static char *row_of(const char *index, const char *file)
{
    char start[300];
    snprintf(start, sizeof(start), "\n| [%s](%s)", file, file);
    const char *at = strstr(index, start);
    if (!at)
        return NULL;
    at++;
    const char *end = strchr(at, '\n');
    return strndup(at, end ? (size_t)(end - at) : strlen(at));
}

static int compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_every_file_and_variant_has_its_row(void **state)
{
    (void)state;
    char *readme = read_text(SCENARIO_DIR "/README.md");
    assert_non_null(readme);
    const char *index = strstr(readme, "\n## INDEX");
    assert_non_null(index);
    DIR *dir = opendir(SCENARIO_DIR);
    assert_non_null(dir);
    char *files[256];
    size_t count = 0, variants = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && count < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0 &&
            strcmp(e->d_name, "schema.json") != 0)
            files[count++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(files, count, sizeof(files[0]), compare);
    int problems = 0;
    for (size_t i = 0; i < count; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", SCENARIO_DIR, files[i]);
        struct idp_error err;
        struct hx_scenario *sc = hx_scenario_load(path, &err, NULL);
        if (!sc)
            fail_msg("%s: %s", path, err.message);
        variants += sc->variant_count;
        char *row = row_of(index, files[i]);
        char want[300];
        snprintf(want, sizeof(want), "<br>`%s` |", sc->name);
        if (!row || !strstr(row, want)) {
            fprintf(stderr, "INDEX: no row for %s (scenario %s)\n", files[i], sc->name);
            problems++;
        }
        const char *mode = json_string_value(json_object_get(sc->root, "failure_mode"));
        snprintf(want, sizeof(want), "| %s |", mode ? mode : "—");
        if (row && !strstr(row, want)) {
            fprintf(stderr, "INDEX: the row of %s does not name failure mode %s\n", files[i],
                    mode ? mode : "—");
            problems++;
        }
        for (size_t v = 0; row && v < sc->variant_count; v++) {
            snprintf(want, sizeof(want), "`%s`: ", sc->variants[v].name);
            if (!strstr(row, want)) {
                fprintf(stderr, "INDEX: the row of %s lacks variant %s\n", files[i],
                        sc->variants[v].name);
                problems++;
            }
        }
        free(row);
        hx_scenario_free(&sc);
    }
    /* No row for a file that is gone. */
    for (const char *at = strstr(index, "\n| ["); at; at = strstr(at + 1, "\n| [")) {
        const char *end = strchr(at + 4, ']');
        char name[256];
        snprintf(name, sizeof(name), "%.*s", end ? (int)(end - at - 4) : 0, at + 4);
        bool known = false;
        for (size_t i = 0; i < count && !known; i++)
            known = strcmp(files[i], name) == 0;
        if (!known) {
            fprintf(stderr, "INDEX: a row names %s, which is not in %s\n", name, SCENARIO_DIR);
            problems++;
        }
    }
    char counts[120];
    snprintf(counts, sizeof(counts), "(%zu files, %zu variants)", count, variants);
    if (!strstr(index, counts)) {
        fprintf(stderr, "INDEX: the count line should say %s\n", counts);
        problems++;
    }
    for (size_t i = 0; i < count; i++)
        free(files[i]);
    free(readme);
    assert_int_equal(problems, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_file_and_variant_has_its_row),
    };
    return cmocka_run_group_tests_name("scenario index", tests, NULL, NULL);
}
