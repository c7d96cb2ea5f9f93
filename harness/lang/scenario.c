/* Scenario files: reading one, checking it (the document, then each merged
 * variant) and expanding its variants. The sections that configure a
 * variant are checked in scenario_sections.c, steps and expectations by
 * their tables (run/steps.c, run/expect.c), and the merged variants in
 * scenario_crosscheck.c. */
#include "scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"
#include "scenario_internal.h"
#include "steps.h"

static bool string_array(const json_t *v)
{
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) if (!json_is_string(item)) return false;
    return true;
}

/* Checks a document section by section (the base or a variant's overrides). */
static enum idp_status check_sections(struct hx_check *check, const json_t *doc, const char *prefix)
{
    /* Every section is checked, so that lint reports each error. */
    static const struct {
        const char *name;
        enum idp_status (*check)(struct hx_check *, const json_t *, const char *);
    } sections[] = {
        {"idp", hx_section_check_idp},         {"target", hx_section_check_target},
        {"browser", hx_section_check_browser}, {"apps", hx_section_check_apps},
        {"backends", hx_section_check_backends}, {"steps", hx_steps_validate},
        {"expect", hx_expect_validate},
    };
    enum idp_status first = IDP_OK;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        const json_t *v = json_object_get(doc, sections[i].name);
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", prefix, sections[i].name);
        enum idp_status st = v ? sections[i].check(check, v, path) : IDP_OK;
        first = first ? first : st;
    }
    return first;
}

/* Objects merge member by member; anything else replaces. A variant's
 * "expect" replaces the base's whole: each variant states its own outcome. */
static bool merge(json_t *base, const json_t *over)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)over, key, value) {
        json_t *existing = json_object_get(base, key);
        if (json_is_object(existing) && json_is_object(value) && strcmp(key, "expect") != 0) {
            if (!merge(existing, value))
                return false;
        } else if (json_object_set_new(base, key, json_deep_copy(value))) {
            return false; /* out of memory */
        }
    }
    return true;
}

/* The document as written: its top-level keys, then every section of the
 * base and of each variant's overrides (each error recorded: lint reports
 * them all). Returns at the first error that leaves nothing to check. */
static enum idp_status check_document(const json_t *root, struct hx_check *check)
{
    static const char *const top[] = {"name", "description", "failure_mode", "sources", "tags",
                                      "idp", "target", "browser", "apps", "backends", "steps",
                                      "expect", "variants", "timeout", "engine_difference", NULL};
    static const char *const variant_keys[] = {"description", "idp", "target", "browser", "apps",
                                               "backends", "steps", "expect", "tags",
                                               "engine_difference", NULL};
    enum idp_status st = hx_check_keys(check, root, "", top, "a scenario");
    if (st)
        return st;
    const json_t *name = json_object_get(root, "name");
    if (!json_is_string(name) || !json_string_length(name))
        return hx_check_fail(check, name ? "/name" : "", !!name, "a scenario needs a \"name\" string");
    const json_t *desc = json_object_get(root, "description");
    if (desc && !json_is_string(desc) && !string_array(desc))
        return hx_check_fail(check, "/description", false, "description is a string or an array of strings");
    const char *const lists[] = {"sources", "tags", NULL};
    for (int i = 0; lists[i]; i++) {
        const json_t *v = json_object_get(root, lists[i]);
        char path[32];
        snprintf(path, sizeof(path), "/%s", lists[i]);
        if (v && !string_array(v))
            return hx_check_fail(check, path, false, "%s must be an array of strings", lists[i]);
    }
    if (json_object_get(root, "timeout") &&
        (st = hx_check_duration(check, json_object_get(root, "timeout"), "/timeout")))
        return st;
    if (!json_object_get(root, "steps"))
        return hx_check_fail(check, "", false, "a scenario needs \"steps\"");
    const json_t *difference = json_object_get(root, "engine_difference");
    if (difference && (!json_is_string(difference) || !json_string_length(difference)))
        return hx_check_fail(check, "/engine_difference", true,
                             "engine_difference says why the verdict differs in Chromium (a string)");
    check_sections(check, root, "");
    const json_t *variants = json_object_get(root, "variants");
    if (variants && (!json_is_object(variants) || !json_object_size(variants)))
        return hx_check_fail(check, "/variants", false, "variants must be a non-empty object of named variants");
    const char *vname;
    json_t *v;
    json_object_foreach((json_t *)variants, vname, v) {
        char path[256];
        snprintf(path, sizeof(path), "/variants/%s", vname);
        if (!hx_check_keys(check, v, path, variant_keys, "a variant"))
            check_sections(check, v, path);
        difference = json_object_get(v, "engine_difference");
        if (difference && (!json_is_string(difference) || !json_string_length(difference))) {
            snprintf(path, sizeof(path), "/variants/%s/engine_difference", vname);
            hx_check_fail(check, path, true,
                          "engine_difference says why the verdict differs in Chromium (a string)");
        }
    }
    return IDP_OK;
}

/* sc->variants: each variant merged over the base, or the base alone as
 * "default". */
static enum idp_status expand_variants(struct hx_scenario *sc, struct hx_check *check)
{
    const json_t *root = sc->root, *variants = json_object_get(root, "variants");
    size_t count = variants ? json_object_size(variants) : 1;
    sc->variants = calloc(count, sizeof(*sc->variants));
    if (!sc->variants)
        return idp_fail(check->err, IDP_NOMEM, "out of memory");
    if (!variants) {
        sc->variants[0].name = strdup("default");
        sc->variants[0].doc = json_deep_copy(root);
        sc->variant_count = 1;
        if (!sc->variants[0].name || !sc->variants[0].doc)
            return idp_fail(check->err, IDP_NOMEM, "out of memory");
        return IDP_OK;
    }
    const char *vname;
    json_t *v;
    json_object_foreach((json_t *)variants, vname, v) {
        json_t *doc = json_deep_copy(root);
        json_object_del(doc, "variants");
        bool merged = merge(doc, v);
        sc->variants[sc->variant_count].name = strdup(vname);
        sc->variants[sc->variant_count].doc = doc;
        sc->variant_count++;
        if (!merged || !sc->variants[sc->variant_count - 1].name)
            return idp_fail(check->err, IDP_NOMEM, "out of memory");
    }
    return IDP_OK;
}

/* The cross-checks of every merged variant (scenario_crosscheck.c). */
static void check_variants(const struct hx_scenario *sc, struct hx_check *check)
{
    const json_t *variants = json_object_get(sc->root, "variants");
    for (size_t i = 0; i < sc->variant_count; i++) {
        const json_t *doc = sc->variants[i].doc;
        const char *name = sc->variants[i].name;
        hx_crosscheck_backends(check, doc, variants ? json_object_get(variants, name) : NULL,
                               variants ? name : NULL);
        /* Users named by steps exist at the fake (an in-process one: an
         * external fake has users of its own). */
        const char *app = json_string_value(json_object_get(json_object_get(doc, "target"), "app"));
        if (!(app && strcmp(app, "external") == 0)) {
            const json_t *own = variants ? json_object_get(json_object_get(variants, name), "steps") : NULL;
            char path[300];
            snprintf(path, sizeof(path), "%s%s/steps", own ? "/variants/" : "", own ? name : "");
            hx_crosscheck_users(check, doc, path);
            hx_crosscheck_world(check, doc, path, variants ? name : NULL);
        }
    }
}

static enum idp_status validate(struct hx_scenario *sc, struct hx_check *check)
{
    enum idp_status st = check_document(sc->root, check);
    if (st)
        return st;
    if (check->count)
        return IDP_INVALID;
    if ((st = expand_variants(sc, check)))
        return st;
    check_variants(sc, check);
    if (check->count)
        return IDP_INVALID;
    /* Every variant (or the base alone) must say what it expects. */
    const json_t *variants = json_object_get(sc->root, "variants");
    for (size_t i = 0; i < sc->variant_count; i++) {
        if (!json_object_get(sc->variants[i].doc, "expect")) {
            char path[256];
            snprintf(path, sizeof(path), variants ? "/variants/%s" : "", sc->variants[i].name);
            return hx_check_fail(check, path, false,
                                 "variant \"%s\" has no \"expect\": say what must happen",
                                 sc->variants[i].name);
        }
    }
    /* Each variant's steps and expectations, parsed for the runner: its own
     * (a variant's "steps" or "expect" replaces the base's) or the base's,
     * as checked above. */
    for (size_t i = 0; i < sc->variant_count; i++) {
        struct hx_variant *v = &sc->variants[i];
        const json_t *own = json_object_get(variants, v->name); /* NULL without variants */
        char path[256];
        snprintf(path, sizeof(path), json_object_get(own, "steps") ? "/variants/%s/steps" : "/steps",
                 v->name);
        if ((st = hx_steps_parse(check, json_object_get(v->doc, "steps"), path, &v->steps)))
            return st;
        snprintf(path, sizeof(path), json_object_get(own, "expect") ? "/variants/%s/expect" : "/expect",
                 v->name);
        if ((st = hx_expect_parse(check, json_object_get(v->doc, "expect"), path, &v->expect)))
            return st;
        const json_t *timeout = json_object_get(v->doc, "timeout");
        v->timeout_ms = -1;
        if (timeout && (st = hx_check_duration_ms(check, timeout, "/timeout", &v->timeout_ms)))
            return st;
    }
    return IDP_OK;
}

struct hx_scenario *hx_scenario_load(const char *path, struct idp_error *err, json_t *messages)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        idp_fail_at(err, IDP_IO, path, 0, 0, "cannot open: %s", "no such file or not readable");
        return NULL;
    }
    size_t cap = 8192, len = 0;
    char *text = malloc(cap + 1);
    size_t n;
    while (text && (n = fread(text + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            if (cap >= (16u << 20)) {
                free(text);
                fclose(f);
                idp_fail_at(err, IDP_INVALID, path, 1, 1, "file larger than 16 MiB");
                return NULL;
            }
            char *grown = realloc(text, cap * 2 + 1);
            if (!grown) {
                free(text);
                text = NULL;
                break;
            }
            text = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!text) {
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    text[len] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson leaves the error text empty only when it ran out of memory. */
        if (!jerr.text[0])
            idp_fail(err, IDP_NOMEM, "out of memory");
        else
            idp_fail_at(err, IDP_PARSE, path, jerr.line, jerr.column, "%s", jerr.text);
        free(text);
        return NULL;
    }
    struct hx_scenario *sc = calloc(1, sizeof(*sc));
    if (!sc) {
        json_decref(root);
        free(text);
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    sc->file = strdup(path);
    sc->root = root;
    if (!sc->file) {
        hx_scenario_free(&sc);
        free(text);
        idp_fail(err, IDP_NOMEM, "out of memory");
        return NULL;
    }
    hx_jsonpos_build(&sc->positions, text, len);
    free(text);
    struct hx_check check = {sc->file, &sc->positions, err, messages, 0};
    if (validate(sc, &check)) {
        hx_scenario_free(&sc);
        return NULL;
    }
    sc->name = strdup(json_string_value(json_object_get(root, "name")));
    sc->tags = json_object_get(root, "tags");
    if (!sc->name) {
        hx_scenario_free(&sc);
        idp_fail(err, IDP_NOMEM, "out of memory");
    }
    return sc;
}

void hx_scenario_free(struct hx_scenario **psc)
{
    struct hx_scenario *sc = *psc;
    if (!sc)
        return;
    for (size_t i = 0; i < sc->variant_count; i++) {
        free(sc->variants[i].name);
        hx_steps_free(&sc->variants[i].steps);
        hx_expectations_free(&sc->variants[i].expect);
        json_decref(sc->variants[i].doc);
    }
    free(sc->variants);
    hx_jsonpos_cleanup(&sc->positions);
    json_decref(sc->root);
    free(sc->file);
    free(sc->name);
    free(sc);
    *psc = NULL;
}
