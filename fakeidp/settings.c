#include "settings.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

enum kind { DURATION, INTEGER, BOOLEAN, TEXT, CHOICE };

static const char *const refresh_modes[] = {"grace", "strict", "revoke_family",
                                            "concurrent_429", NULL};
static const char *const issuer_modes[] = {"per_client", "legacy", "custom", NULL};
static const char *const aud_modes[] = {"absent", "client_id", "value", NULL};

static const struct row {
    const char *name;
    enum kind kind;
    size_t offset;
    size_t size;                /* TEXT capacity */
    const char *const *choices; /* CHOICE names */
} rows[] = {
#define FIELD(f) offsetof(struct idp_settings, f)
    {"access_ttl", DURATION, FIELD(access_ttl_ms), 0, NULL},
    {"refresh_ttl", DURATION, FIELD(refresh_ttl_ms), 0, NULL},
    {"session_max_age", DURATION, FIELD(session_max_age_ms), 0, NULL},
    {"inactivity_timeout", DURATION, FIELD(inactivity_timeout_ms), 0, NULL},
    {"code_ttl", DURATION, FIELD(code_ttl_ms), 0, NULL},
    {"refresh_mode", CHOICE, FIELD(refresh_mode), 0, refresh_modes},
    {"refresh_grace", DURATION, FIELD(refresh_grace_ms), 0, NULL},
    {"retry_after", DURATION, FIELD(retry_after_ms), 0, NULL},
    {"issuer", CHOICE, FIELD(issuer_mode), 0, issuer_modes},
    {"issuer_base", TEXT, FIELD(issuer_base), sizeof(((struct idp_settings *)0)->issuer_base), NULL},
    {"issuer_url", TEXT, FIELD(issuer_url), sizeof(((struct idp_settings *)0)->issuer_url), NULL},
    {"aud", CHOICE, FIELD(aud_mode), 0, aud_modes},
    {"aud_value", TEXT, FIELD(aud_value), sizeof(((struct idp_settings *)0)->aud_value), NULL},
    {"jwks_cache_control", TEXT, FIELD(jwks_cache_control), sizeof(((struct idp_settings *)0)->jwks_cache_control), NULL},
    {"refresh_cookie", BOOLEAN, FIELD(refresh_cookie), 0, NULL},
    {"refresh_cookie_name", TEXT, FIELD(refresh_cookie_name), sizeof(((struct idp_settings *)0)->refresh_cookie_name), NULL},
    {"journal_size", INTEGER, FIELD(journal_size), 0, NULL},
    {"max_sessions", INTEGER, FIELD(max_sessions), 0, NULL},
    {"max_body_bytes", INTEGER, FIELD(max_body_bytes), 0, NULL},
#undef FIELD
};

#define ROW_COUNT (sizeof(rows) / sizeof(rows[0]))

void idp_settings_defaults(struct idp_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->access_ttl_ms = 300000;
    s->code_ttl_ms = 600000;
    s->refresh_mode = IDP_REFRESH_GRACE;
    s->refresh_grace_ms = 30000;
    s->retry_after_ms = 1000;
    s->issuer_mode = IDP_ISSUER_PER_CLIENT;
    snprintf(s->issuer_base, sizeof(s->issuer_base), "https://api.workos.com");
    s->aud_mode = IDP_AUD_ABSENT;
    s->refresh_cookie = true;
    snprintf(s->refresh_cookie_name, sizeof(s->refresh_cookie_name), "workos-refresh-token");
    s->journal_size = 10000;
    s->max_sessions = 100000;
    s->max_body_bytes = 1 << 20;
}

const char *idp_refresh_mode_name(int mode)
{
    return mode >= 0 && mode < 4 ? refresh_modes[mode] : "?";
}

static enum idp_status apply_one(struct idp_settings *s, const struct row *row,
                                 const json_t *value, struct idp_error *err)
{
    char *field = (char *)s + row->offset;
    switch (row->kind) {
    case DURATION: {
        int64_t ms;
        if (json_is_integer(value) && json_integer_value(value) >= 0)
            ms = json_integer_value(value) * 1000;
        else if (!json_is_string(value) || !idp_duration_parse(json_string_value(value), &ms))
            return idp_fail(err, IDP_INVALID,
                            "setting %s: expected a duration such as \"300s\", \"5m\" or \"8d\"",
                            row->name);
        *(int64_t *)field = ms;
        return IDP_OK;
    }
    case INTEGER:
        if (!json_is_integer(value) || json_integer_value(value) < 0)
            return idp_fail(err, IDP_INVALID, "setting %s: expected a whole number", row->name);
        *(int64_t *)field = json_integer_value(value);
        return IDP_OK;
    case BOOLEAN:
        if (!json_is_boolean(value))
            return idp_fail(err, IDP_INVALID, "setting %s: expected true or false", row->name);
        *(bool *)field = json_is_true(value);
        return IDP_OK;
    case TEXT:
        if (!json_is_string(value) || json_string_length(value) >= row->size)
            return idp_fail(err, IDP_INVALID, "setting %s: expected a string under %zu bytes",
                            row->name, row->size);
        memcpy(field, json_string_value(value), json_string_length(value) + 1);
        return IDP_OK;
    case CHOICE: {
        const char *text = json_string_value(value);
        for (int i = 0; text && row->choices[i]; i++) {
            if (strcmp(row->choices[i], text) == 0) {
                *(int *)field = i;
                return IDP_OK;
            }
        }
        char list[256] = "";
        for (int i = 0; row->choices[i]; i++) {
            strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
            strncat(list, row->choices[i], sizeof(list) - strlen(list) - 1);
        }
        return idp_fail(err, IDP_INVALID, "setting %s: expected one of %s", row->name, list);
    }
    }
    return IDP_INVALID;
}

enum idp_status idp_settings_apply(struct idp_settings *settings, const json_t *obj,
                                   struct idp_error *err)
{
    if (!json_is_object(obj))
        return idp_fail(err, IDP_INVALID, "settings must be a JSON object");
    struct idp_settings copy = *settings;
    const char *name;
    json_t *value;
    json_object_foreach((json_t *)obj, name, value) {
        const struct row *row = NULL;
        for (size_t i = 0; i < ROW_COUNT; i++)
            if (strcmp(rows[i].name, name) == 0)
                row = &rows[i];
        if (!row)
            return idp_fail(err, IDP_INVALID, "unknown setting \"%s\"", name);
        enum idp_status status = apply_one(&copy, row, value, err);
        if (status)
            return status;
    }
    *settings = copy;
    return IDP_OK;
}

json_t *idp_settings_to_json(const struct idp_settings *s)
{
    json_t *obj = json_object();
    for (size_t i = 0; i < ROW_COUNT; i++) {
        const struct row *row = &rows[i];
        const char *field = (const char *)s + row->offset;
        char buf[32];
        switch (row->kind) {
        case DURATION:
            idp_duration_format(*(const int64_t *)field, buf);
            json_object_set_new(obj, row->name, json_string(buf));
            break;
        case INTEGER:
            json_object_set_new(obj, row->name, json_integer(*(const int64_t *)field));
            break;
        case BOOLEAN:
            json_object_set_new(obj, row->name, json_boolean(*(const bool *)field));
            break;
        case TEXT:
            json_object_set_new(obj, row->name, json_string(field));
            break;
        case CHOICE:
            json_object_set_new(obj, row->name, json_string(row->choices[*(const int *)field]));
            break;
        }
    }
    return obj;
}
