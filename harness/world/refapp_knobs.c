/* The reference app's knobs: the table (one row per knob, its JSON name,
 * type and choices), the defaults (authkit-nextjs 3.x with a valid
 * password), iron password maps and per-instance overrides. See refapp.h;
 * docs/reference-app.md ties each knob to the SDK behaviour it models. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron.h"
#include "knobs.h"
#include "refapp_internal.h"

static const char *const password_checks[] = {"request", "startup", NULL};
static const char *const refresh_policies[] = {"on_failure", "proactive", NULL};
static const char *const refresh_error_policies[] = {"delete_cookie", "keep_on_transient", NULL};
static const char *const secure_modes[] = {"auto", "always", "never", NULL};
static const char *const samesite_modes[] = {"lax", "strict", "none", NULL};
static const char *const refresh_places[] = {"middleware", "render", NULL};
static const char *const balancers[] = {"round_robin", "sticky", "random", "step", NULL};
static const char *const state_stores[] = {"cookie", "memory", NULL};
static const char *const cache_controls[] = {"none", "public", "private", NULL};

#define KNOB(f) offsetof(struct hx_app_knobs, f), sizeof(((struct hx_app_knobs *)0)->f)
static const struct idp_knob knob_table[] = {
    {"cookie_password", IDP_KNOB_TEXT, KNOB(cookie_password), NULL},
    {"password_check", IDP_KNOB_CHOICE, KNOB(password_check), password_checks},
    {"refresh", IDP_KNOB_CHOICE, KNOB(refresh), refresh_policies},
    {"refresh_buffer", IDP_KNOB_DURATION, KNOB(refresh_buffer_ms), NULL},
    {"dedupe", IDP_KNOB_BOOLEAN, KNOB(dedupe), NULL},
    {"refresh_errors", IDP_KNOB_CHOICE, KNOB(refresh_errors), refresh_error_policies},
    {"retry_429", IDP_KNOB_BOOLEAN, KNOB(retry_429), NULL},
    {"retry_429_max", IDP_KNOB_DURATION, KNOB(retry_429_max_ms), NULL},
    {"refresh_where", IDP_KNOB_CHOICE, KNOB(refresh_where), refresh_places},
    {"drop_session_cookie", IDP_KNOB_BOOLEAN, KNOB(drop_session_cookie), NULL},
    {"cookie_name", IDP_KNOB_TEXT, KNOB(cookie_name), NULL},
    {"cookie_secure", IDP_KNOB_CHOICE, KNOB(cookie_secure), secure_modes},
    {"cookie_samesite", IDP_KNOB_CHOICE, KNOB(cookie_samesite), samesite_modes},
    {"cookie_domain", IDP_KNOB_TEXT, KNOB(cookie_domain), NULL},
    {"cookie_max_age", IDP_KNOB_DURATION, KNOB(cookie_max_age_ms), NULL},
    {"delete_same_attributes", IDP_KNOB_BOOLEAN, KNOB(delete_same_attributes), NULL},
    {"chunk_cookie", IDP_KNOB_BOOLEAN, KNOB(chunk_cookie), NULL},
    {"jwks_cache", IDP_KNOB_DURATION, KNOB(jwks_cache_ms), NULL},
    {"jwks_refetch_unknown_kid", IDP_KNOB_BOOLEAN, KNOB(jwks_refetch_unknown_kid), NULL},
    {"jwks_cooldown", IDP_KNOB_DURATION, KNOB(jwks_cooldown_ms), NULL},
    {"issuer", IDP_KNOB_TEXT, KNOB(issuer), NULL},
    {"clock_offset", IDP_KNOB_SIGNED_DURATION, KNOB(clock_offset_ms), NULL},
    {"leeway", IDP_KNOB_DURATION, KNOB(leeway_ms), NULL},
    {"instances", IDP_KNOB_INTEGER, KNOB(instances), NULL},
    {"convex_jwks_cache", IDP_KNOB_DURATION, KNOB(convex_jwks_cache_ms), NULL},
    {"convex_refetch_unknown_kid", IDP_KNOB_BOOLEAN, KNOB(convex_refetch_unknown_kid), NULL},
    {"convex_clock_offset", IDP_KNOB_SIGNED_DURATION, KNOB(convex_clock_offset_ms), NULL},
    {"convex_leeway", IDP_KNOB_DURATION, KNOB(convex_leeway_ms), NULL},
    {"balancer", IDP_KNOB_CHOICE, KNOB(balancer), balancers},
    {"trust_proxy", IDP_KNOB_BOOLEAN, KNOB(trust_proxy), NULL},
    {"redirect_uri", IDP_KNOB_TEXT, KNOB(redirect_uri), NULL},
    {"state_store", IDP_KNOB_CHOICE, KNOB(state_store), state_stores},
    {"cache_control", IDP_KNOB_CHOICE, KNOB(cache_control), cache_controls},
};
#undef KNOB
#define KNOB_COUNT (sizeof(knob_table) / sizeof(knob_table[0]))

void hx_app_knobs_defaults(struct hx_app_knobs *k)
{
    memset(k, 0, sizeof(*k));
    snprintf(k->cookie_password, sizeof(k->cookie_password),
             "reference-app-cookie-password-at-least-32-chars");
    k->cookie_password_set = true;
    snprintf(k->cookie_password_id, sizeof(k->cookie_password_id), "1");
    k->password_check = HX_PASSWORD_PER_REQUEST;
    k->refresh = HX_REFRESH_ON_FAILURE;
    k->dedupe = false;
    k->refresh_errors = HX_ERRORS_DELETE_COOKIE;
    k->retry_429_max_ms = 1000;
    k->refresh_where = HX_REFRESH_IN_MIDDLEWARE;
    snprintf(k->cookie_name, sizeof(k->cookie_name), "wos-session");
    k->cookie_secure = HX_SECURE_AUTO;
    k->cookie_samesite = HX_LAX;
    k->cookie_max_age_ms = 34560000LL * 1000;
    k->delete_same_attributes = true;
    k->jwks_cache_ms = 600000;
    k->jwks_refetch_unknown_kid = true;
    k->jwks_cooldown_ms = 30000;
    k->instances = 1;
    k->convex_jwks_cache_ms = 600000;
    k->convex_refetch_unknown_kid = false;
}

/* {"1": "old…", "2": "new…"}: iron-session seals with the highest id and
 * opens a seal with the password its id names. */
static enum idp_status apply_password_map(struct hx_app_knobs *k, const json_t *map,
                                          struct idp_error *err)
{
    size_t n = json_object_size(map);
    if (n < 1 || n > HX_APP_MAX_PASSWORDS)
        return idp_fail(err, IDP_INVALID,
                        "target knob cookie_password: a password map has 1 to %d entries",
                        HX_APP_MAX_PASSWORDS);
    const char *id;
    json_t *secret;
    long best = -1;
    k->password_count = 0;
    json_object_foreach((json_t *)map, id, secret) {
        char *end = NULL;
        long number = strtol(id, &end, 10);
        if (!id[0] || *end || number < 0 || strlen(id) >= sizeof(k->passwords[0].id))
            return idp_fail(err, IDP_INVALID,
                            "target knob cookie_password: password ids are whole numbers (\"%s\")",
                            id);
        if (!json_is_string(secret) || json_string_length(secret) >= sizeof(k->passwords[0].secret))
            return idp_fail(err, IDP_INVALID,
                            "target knob cookie_password: password %s must be a string under 256 "
                            "bytes", id);
        struct hx_app_password *p = &k->passwords[k->password_count++];
        snprintf(p->id, sizeof(p->id), "%s", id);
        snprintf(p->secret, sizeof(p->secret), "%s", json_string_value(secret));
        if (number > best) {
            best = number;
            memcpy(k->cookie_password, p->secret, strlen(p->secret) + 1);
            memcpy(k->cookie_password_id, p->id, strlen(p->id) + 1);
        }
    }
    k->cookie_password_set = true;
    return IDP_OK;
}

/* An instance's overrides: knobs, but not the ones that shape the set. */
static enum idp_status check_instance_override(const struct hx_app_knobs *base, const json_t *o,
                                               size_t index, struct idp_error *err)
{
    if (!json_is_object(o))
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu must be an object of "
                                          "knobs for that instance", index);
    if (json_object_get(o, "instances") || json_object_get(o, "balancer"))
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu: %s is set for the "
                                          "whole app, not per instance", index,
                        json_object_get(o, "instances") ? "instances" : "balancer");
    /* The backend is one server behind all instances. */
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)o, key, value) if (strncmp(key, "convex_", 7) == 0)
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu: %s is set for the "
                                          "app's backend, not per instance", index, key);
    struct hx_app_knobs scratch = *base;
    struct idp_error inner;
    if (hx_app_knobs_apply(&scratch, o, NULL, &inner))
        return idp_fail(err, IDP_INVALID, "target knob instances: entry %zu: %s", index,
                        inner.message);
    return IDP_OK;
}

enum idp_status hx_app_knobs_apply(struct hx_app_knobs *knobs, const json_t *obj,
                                   const char **bad_key, struct idp_error *err)
{
    json_t *rest = json_deep_copy(obj);
    if (!json_is_object(rest)) {
        json_decref(rest);
        return idp_fail(err, IDP_INVALID, "target must be a JSON object");
    }
    /* Not knobs: the target kind and the Convex providers, read by the runner. */
    json_object_del(rest, "app");
    json_object_del(rest, "providers");
    struct hx_app_knobs copy = *knobs;
    json_t *password = json_object_get(rest, "cookie_password");
    enum idp_status status = IDP_OK;
    if (json_is_null(password)) {
        copy.cookie_password_set = false;
        copy.cookie_password[0] = '\0';
        copy.password_count = 0;
        json_object_del(rest, "cookie_password");
    } else if (json_is_object(password)) {
        status = apply_password_map(&copy, password, err);
        if (status && bad_key)
            *bad_key = "cookie_password";
        json_object_del(rest, "cookie_password");
    } else if (password) {
        copy.cookie_password_set = true;
        copy.password_count = 0;
        snprintf(copy.cookie_password_id, sizeof(copy.cookie_password_id), "1");
    }
    /* "instances": a count, or one object of knob overrides per instance. */
    json_t *instances = json_incref(json_object_get(rest, "instances"));
    if (json_is_array(instances)) {
        json_object_set_new(rest, "instances", json_integer((json_int_t)json_array_size(instances)));
    }
    if (!status)
        status = idp_knobs_apply(knob_table, KNOB_COUNT, &copy, sizeof(copy), rest, "target knob",
                                 bad_key, err);
    if (!status && json_is_array(instances) && json_array_size(instances) >= 1 &&
        json_array_size(instances) <= HX_APP_MAX_INSTANCES) {
        size_t i;
        json_t *o;
        json_array_foreach(instances, i, o) {
            if (!status)
                status = check_instance_override(&copy, o, i, err);
        }
        if (status && bad_key)
            *bad_key = "instances";
    }
    json_decref(instances);
    if (!status && (copy.instances < 1 || copy.instances > HX_APP_MAX_INSTANCES)) {
        status = idp_fail(err, IDP_INVALID, "target knob instances: from 1 to %d",
                          HX_APP_MAX_INSTANCES);
        if (bad_key)
            *bad_key = "instances";
    }
    /* bad_key points into rest: re-point it at obj's own key string. */
    if (status && bad_key && *bad_key) {
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)obj, key, value) if (strcmp(key, *bad_key) == 0) *bad_key = key;
    }
    json_decref(rest);
    if (!status)
        *knobs = copy;
    return status;
}

json_t *hx_app_knob_names(void)
{
    return idp_knobs_names(knob_table, KNOB_COUNT);
}

json_t *hx_app_knobs_json(const struct hx_app_knobs *knobs)
{
    return idp_knobs_to_json(knob_table, KNOB_COUNT, knobs);
}

bool refapp_password_ok(const struct hx_app_knobs *k)
{
    return k->cookie_password_set && strlen(k->cookie_password) >= IDP_IRON_MIN_PASSWORD;
}
