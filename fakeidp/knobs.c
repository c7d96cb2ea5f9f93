#include "knobs.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "names.h"

static enum idp_status apply_one(const struct idp_knob *k, char *field, const json_t *value,
                                 const char *what, struct idp_error *err)
{
    switch (k->kind) {
    case IDP_KNOB_DURATION:
    case IDP_KNOB_SIGNED_DURATION: {
        int64_t ms;
        if (!idp_duration_json(value, k->kind == IDP_KNOB_SIGNED_DURATION, &ms))
            return idp_fail(err, IDP_INVALID,
                            "%s %s: expected a duration such as \"300s\", \"5m\" or \"8d\"%s",
                            what, k->name,
                            k->kind == IDP_KNOB_SIGNED_DURATION ? " (may start with -)" : "");
        *(int64_t *)field = ms;
        return IDP_OK;
    }
    case IDP_KNOB_INTEGER:
        if (!json_is_integer(value) || json_integer_value(value) < 0)
            return idp_fail(err, IDP_INVALID, "%s %s: expected a whole number", what, k->name);
        *(int64_t *)field = json_integer_value(value);
        return IDP_OK;
    case IDP_KNOB_BOOLEAN:
        if (!json_is_boolean(value))
            return idp_fail(err, IDP_INVALID, "%s %s: expected true or false", what, k->name);
        *(bool *)field = json_is_true(value);
        return IDP_OK;
    case IDP_KNOB_TEXT:
        if (!json_is_string(value) || json_string_length(value) >= k->size)
            return idp_fail(err, IDP_INVALID, "%s %s: expected a string under %zu bytes", what,
                            k->name, k->size);
        memcpy(field, json_string_value(value), json_string_length(value) + 1);
        return IDP_OK;
    case IDP_KNOB_CHOICE: {
        const char *text = json_string_value(value);
        for (int i = 0; text && k->choices[i]; i++) {
            if (strcmp(k->choices[i], text) == 0) {
                *(int *)field = i;
                return IDP_OK;
            }
        }
        char list[512] = "";
        for (int i = 0; k->choices[i]; i++) {
            strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
            strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
        }
        return idp_fail(err, IDP_INVALID, "%s %s: expected one of %s", what, k->name, list);
    }
    }
    return idp_fail(err, IDP_INVALID, "%s %s: unsupported kind", what, k->name);
}

static enum idp_status unknown_knob(const struct idp_knob *table, size_t count,
                                   const char *name, const char *what, struct idp_error *err)
{
    const char *names[128];
    size_t n = 0;
    for (size_t i = 0; i < count && n + 1 < sizeof(names) / sizeof(names[0]); i++)
        names[n++] = table[i].name;
    names[n] = NULL;
    char hint[96];
    idp_did_you_mean(name, names, hint, sizeof(hint));
    return idp_fail(err, IDP_INVALID, "unknown %s \"%s\"%s", what, name, hint);
}

enum idp_status idp_knobs_apply(const struct idp_knob *table, size_t count, void *base,
                                size_t base_size, const json_t *obj, const char *what,
                                const char **bad_key, struct idp_error *err)
{
    if (!json_is_object(obj))
        return idp_fail(err, IDP_INVALID, "%ss must be a JSON object", what);
    char *copy = malloc(base_size);
    if (!copy)
        return idp_fail(err, IDP_NOMEM, "out of memory");
    memcpy(copy, base, base_size);
    enum idp_status status = IDP_OK;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)obj, name, value) {
        const struct idp_knob *k = NULL;
        for (size_t i = 0; i < count && !k; i++)
            if (strcmp(table[i].name, name) == 0)
                k = &table[i];
        status = k ? apply_one(k, copy + k->offset, value, what, err)
                   : unknown_knob(table, count, name, what, err);
        if (status) {
            if (bad_key)
                *bad_key = name;
            idp_error_within(err, "/%s", name);
            break;
        }
    }
    if (!status)
        memcpy(base, copy, base_size);
    free(copy);
    return status;
}

json_t *idp_knobs_to_json(const struct idp_knob *table, size_t count, const void *base)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < count; i++) {
        const struct idp_knob *k = &table[i];
        const char *field = (const char *)base + k->offset;
        char buf[32];
        int rc = 0;
        switch (k->kind) {
        case IDP_KNOB_DURATION:
        case IDP_KNOB_SIGNED_DURATION: {
            int64_t ms = *(const int64_t *)field;
            idp_duration_format(ms < 0 ? -ms : ms, buf);
            if (ms < 0) {
                char neg[34];
                snprintf(neg, sizeof(neg), "-%s", buf);
                rc = json_object_set_new(obj, k->name, json_string(neg));
            } else {
                rc = json_object_set_new(obj, k->name, json_string(buf));
            }
            break;
        }
        case IDP_KNOB_INTEGER:
            rc = json_object_set_new(obj, k->name, json_integer(*(const int64_t *)field));
            break;
        case IDP_KNOB_BOOLEAN:
            rc = json_object_set_new(obj, k->name, json_boolean(*(const bool *)field));
            break;
        case IDP_KNOB_TEXT:
            rc = json_object_set_new(obj, k->name, json_string(field));
            break;
        case IDP_KNOB_CHOICE:
            rc = json_object_set_new(obj, k->name, json_string(k->choices[*(const int *)field]));
            break;
        }
        /* Out of memory: no printout rather than one missing knobs. */
        if (rc) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *idp_knobs_names(const struct idp_knob *table, size_t count)
{
    json_t *names = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(names, json_string(table[i].name));
    return names;
}
