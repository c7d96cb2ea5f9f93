/* Convex-style backends (backend.h): provider matching, then the shared
 * verifier at the backend's own clock. */
#include "backend.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "duration.h"
#include "knobs.h"

#define SETTING(f) offsetof(struct hx_backend_settings, f), sizeof(((struct hx_backend_settings *)0)->f)
static const struct idp_knob setting_table[] = {
    {"jwks_cache", IDP_KNOB_DURATION, SETTING(jwks_cache_ms), NULL},
    {"refetch_unknown_kid", IDP_KNOB_BOOLEAN, SETTING(refetch_unknown_kid), NULL},
    {"jwks_cooldown", IDP_KNOB_DURATION, SETTING(jwks_cooldown_ms), NULL},
    {"clock_offset", IDP_KNOB_SIGNED_DURATION, SETTING(clock_offset_ms), NULL},
    {"leeway", IDP_KNOB_DURATION, SETTING(leeway_ms), NULL},
};
#undef SETTING
#define SETTING_COUNT (sizeof(setting_table) / sizeof(setting_table[0]))

/* Keys of an entry that are not settings. */
static const char *const entry_keys[] = {"app", "providers", NULL};

bool hx_backend_name_ok(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len < 48 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

void hx_backend_settings_defaults(struct hx_backend_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->jwks_cache_ms = 600000;
    s->refetch_unknown_kid = false;
    s->jwks_cooldown_ms = 300000;
}

static enum idp_status fail_at(struct idp_error *err, const char *pointer, const char *message)
{
    idp_fail(err, IDP_INVALID, "%s", message);
    snprintf(err->pointer, sizeof(err->pointer), "%s", pointer);
    return IDP_INVALID;
}

enum idp_status hx_backend_entry_apply(struct hx_backend_settings *settings, const json_t *entry,
                                       struct idp_error *err)
{
    if (!json_is_object(entry))
        return fail_at(err, "", "a backend is an object of app, providers and settings "
                                "(leeway, clock_offset, jwks_cache, refetch_unknown_kid, "
                                "jwks_cooldown)");
    const json_t *app = json_object_get(entry, "app");
    if (app && (!json_is_string(app) || !json_string_length(app)))
        return fail_at(err, "/app", "a backend's app names the app whose tokens it receives");
    const json_t *providers = json_object_get(entry, "providers");
    if (providers && !hx_backend_providers_ok(providers))
        return fail_at(err, "/providers", "a backend's providers is an array of {\"issuer\": …, "
                                          "\"application_id\"?: …} strings");
    json_t *rest = json_deep_copy(entry);
    for (int k = 0; entry_keys[k]; k++)
        json_object_del(rest, entry_keys[k]);
    enum idp_status status = idp_knobs_apply(setting_table, SETTING_COUNT, settings,
                                             sizeof(*settings), rest, "backend setting", NULL, err);
    json_decref(rest);
    return status;
}

bool hx_backend_providers_ok(const json_t *providers)
{
    bool ok = json_is_array(providers);
    size_t i;
    json_t *p;
    json_array_foreach(providers, i, p) {
        const char *key;
        json_t *v;
        ok = ok && json_is_object(p) && json_is_string(json_object_get(p, "issuer"));
        json_object_foreach(p, key, v) ok = ok && json_is_string(v) &&
                                           (strcmp(key, "issuer") == 0 ||
                                            strcmp(key, "application_id") == 0);
    }
    return ok;
}

json_t *hx_backend_entry_keys(void)
{
    json_t *names = idp_knobs_names(setting_table, SETTING_COUNT);
    for (int k = 0; entry_keys[k]; k++)
        json_array_append_new(names, json_string(entry_keys[k]));
    return names;
}

json_t *hx_backend_default_providers(void)
{
    return json_pack("[{s:s, s:s}, {s:s}]", "issuer", "${issuer_base}/", "application_id",
                     "${client_id}", "issuer", "${issuer_base}/user_management/${client_id}");
}

/* The verifier's reasons (all but "ok"), then a backend's own. */
#define REASON_COUNT (HX_VERIFY_JWKS_UNAVAILABLE + 1)
static const char *reasons[REASON_COUNT + 1];
static pthread_once_t reasons_once = PTHREAD_ONCE_INIT;

static void list_reasons(void)
{
    for (int r = HX_VERIFY_MALFORMED; r <= HX_VERIFY_JWKS_UNAVAILABLE; r++)
        reasons[r - 1] = hx_verify_name((enum hx_verify)r);
    reasons[REASON_COUNT - 1] = "no_provider";
    reasons[REASON_COUNT] = NULL;
}

const char *const *hx_backend_reason_names(void)
{
    pthread_once(&reasons_once, list_reasons);
    return reasons;
}

bool hx_backend_reason_known(const char *reason)
{
    for (const char *const *r = hx_backend_reason_names(); *r; r++)
        if (strcmp(*r, reason) == 0)
            return true;
    return false;
}

void hx_backend_init(struct hx_backend *b, const char *component, bool named,
                     const struct hx_backend_settings *settings, const json_t *providers,
                     const char *jwks_url, struct idp_clock *clock, struct hx_timeline *timeline)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->component, sizeof(b->component), "%s", component);
    b->named = named;
    b->settings = *settings;
    b->providers = json_is_array(providers) ? json_deep_copy(providers) : json_array();
    b->clock = clock;
    b->timeline = timeline;
    pthread_mutex_init(&b->lock, NULL);
    hx_jwks_cache_init(&b->jwks, jwks_url, settings->jwks_cache_ms, settings->refetch_unknown_kid,
                       settings->jwks_cooldown_ms);
}

void hx_backend_cleanup(struct hx_backend *b)
{
    json_decref(b->providers);
    b->providers = NULL;
    hx_jwks_cache_cleanup(&b->jwks);
    pthread_mutex_destroy(&b->lock);
}

/* A line under the backend's name. An app's implicit backend keeps the
 * "convex: " its lines always had. */
static void note(struct hx_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct hx_backend *b, const char *fmt, ...)
{
    char text[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hx_timeline_add_data(b->timeline, idp_clock_now_ms(b->clock), "app",
                         json_pack("{s:s}", "component", b->component), "%s%s",
                         b->named ? "" : "convex: ", text);
}

static void outcome(struct hx_backend *b, const char *what, const char *reason)
{
    pthread_mutex_lock(&b->lock);
    if (strcmp(what, "accepted") == 0)
        b->accepted++;
    else if (strcmp(what, "rejected") == 0)
        b->rejected++;
    else
        b->anonymous++;
    snprintf(b->last, sizeof(b->last), "%s", what);
    if (reason)
        snprintf(b->last_reason, sizeof(b->last_reason), "%s", reason);
    pthread_mutex_unlock(&b->lock);
}

static int reject(struct hx_backend *b, const char *reason, const char *message, json_t **body)
{
    outcome(b, "rejected", reason);
    *body = json_pack("{s:s, s:s}", "error", "AuthError", "message", message);
    return 401;
}

int hx_backend_query(struct hx_backend *b, const char *authorization, json_t **body)
{
    const char *token = authorization && strncasecmp(authorization, "Bearer ", 7) == 0
                            ? authorization + 7 : NULL;
    if (!token) {
        outcome(b, "anonymous", NULL);
        *body = json_pack("{s:n}", "identity");
        return 200;
    }
    /* The first provider whose issuer is iss and, when it has an
     * applicationID, whose applicationID is aud. */
    json_t *claims = hx_token_claims(token);
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const json_t *aud = json_object_get(claims, "aud");
    const json_t *match = NULL;
    char listing[1024] = "";
    size_t i;
    json_t *p;
    json_array_foreach(b->providers, i, p) {
        const char *issuer = json_string_value(json_object_get(p, "issuer"));
        const char *app_id = json_string_value(json_object_get(p, "application_id"));
        size_t used = strlen(listing);
        snprintf(listing + used, sizeof(listing) - used, "%sCustomJWT(issuer=%s, app_id=%s)",
                 used ? ", " : "", issuer ? issuer : "?", app_id ? app_id : "none");
        if (!match && iss && issuer && strcmp(iss, issuer) == 0 &&
            (!app_id || (json_is_string(aud) && strcmp(json_string_value(aud), app_id) == 0)))
            match = p;
    }
    if (!match) {
        char message[1400];
        snprintf(message, sizeof(message),
                 "NoAuthProvider: No auth provider found matching the given token. Check that "
                 "your JWT's issuer and audience match one of your configured providers: [%s]",
                 listing);
        note(b, "%s", message);
        json_decref(claims);
        return reject(b, "no_provider", message, body);
    }
    char why[512];
    json_t *verified = NULL;
    const char *app_id = json_string_value(json_object_get(match, "application_id"));
    /* The backend's own clock and leeway. */
    enum hx_verify v = hx_verify_token(&b->jwks, token,
                                       idp_clock_now_ms(b->clock) + b->settings.clock_offset_ms,
                                       b->settings.leeway_ms, iss, app_id, &verified, why,
                                       sizeof(why));
    json_decref(claims);
    if (v != HX_VERIFY_OK) {
        note(b, "token rejected: %s", why);
        return reject(b, hx_verify_name(v), why, body);
    }
    const char *subject = json_string_value(json_object_get(verified, "sub"));
    const char *issuer = json_string_value(json_object_get(verified, "iss"));
    if (b->named)
        note(b, "accepted the token of %s (issuer %s)", subject ? subject : "?",
             issuer ? issuer : "?");
    outcome(b, "accepted", NULL);
    *body = json_pack("{s:{s:s?, s:s?}}", "identity", "subject", subject, "issuer", issuer);
    json_decref(verified);
    return 200;
}

void hx_backend_describe_clock(const struct hx_backend *b, char *out, size_t size)
{
    int64_t off = b->settings.clock_offset_ms;
    out[0] = '\0';
    if (!off && !b->settings.leeway_ms)
        return;
    char d[32], l[32];
    idp_duration_format(off < 0 ? -off : off, d);
    idp_duration_format(b->settings.leeway_ms, l);
    snprintf(out, size, "%s %s%s (leeway %s)", b->component, off < 0 ? "-" : "+", d, l);
}

json_t *hx_backend_stats(struct hx_backend *b)
{
    pthread_mutex_lock(&b->jwks.lock);
    unsigned fetches = b->jwks.fetches;
    pthread_mutex_unlock(&b->jwks.lock);
    pthread_mutex_lock(&b->lock);
    json_t *stats = json_pack("{s:i, s:i, s:i, s:i, s:s, s:s}", "accepted", (int)b->accepted,
                              "rejected", (int)b->rejected, "anonymous", (int)b->anonymous,
                              "jwks_fetches", (int)fetches, "last", b->last, "reason",
                              b->last_reason);
    pthread_mutex_unlock(&b->lock);
    return stats;
}
