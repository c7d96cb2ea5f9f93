/* Validation helpers shared by the scenario loader and the step and
 * expectation tables: errors at a JSON pointer with file:line:col, key
 * lists, plain values, durations and counts (and what a count means). */
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "names.h"

enum idp_status hx_check_fail(struct hx_check *check, const char *path, bool at_key,
                              const char *fmt, ...)
{
    char message[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    if (check->positions)
        hx_jsonpos_find(check->positions, path, at_key, &line, &col);
    struct idp_error e;
    idp_fail_at(&e, IDP_INVALID, check->file, line, col, "%s", message);
    if (check->count++ == 0 && check->err)
        *check->err = e;
    if (check->messages && json_array_size(check->messages) < HX_CHECK_MAX_MESSAGES) {
        char text[1200];
        idp_error_format(&e, text, sizeof(text));
        bool seen = false; /* the same place, found again through another variant */
        size_t i;
        json_t *m;
        json_array_foreach(check->messages, i, m) seen = seen || strcmp(json_string_value(m), text) == 0;
        if (!seen)
            json_array_append_new(check->messages, json_string(text));
    }
    return IDP_INVALID;
}

enum idp_status hx_check_error(struct hx_check *check, const char *path,
                               const struct idp_error *error)
{
    char at[600];
    snprintf(at, sizeof(at), "%s%s", path, error->pointer);
    return hx_check_fail(check, at, error->pointer[0] != '\0', "%s", error->message);
}

enum idp_status hx_check_unknown(struct hx_check *check, const char *path, const char *what,
                                 const char *plural, const char *word, const char *const names[])
{
    char list[800] = "", hint[96];
    for (size_t i = 0; names[i]; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, names[i], sizeof(list) - strlen(list) - 1);
    }
    idp_did_you_mean(word, names, hint, sizeof(hint));
    return hx_check_fail(check, path, true, "unknown %s \"%s\"%s (%s: %s)", what, word, hint, plural,
                         list);
}

enum idp_status hx_check_keys(struct hx_check *check, const json_t *obj, const char *path,
                              const char *const allowed[], const char *what)
{
    if (!json_is_object(obj))
        return hx_check_fail(check, path, false, "%s must be an object", what);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        bool known = false;
        for (int i = 0; allowed[i] && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (!known) {
            char list[600] = "";
            for (int i = 0; allowed[i]; i++) {
                strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                strncat(list, allowed[i], sizeof(list) - strlen(list) - 1);
            }
            char child[512];
            snprintf(child, sizeof(child), "%s/%s", path, key);
            return hx_check_fail(check, child, true, "unknown key \"%s\" in %s (expected: %s)", key,
                                 what, list);
        }
    }
    return IDP_OK;
}

enum idp_status hx_check_true(struct hx_check *check, const json_t *value, const char *path)
{
    return json_is_true(value) ? IDP_OK : hx_check_fail(check, path, false, "expected true");
}

enum idp_status hx_check_boolean(struct hx_check *check, const json_t *value, const char *path)
{
    return json_is_boolean(value) ? IDP_OK
                                  : hx_check_fail(check, path, false, "expected true or false");
}

enum idp_status hx_check_integer(struct hx_check *check, const json_t *value, const char *path)
{
    return json_is_integer(value) ? IDP_OK
                                  : hx_check_fail(check, path, false, "expected a whole number");
}

enum idp_status hx_check_string(struct hx_check *check, const json_t *value, const char *path)
{
    return json_is_string(value) ? IDP_OK : hx_check_fail(check, path, false, "expected a string");
}

enum idp_status hx_check_strings(struct hx_check *check, const json_t *value, const char *path)
{
    if (json_is_string(value))
        return IDP_OK;
    size_t i;
    json_t *s;
    if (!json_is_array(value))
        return hx_check_fail(check, path, false, "expected a string or an array of strings");
    json_array_foreach(value, i, s) if (!json_is_string(s))
        return hx_check_fail(check, path, false, "expected strings");
    return IDP_OK;
}

enum idp_status hx_check_duration_ms(struct hx_check *check, const json_t *value, const char *path,
                                     int64_t *ms)
{
    if (!idp_duration_json(value, false, ms))
        return hx_check_fail(check, path, false,
                             "expected a duration such as \"300s\", \"5m\" or \"8d\"");
    return IDP_OK;
}

enum idp_status hx_check_duration(struct hx_check *check, const json_t *value, const char *path)
{
    int64_t ms;
    return hx_check_duration_ms(check, value, path, &ms);
}

enum idp_status hx_check_count(struct hx_check *check, const json_t *value, const char *path)
{
    if (json_is_integer(value) && json_integer_value(value) >= 0)
        return IDP_OK;
    if (json_is_object(value)) {
        static const char *const keys[] = {"min", "max", NULL};
        enum idp_status st = hx_check_keys(check, value, path, keys, "a count range");
        if (st)
            return st;
        const json_t *min = json_object_get(value, "min"), *max = json_object_get(value, "max");
        if ((!min && !max) || (min && !json_is_integer(min)) || (max && !json_is_integer(max)))
            return hx_check_fail(check, path, false, "a count range needs integer min and/or max");
        return IDP_OK;
    }
    return hx_check_fail(check, path, false, "expected a count: a whole number or {\"min\": …, \"max\": …}");
}

enum idp_status hx_check_counts(struct hx_check *check, const json_t *obj, const char *path,
                                const char *const allowed[], const char *what)
{
    enum idp_status st = hx_check_keys(check, obj, path, allowed, what);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value) {
        char child[512];
        snprintf(child, sizeof(child), "%s/%s", path, key);
        if (!st)
            st = hx_check_count(check, value, child);
    }
    return st;
}

bool hx_count_holds(const json_t *spec, long long actual, char *want, size_t size)
{
    if (json_is_integer(spec)) {
        snprintf(want, size, "%lld", (long long)json_integer_value(spec));
        return actual == json_integer_value(spec);
    }
    const json_t *min = json_object_get(spec, "min"), *max = json_object_get(spec, "max");
    if (min && max)
        snprintf(want, size, "%lld..%lld", (long long)json_integer_value(min), (long long)json_integer_value(max));
    else if (min)
        snprintf(want, size, ">= %lld", (long long)json_integer_value(min));
    else
        snprintf(want, size, "<= %lld", (long long)json_integer_value(max));
    return (!min || actual >= json_integer_value(min)) && (!max || actual <= json_integer_value(max));
}
