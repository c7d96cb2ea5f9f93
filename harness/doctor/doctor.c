/* fakeidp doctor's engine: probes to scenario files, results to verdicts.
 * The probes themselves are the table in probes.c. */
#include "doctor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "scenario.h"

const char *dr_verdict_name(enum dr_verdict v)
{
    switch (v) {
    case DR_VULNERABLE: return "vulnerable";
    case DR_NOT_VULNERABLE: return "not vulnerable";
    case DR_NOT_APPLICABLE: return "not applicable";
    case DR_COULD_NOT_TELL: return "could not tell";
    case DR_NOT_RUN: return "not run";
    case DR_COULD_NOT_RUN: return "could not run";
    }
    return "?";
}

static const char *placeholder(const char *s, const struct dr_app *app)
{
    if (strcmp(s, "@protected") == 0)
        return app->protected_path ? app->protected_path : "/dashboard";
    if (strcmp(s, "@api") == 0)
        return app->api_path ? app->api_path
                             : app->protected_path ? app->protected_path : "/dashboard";
    if (strcmp(s, "@cookie") == 0)
        return app->cookie ? app->cookie : "wos-session";
    if (strcmp(s, "@logout") == 0)
        return app->logout_path ? app->logout_path : "/logout";
    return NULL;
}

static void substitute(json_t *v, const struct dr_app *app)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) {
            const char *with = json_is_string(child) ? placeholder(json_string_value(child), app) : NULL;
            if (with)
                json_object_set_new(v, key, json_string(with));
            else
                substitute(child, app);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            const char *with = json_is_string(child) ? placeholder(json_string_value(child), app) : NULL;
            if (with)
                json_array_set_new(v, i, json_string(with));
            else
                substitute(child, app);
        }
    }
}

json_t *dr_template(const char *text, const struct dr_app *app, char *error, size_t error_size)
{
    char *json = strdup(text);
    if (!json) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    for (char *p = json; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t je;
    json_t *v = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    free(json);
    if (!v) {
        snprintf(error, error_size, "probe template: %s at column %d", je.text, je.column);
        return NULL;
    }
    substitute(v, app);
    return v;
}

/* "family" or "family/probe" in a comma-separated list. */
static bool selected(const struct dr_probe *p, const char *only)
{
    if (!only || !*only)
        return true;
    size_t flen = strlen(p->family);
    const char *s = only;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == flen && strncmp(s, p->family, flen) == 0)
            return true;
        if (len == flen + 1 + strlen(p->name) && strncmp(s, p->family, flen) == 0 && s[flen] == '/' &&
            strncmp(s + flen + 1, p->name, strlen(p->name)) == 0)
            return true;
        s += len;
        if (*s == ',')
            s++;
    }
    return false;
}

static bool is_https(const struct dr_app *app)
{
    return app->url && strncmp(app->url, "https:", 6) == 0;
}

/* Why a probe is not run or not applicable on this app; "" when it runs. */
static enum dr_verdict availability(const struct dr_probe *p, const struct dr_app *app, char *why,
                                    size_t size)
{
    why[0] = '\0';
    if ((p->needs & DR_NEEDS_START) && !app->reference && !app->start) {
        snprintf(why, size, "add --start (the command that starts the app): the probe restarts it");
        return DR_NOT_RUN;
    }
    if ((p->needs & DR_NEEDS_LOGOUT) && !app->logout_path) {
        snprintf(why, size, "add --logout PATH (the app's sign-out URL, a GET)");
        return DR_NOT_RUN;
    }
    if ((p->needs & DR_NEEDS_HTTP) && is_https(app)) {
        snprintf(why, size, "the app is served over https");
        return DR_NOT_APPLICABLE;
    }
    return DR_NOT_VULNERABLE; /* runs */
}

static json_t *target_block(const struct dr_app *app)
{
    json_t *t = json_object();
    if (app->reference) {
        json_object_set_new(t, "app", json_string("reference"));
        if (app->knobs)
            json_object_update(t, (json_t *)app->knobs);
    } else {
        json_object_set_new(t, "app", json_string("external"));
        json_object_set_new(t, "url", json_string(app->url));
        json_object_set_new(t, "idp_url", json_string(app->idp_url_written ? app->idp_url_written
                                                                          : app->idp_url));
    }
    if (app->protected_path)
        json_object_set_new(t, "protected_path", json_string(app->protected_path));
    if (app->login_path)
        json_object_set_new(t, "login_path", json_string(app->login_path));
    if (app->signed_in_text)
        json_object_set_new(t, "signed_in_text", json_string(app->signed_in_text));
    if (app->signed_in_field)
        json_object_set_new(t, "signed_in_field", json_string(app->signed_in_field));
    if (!app->reference && app->start)
        json_object_set_new(t, "start", json_deep_copy(app->start));
    return t;
}

static bool mkdirs(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return false;
        *p = '/';
    }
    return mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* One family's file: its runnable probes as variants. */
static bool write_family(struct dr_plan *plan, const struct dr_family *fam, const struct dr_app *app,
                         char *error, size_t error_size)
{
    json_t *variants = json_object();
    json_t *first_steps = NULL;
    for (size_t i = 0; i < plan->count; i++) {
        struct dr_outcome *o = &plan->outcomes[i];
        if (strcmp(o->probe->family, fam->id) != 0 || o->verdict != DR_NOT_VULNERABLE)
            continue; /* not selected, not run or not applicable */
        const char *steps_text = app->reference && o->probe->reference_steps ? o->probe->reference_steps
                                                                             : o->probe->steps;
        json_t *steps = dr_template(steps_text, app, error, error_size);
        json_t *expect = steps ? dr_template(o->probe->expect, app, error, error_size) : NULL;
        json_t *browser = expect && o->probe->browser ? dr_template(o->probe->browser, app, error, error_size)
                                                      : NULL;
        if (!steps || !expect || (o->probe->browser && !browser)) {
            json_decref(steps);
            json_decref(expect);
            json_decref(variants);
            json_decref(first_steps);
            return false;
        }
        char line[600];
        snprintf(line, sizeof(line), "vulnerable if this fails: %s", o->probe->finding);
        json_t *v = json_pack("{s:[s,s]}", "description", o->probe->how, line);
        if (browser)
            json_object_set_new(v, "browser", browser);
        if (!first_steps)
            first_steps = json_incref(steps);
        json_object_set_new(v, "steps", steps);
        json_object_set_new(v, "expect", expect);
        json_object_set_new(variants, o->probe->name, v);
    }
    if (!json_object_size(variants)) {
        json_decref(variants);
        return true;
    }
    char name[128], path[1200];
    snprintf(name, sizeof(name), "doctor-%s", fam->id);
    snprintf(path, sizeof(path), "%s/%s.json", plan->dir, name);
    char fix[1200];
    snprintf(fix, sizeof(fix), "Fix: %s", fam->fix);
    json_t *doc = json_pack(
        "{s:s, s:[s,s,s], s:s, s:[s], s:[s,s], s:o, s:o, s:o}", "name", name, "description",
        fam->title,
        "Written by fakeidp doctor: each variant states the healthy behaviour, so a variant that fails "
        "reproduces the finding and passes once the app is fixed.",
        fix, "failure_mode", fam->failure_mode, "sources", fam->source, "tags", "doctor", fam->id,
        "target", target_block(app), "steps", first_steps, "variants", variants);
    if (!doc || json_dump_file(doc, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
        snprintf(error, error_size, "cannot write %s", path);
        json_decref(doc);
        return false;
    }
    json_decref(doc);
    for (size_t i = 0; i < plan->count; i++) {
        struct dr_outcome *o = &plan->outcomes[i];
        if (strcmp(o->probe->family, fam->id) == 0 && o->verdict == DR_NOT_VULNERABLE)
            snprintf(o->file, sizeof(o->file), "%s", path);
    }
    struct idp_error err;
    json_t *messages = json_array();
    struct hx_scenario *sc = hx_scenario_load(path, &err, messages);
    if (!sc) {
        const char *m = json_string_value(json_array_get(messages, 0));
        if (m)
            snprintf(error, error_size, "%s", m);
        else
            idp_error_format(&err, error, error_size);
        json_decref(messages);
        return false;
    }
    json_decref(messages);
    plan->scenarios[plan->scenario_count++] = sc;
    return true;
}

bool dr_plan_build(struct dr_plan *plan, const struct dr_app *app, const char *only, const char *dir,
                   char *error, size_t error_size)
{
    memset(plan, 0, sizeof(*plan));
    snprintf(plan->dir, sizeof(plan->dir), "%s", dir);
    plan->outcomes = calloc(dr_probe_count, sizeof(*plan->outcomes));
    plan->scenarios = calloc(dr_family_count, sizeof(struct hx_scenario *));
    if (!plan->outcomes || !plan->scenarios) {
        snprintf(error, error_size, "out of memory");
        return false;
    }
    size_t chosen = 0;
    for (size_t i = 0; i < dr_probe_count; i++) {
        const struct dr_probe *p = &dr_probes[i];
        if (!selected(p, only))
            continue;
        struct dr_outcome *o = &plan->outcomes[plan->count++];
        o->probe = p;
        o->verdict = availability(p, app, o->why, sizeof(o->why));
        chosen++;
    }
    if (!chosen) {
        snprintf(error, error_size, "--only '%s' selects no probe (fakeidp doctor --list names them)",
                 only ? only : "");
        return false;
    }
    if (!mkdirs(dir)) {
        snprintf(error, error_size, "cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    for (size_t f = 0; f < dr_family_count; f++)
        if (!write_family(plan, &dr_families[f], app, error, error_size))
            return false;
    return true;
}

static bool starts_with_any(const char *text, const char *prefixes)
{
    const char *s = prefixes;
    while (*s) {
        size_t len = strcspn(s, "|");
        if (len && strncmp(text, s, len) == 0)
            return true;
        s += len;
        if (*s == '|')
            s++;
    }
    return false;
}

void dr_plan_judge(struct dr_plan *plan, const struct hx_results *results)
{
    for (size_t i = 0; i < plan->count; i++) {
        struct dr_outcome *o = &plan->outcomes[i];
        if (o->verdict != DR_NOT_VULNERABLE || !o->file[0])
            continue;
        char scenario[128];
        snprintf(scenario, sizeof(scenario), "doctor-%s", o->probe->family);
        o->verdict = DR_COULD_NOT_RUN;
        snprintf(o->why, sizeof(o->why), "the runner did not run it");
        for (size_t r = 0; r < results->count; r++) {
            const struct hx_result *res = &results->items[r];
            if (strcmp(res->scenario->name, scenario) != 0 || strcmp(res->variant->name, o->probe->name) != 0)
                continue;
            o->result = res;
            o->why[0] = '\0';
            if (res->broken) {
                o->verdict = DR_COULD_NOT_RUN;
            } else if (res->passed) {
                o->verdict = DR_NOT_VULNERABLE;
            } else {
                /* Vulnerable only when every failure is the finding: a
                 * sign-in that did not work, a cookie that was not there to
                 * tamper with or a timeout makes the rest meaningless. */
                o->verdict = DR_VULNERABLE;
                const char *other = NULL;
                size_t j;
                json_t *m;
                json_array_foreach(res->failures, j, m)
                    if (!starts_with_any(json_string_value(m), o->probe->vulnerable) && !other)
                        other = json_string_value(m);
                if (other)
                    o->verdict = DR_COULD_NOT_TELL;
                snprintf(o->why, sizeof(o->why), "%s",
                         other ? other : json_string_value(json_array_get(res->failures, 0)));
            }
            break;
        }
    }
}

/* The last lines of the app, the IdP and the browser before the final
 * expectations: what was sent, what the app did, what the IdP saw. */
static void print_evidence(FILE *out, const json_t *timeline, size_t max)
{
    size_t n = json_array_size(timeline), picked = 0;
    size_t *idx = calloc(max ? max : 1, sizeof(*idx));
    if (!idx)
        return;
    for (size_t i = n; i-- > 0 && picked < max;) {
        const json_t *e = json_array_get(timeline, i);
        const char *src = json_string_value(json_object_get(e, "source"));
        const char *text = json_string_value(json_object_get(e, "text"));
        if (!src || !text)
            continue;
        if (strcmp(src, "app") != 0 && strcmp(src, "idp") != 0 && strcmp(src, "browser") != 0 &&
            strcmp(src, "step") != 0 && strcmp(src, "expect") != 0)
            continue;
        idx[picked++] = i;
    }
    for (size_t k = picked; k-- > 0;) {
        const json_t *e = json_array_get(timeline, idx[k]);
        long long t = (long long)json_integer_value(json_object_get(e, "t"));
        char at[32];
        if (t == 0)
            snprintf(at, sizeof(at), "+0s");
        else if (t % 60000 == 0)
            snprintf(at, sizeof(at), "+%lldm", t / 60000);
        else if (t >= 60000)
            snprintf(at, sizeof(at), "+%lldm%02llds", t / 60000, (t % 60000) / 1000);
        else
            snprintf(at, sizeof(at), "+%llds", t / 1000);
        fprintf(out, "      %-8s %-7s %.200s\n", at, json_string_value(json_object_get(e, "source")),
                json_string_value(json_object_get(e, "text")));
    }
    free(idx);
}

/* A family's verdict: its worst probe's. */
static enum dr_verdict family_verdict(const struct dr_plan *plan, const char *family)
{
    static const enum dr_verdict order[] = {DR_VULNERABLE, DR_COULD_NOT_TELL, DR_COULD_NOT_RUN,
                                            DR_NOT_VULNERABLE, DR_NOT_APPLICABLE, DR_NOT_RUN};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++)
        for (size_t i = 0; i < plan->count; i++)
            if (strcmp(plan->outcomes[i].probe->family, family) == 0 && plan->outcomes[i].verdict == order[k])
                return order[k];
    return DR_NOT_RUN;
}

void dr_plan_print(const struct dr_plan *plan, const struct dr_app *app, FILE *out, bool verbose)
{
    size_t counts[6] = {0};
    const char *last_family = "";
    for (size_t i = 0; i < plan->count; i++) {
        const struct dr_outcome *o = &plan->outcomes[i];
        const struct dr_family *fam = dr_family_find(o->probe->family);
        counts[o->verdict]++;
        if (strcmp(last_family, o->probe->family) != 0) {
            fprintf(out, "\n%s: %s (%s): %s\n", fam->id, fam->title, fam->failure_mode,
                    dr_verdict_name(family_verdict(plan, fam->id)));
            last_family = o->probe->family;
        }
        fprintf(out, "  %-15s %s/%s: %s\n", dr_verdict_name(o->verdict), o->probe->family, o->probe->name,
                o->probe->how);
        if (o->verdict == DR_NOT_RUN || o->verdict == DR_NOT_APPLICABLE) {
            fprintf(out, "      %s\n", o->why);
            continue;
        }
        if (o->verdict == DR_NOT_VULNERABLE && !verbose)
            continue;
        if (o->verdict == DR_VULNERABLE)
            fprintf(out, "    finding: %s\n", o->probe->finding);
        if (o->why[0])
            fprintf(out, "    failed: %s\n", o->why);
        if (o->result) {
            fprintf(out, "    evidence:\n");
            print_evidence(out, o->result->timeline_json, verbose ? 400 : 10);
        }
        if (o->verdict == DR_VULNERABLE) {
            fprintf(out, "    fix: %s\n    source: %s\n", fam->fix, fam->source);
        }
        if (o->file[0] && o->verdict != DR_NOT_VULNERABLE)
            fprintf(out, "    reproduce: fakeidp run -j 1 --filter 'doctor-%s/%s' %s\n", o->probe->family,
                    o->probe->name, o->file);
    }
    fprintf(out, "\n%zu vulnerable, %zu not vulnerable, %zu not applicable, %zu could not tell, %zu not run",
            counts[DR_VULNERABLE], counts[DR_NOT_VULNERABLE], counts[DR_NOT_APPLICABLE],
            counts[DR_COULD_NOT_TELL], counts[DR_NOT_RUN]);
    if (counts[DR_COULD_NOT_RUN])
        fprintf(out, ", %zu could not run", counts[DR_COULD_NOT_RUN]);
    fprintf(out, "\nscenario files: %s/doctor-*.json", plan->dir);
    if (!app->reference && app->idp_url_written && strstr(app->idp_url_written, "${"))
        fprintf(out, " (they read the fake's URL from $FAKEIDP_URL: start `fakeidp serve` and export it)");
    fprintf(out, "\n");
}

json_t *dr_plan_json(const struct dr_plan *plan)
{
    json_t *list = json_array();
    for (size_t i = 0; i < plan->count; i++) {
        const struct dr_outcome *o = &plan->outcomes[i];
        const struct dr_family *fam = dr_family_find(o->probe->family);
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "family", o->probe->family, "probe",
                              o->probe->name, "failure_mode", fam->failure_mode, "verdict",
                              dr_verdict_name(o->verdict), "how", o->probe->how, "why", o->why);
        if (o->verdict == DR_VULNERABLE) {
            json_object_set_new(e, "finding", json_string(o->probe->finding));
            json_object_set_new(e, "fix", json_string(fam->fix));
            json_object_set_new(e, "source", json_string(fam->source));
        }
        if (o->file[0])
            json_object_set_new(e, "file", json_string(o->file));
        json_array_append_new(list, e);
    }
    return list;
}

int dr_plan_status(const struct dr_plan *plan)
{
    bool vulnerable = false, judged = false;
    for (size_t i = 0; i < plan->count; i++) {
        const struct dr_outcome *o = &plan->outcomes[i];
        if (strcmp(o->probe->family, "baseline") == 0 &&
            (o->verdict == DR_COULD_NOT_TELL || o->verdict == DR_COULD_NOT_RUN))
            return 3;
        vulnerable = vulnerable || o->verdict == DR_VULNERABLE;
        judged = judged || o->verdict == DR_VULNERABLE || o->verdict == DR_NOT_VULNERABLE;
    }
    if (vulnerable)
        return 1;
    return judged ? 0 : 3;
}

void dr_plan_free(struct dr_plan *plan)
{
    for (size_t i = 0; i < plan->scenario_count; i++)
        hx_scenario_free(&plan->scenarios[i]);
    free(plan->scenarios);
    free(plan->outcomes);
    memset(plan, 0, sizeof(*plan));
}
