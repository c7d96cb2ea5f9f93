/* The rule list of the fault engine: reading a rule (its match keys, its
 * trigger, its phase, and the action's parameters through the action
 * table's parse), adding it, removing and listing rules, and the compact CLI
 * form. The JSON form of a rule is in docs/faults.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "fault_internal.h"
#include "keys.h"
#include "names.h"
#include "server_internal.h"

static const char *const match_keys[] = {"route", "method", "path", "grant_type", "client_id",
                                         "user_id", "session_id", "header", NULL};
static const char *const control_keys[] = {"id", "action", "phase", "nth", "first", "every",
                                           "count", "probability", "between", "after_fault",
                                           "seed", NULL};
/* Every action's parameters: a rule keeps those it has in its params. */
static const char *const param_keys[] = {
    "status", "body", "content_type", "retry_after", "delay", "jitter", "distribution",
    "sigma", "for", "chunk", "interval", "location", "hold", "timeout", "order", "gap", "mode",
    "limit", "window", "remove", "set", "expired", "not_yet_valid", "kid", "sign", "tamper",
    "alg", "bloat", "keys", "extra", "cache_control", NULL};

static bool in_list(const char *const list[], const char *key)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

/* ---------------------------------------------------------------------- */
/* Lifetime                                                                */

static void fault_free(struct idp_fault *f)
{
    json_decref(f->rule);
    json_decref(f->params);
    idp_random_cleanup(&f->rng);
    free(f);
}

void idp_faults_init(struct idp_faults *faults)
{
    memset(faults, 0, sizeof(*faults));
    faults->next_id = 1;
    pthread_cond_init(&faults->barrier_changed, NULL);
}

/* A rule's route picks the bit of its name in the server's route table
 * (idp_route_names); an empty or wildcard route the "any" bit. */
unsigned idp_fault_route_bit(const char *route)
{
    const char *const *names = idp_route_names();
    for (unsigned i = 0; names[i] && i < 31; i++)
        if (strcmp(names[i], route) == 0)
            return 2u << i;
    return 1u;
}

void idp_fault_update_route_bits(struct idp_faults *faults)
{
    unsigned bits = 0;
    for (struct idp_fault *f = faults->head; f; f = f->next)
        bits |= !f->route[0] || strchr(f->route, '*') ? 1u : idp_fault_route_bit(f->route);
    __atomic_store_n(&faults->route_bits, bits, __ATOMIC_RELEASE);
}

void idp_fault_release(struct idp_fault *f)
{
    if (--f->refs == 0 && f->removed)
        fault_free(f);
}

static void fault_unlink(struct idp_fault *f)
{
    f->removed = true;
    f->next = NULL;
    if (f->refs == 0)
        fault_free(f);
}

void idp_faults_clear(struct idp_faults *faults)
{
    while (faults->head) {
        struct idp_fault *f = faults->head;
        faults->head = f->next;
        fault_unlink(f);
    }
    __atomic_store_n(&faults->route_bits, 0u, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&faults->barrier_changed);
}

void idp_faults_cleanup(struct idp_faults *faults)
{
    idp_faults_clear(faults);
    EVP_PKEY_free(faults->stray_key);
    faults->stray_key = NULL;
    pthread_cond_destroy(&faults->barrier_changed);
}

void idp_faults_release_all(struct idp_faults *faults)
{
    /* Lock held: a waiter checks the flag and then waits atomically. */
    faults->shutting_down = true;
    pthread_cond_broadcast(&faults->barrier_changed);
}

/* ---------------------------------------------------------------------- */
/* Reading a rule                                                          */

static enum idp_status check_keys(const json_t *rule, struct idp_error *err)
{
    if (!json_is_object(rule))
        return idp_fail(err, IDP_INVALID, "a fault must be a JSON object");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)rule, key, value) {
        if (!in_list(match_keys, key) && !in_list(control_keys, key) && !in_list(param_keys, key)) {
            idp_fail(err, IDP_INVALID, "fault: unknown key \"%s\"", key);
            idp_error_within(err, "/%s", key);
            return IDP_INVALID;
        }
    }
    return IDP_OK;
}

/* The rule's action: "action", or "status" alone standing for it; NULL
 * (IDP_INVALID) with err set when there is none or it is unknown. */
static const struct idp_fault_action *find_action(const json_t *rule, struct idp_error *err)
{
    const char *name = json_string_value(json_object_get(rule, "action"));
    if (!name)
        name = json_object_get(rule, "status") ? "status" : NULL;
    if (!name) {
        idp_fail(err, IDP_INVALID, "fault: \"action\" is required (or a \"status\")");
        return NULL;
    }
    return idp_fault_action_find(name, err);
}

/* A rule's route is empty, a known route name, or a '*' pattern that
 * matches at least one of them. */
static enum idp_status check_route(const char *route, struct idp_error *err)
{
    const char *const *names = idp_route_names();
    for (size_t i = 0; route[0] && names[i]; i++)
        if (idp_pattern_match(route, names[i]))
            return IDP_OK;
    if (!route[0])
        return IDP_OK;
    char hint[80], list[400] = "";
    idp_did_you_mean(route, names, hint, sizeof(hint));
    for (size_t i = 0; names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
    }
    idp_fail(err, IDP_INVALID, "fault: unknown route \"%s\"%s (routes: %s)", route, hint, list);
    idp_error_within(err, "/route");
    return IDP_INVALID;
}

static enum idp_status copy_match(const json_t *rule, const char *key, char *out, size_t size,
                                  struct idp_error *err)
{
    const json_t *v = json_object_get(rule, key);
    if (!v)
        return IDP_OK;
    if (!json_is_string(v) || json_string_length(v) >= size) {
        idp_fail(err, IDP_INVALID, "fault: %s must be a string under %zu bytes", key, size);
        idp_error_within(err, "/%s", key);
        return IDP_INVALID;
    }
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return IDP_OK;
}

/* The match keys (and after_fault, a text like them), then the route. */
static enum idp_status read_match(struct idp_fault *f, const json_t *rule,
                                  struct idp_error *err)
{
    static const struct {
        const char *key;
        size_t offset, size;
    } matches[] = {
        {"route", offsetof(struct idp_fault, route), sizeof(f->route)},
        {"method", offsetof(struct idp_fault, method), sizeof(f->method)},
        {"path", offsetof(struct idp_fault, path), sizeof(f->path)},
        {"grant_type", offsetof(struct idp_fault, grant_type), sizeof(f->grant_type)},
        {"client_id", offsetof(struct idp_fault, client_id), sizeof(f->client_id)},
        {"user_id", offsetof(struct idp_fault, user_id), sizeof(f->user_id)},
        {"session_id", offsetof(struct idp_fault, session_id), sizeof(f->session_id)},
        {"header", offsetof(struct idp_fault, header), sizeof(f->header)},
        {"after_fault", offsetof(struct idp_fault, after_fault), sizeof(f->after_fault)},
    };
    enum idp_status status = IDP_OK;
    for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]) && !status; i++)
        status = copy_match(rule, matches[i].key, (char *)f + matches[i].offset, matches[i].size, err);
    return status ? status : check_route(f->route, err);
}

static long positive(const json_t *rule, const char *key, bool *bad)
{
    const json_t *v = json_object_get(rule, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1) {
        *bad = true;
        return 0;
    }
    return (long)json_integer_value(v);
}

/* nth, first, every, count, probability and the between window. */
static enum idp_status read_trigger(struct idp_fault *f, const json_t *rule,
                                    struct idp_error *err)
{
    bool bad = false;
    f->nth = positive(rule, "nth", &bad);
    f->first = positive(rule, "first", &bad);
    f->every = positive(rule, "every", &bad);
    f->count = positive(rule, "count", &bad);
    if (bad)
        return idp_fail(err, IDP_INVALID, "fault: nth, first, every and count are whole numbers >= 1");
    const json_t *prob = json_object_get(rule, "probability");
    f->probability = prob ? json_number_value(prob) : -1;
    if (prob && (!json_is_number(prob) || f->probability < 0 || f->probability > 1))
        return idp_fail(err, IDP_INVALID, "fault: probability must be a number from 0 to 1");
    const json_t *between = json_object_get(rule, "between");
    if (between) {
        const char *from = json_string_value(json_array_get(between, 0));
        const char *until = json_string_value(json_array_get(between, 1));
        if (!json_is_array(between) || json_array_size(between) != 2 || !from || !until ||
            !idp_duration_parse(from, &f->window_from_ms) ||
            !idp_duration_parse(until, &f->window_until_ms))
            return idp_fail(err, IDP_INVALID, "fault: between must be [\"<from>\", \"<until>\"] durations");
    }
    return IDP_OK;
}

/* "phase", when given, moves the action from its table phase: an action
 * that needs the answer cannot run before. */
static enum idp_status read_phase(struct idp_fault *f, const json_t *rule,
                                  struct idp_error *err)
{
    if (!json_object_get(rule, "phase"))
        return IDP_OK;
    const char *phase = json_string_value(json_object_get(rule, "phase"));
    bool after_only = f->action->phase == IDP_FAULT_AFTER;
    if (phase && strcmp(phase, "before") == 0 && !after_only)
        f->phase = IDP_FAULT_BEFORE;
    else if (phase && (strcmp(phase, "after") == 0 || strcmp(phase, "after_commit") == 0))
        f->phase = IDP_FAULT_AFTER;
    else
        return idp_fail(err, IDP_INVALID, "fault: phase must be \"before\" or \"after\"%s",
                        after_only ? " (this action needs \"after\")" : "");
    return IDP_OK;
}

/* A given id is short, non-empty and not in use yet. */
static enum idp_status check_id(const struct idp_faults *faults, const char *id,
                                struct idp_error *err)
{
    if (!id)
        return IDP_OK;
    if (strlen(id) == 0 || strlen(id) >= IDP_FAULT_ID_SIZE)
        return idp_fail(err, IDP_INVALID, "fault: id must be a short non-empty string");
    enum idp_status status = IDP_OK;
    for (const struct idp_fault *p = faults->head; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            status = idp_fail(err, IDP_INVALID, "fault: id \"%s\" is already in use", id);
    return status;
}

/* Names the rule (its id, or the next "fault-<n>") and seeds its random
 * numbers (its seed, or a hash of the id). */
static void name_rule(struct idp_faults *faults, struct idp_fault *f, const json_t *rule)
{
    const char *id = json_string_value(json_object_get(rule, "id"));
    if (id)
        snprintf(f->id, sizeof(f->id), "%s", id);
    else
        snprintf(f->id, sizeof(f->id), "fault-%u", faults->next_id);
    faults->next_id++;
    const json_t *seed = json_object_get(rule, "seed");
    uint64_t s = json_is_integer(seed) ? (uint64_t)json_integer_value(seed) : 0;
    if (!s)
        for (const char *c = f->id; *c; c++)
            s = (s ^ (unsigned char)*c) * 1099511628211ULL + 7;
    idp_random_init(&f->rng, s);
}

/* The rule as listed (with its id, action and phase filled in) and the
 * action's parameters. False when out of memory: no rule, rather than one
 * missing parts. */
static bool keep_rule(struct idp_fault *f, const json_t *rule)
{
    f->rule = json_deep_copy(rule);
    bool built = json_object_set_new(f->rule, "id", json_string(f->id)) == 0;
    built = json_object_set_new(f->rule, "action", json_string(f->action->name)) == 0 && built;
    built = json_object_set_new(f->rule, "phase",
                                json_string(f->phase == IDP_FAULT_BEFORE ? "before" : "after")) == 0 &&
            built;
    f->params = json_object();
    built = f->params && built;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)rule, key, value) if (in_list(param_keys, key))
        built = json_object_set(f->params, key, value) == 0 && built;
    return built;
}

/* ---------------------------------------------------------------------- */
/* The list                                                                */

enum idp_status idp_faults_add(struct idp_faults *faults, const json_t *rule, int64_t now_ms,
                               char *id_out, size_t id_size, struct idp_error *err)
{
    enum idp_status status = check_keys(rule, err);
    if (status)
        return status;
    const struct idp_fault_action *action = find_action(rule, err);
    if (!action)
        return IDP_INVALID;
    struct idp_fault *f = calloc(1, sizeof(*f));
    if (!f)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    f->action = action;
    f->phase = action->phase;
    f->added_ms = now_ms;
    f->window_until_ms = IDP_TIME_NEVER;
    f->barrier_released = -1;
    f->barrier_turn_generation = -1;
    status = read_match(f, rule, err);
    if (!status)
        status = read_trigger(f, rule, err);
    if (!status)
        status = read_phase(f, rule, err);
    if (!status && action->parse)
        status = action->parse(rule, f->phase, err);
    if (!status)
        status = check_id(faults, json_string_value(json_object_get(rule, "id")), err);
    if (status) {
        free(f);
        return status;
    }
    name_rule(faults, f, rule);
    if (!keep_rule(f, rule)) {
        faults->next_id--;
        fault_free(f);
        return idp_fail(err, IDP_NOMEM, "out of memory");
    }
    /* appended: rules apply in the order they were added */
    struct idp_fault **tail = &faults->head;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
    idp_fault_update_route_bits(faults);
    if (id_out)
        snprintf(id_out, id_size, "%s", f->id);
    return IDP_OK;
}

enum idp_status idp_faults_configure(struct idp_faults *faults, const json_t *rules,
                                     int64_t now_ms, struct idp_error *err)
{
    if (rules && !json_is_array(rules))
        return idp_fail(err, IDP_INVALID, "faults: expected an array of rules");
    idp_faults_clear(faults);
    size_t i;
    json_t *rule;
    json_array_foreach(rules, i, rule) {
        enum idp_status status = idp_faults_add(faults, rule, now_ms, NULL, 0, err);
        if (status) {
            char message[sizeof(err->message)];
            snprintf(message, sizeof(message), "%s", err->message);
            idp_fail(err, status, "faults[%zu]: %s", i, message);
            return status;
        }
    }
    return IDP_OK;
}

bool idp_faults_remove(struct idp_faults *faults, const char *id)
{
    for (struct idp_fault **p = &faults->head; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            struct idp_fault *f = *p;
            *p = f->next;
            fault_unlink(f);
            idp_fault_update_route_bits(faults);
            pthread_cond_broadcast(&faults->barrier_changed);
            return true;
        }
    }
    return false;
}

json_t *idp_faults_json(const struct idp_faults *faults)
{
    json_t *list = json_array();
    for (struct idp_fault *f = faults->head; f; f = f->next) {
        json_t *item = json_deep_copy(f->rule);
        json_object_set_new(item, "matched", json_integer(f->matched));
        json_object_set_new(item, "fired", json_integer(f->fired));
        if (f->count)
            json_object_set_new(item, "remaining", json_integer(f->count - f->fired));
        else if (f->first)
            json_object_set_new(item, "remaining",
                                json_integer(f->first - (f->matched < f->first ? f->matched : f->first)));
        json_array_append_new(list, item);
    }
    return json_pack("{s:o}", "faults", list);
}

/* ---------------------------------------------------------------------- */
/* The compact CLI form                                                    */

static json_t *compact_value(const char *text, bool as_text)
{
    if (strchr(text, '|')) {
        json_t *arr = json_array();
        char *copy = strdup(text), *save = NULL;
        for (char *t = copy ? strtok_r(copy, "|", &save) : NULL; t; t = strtok_r(NULL, "|", &save))
            json_array_append_new(arr, compact_value(t, as_text));
        free(copy);
        return arr;
    }
    if (as_text)
        return json_string(text);
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
        return json_boolean(strcmp(text, "true") == 0);
    char *end;
    long long n = strtoll(text, &end, 10);
    if (*text && !*end)
        return json_integer(n);
    double d = strtod(text, &end);
    if (*text && !*end)
        return json_real(d);
    return json_string(text);
}

json_t *idp_fault_parse_compact(const char *text, struct idp_error *err)
{
    json_t *rule = json_object();
    char *copy = strdup(text ? text : ""), *save = NULL;
    for (char *item = copy ? strtok_r(copy, ",", &save) : NULL; item;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            idp_fail(err, IDP_INVALID, "fault \"%s\": expected key=value pairs separated by commas", text);
            json_decref(rule);
            free(copy);
            return NULL;
        }
        *eq = '\0';
        /* Names and ids stay text even when they look like numbers. */
        static const char *const text_keys[] = {"id", "route", "method", "path", "grant_type",
                                                "client_id", "user_id", "session_id", "header",
                                                "after_fault", "action", "phase", "remove",
                                                "location", "content_type", "kid", "sign", "alg",
                                                "mode", "keys", "body", "cache_control", NULL};
        bool as_text = false;
        for (int i = 0; text_keys[i]; i++)
            as_text = as_text || strcmp(text_keys[i], item) == 0;
        json_t *value = compact_value(eq + 1, as_text);
        if (strcmp(item, "remove") == 0 && json_is_string(value))
            json_object_set_new(rule, item, json_pack("[O]", value)), json_decref(value);
        else
            json_object_set_new(rule, item, value);
    }
    free(copy);
    return rule;
}
