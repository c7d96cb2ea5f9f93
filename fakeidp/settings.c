#include "settings.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "knobs.h"

static const char *const refresh_modes[] = {"grace", "strict", "revoke_family",
                                            "concurrent_429", NULL};
static const char *const issuer_modes[] = {"per_client", "legacy", "custom", NULL};
static const char *const aud_modes[] = {"absent", "client_id", "value", NULL};

#define FIELD(f) offsetof(struct idp_settings, f), sizeof(((struct idp_settings *)0)->f)
static const struct idp_knob rows[] = {
    {"access_ttl", IDP_KNOB_DURATION, FIELD(access_ttl_ms), NULL},
    {"refresh_ttl", IDP_KNOB_DURATION, FIELD(refresh_ttl_ms), NULL},
    {"session_max_age", IDP_KNOB_DURATION, FIELD(session_max_age_ms), NULL},
    {"inactivity_timeout", IDP_KNOB_DURATION, FIELD(inactivity_timeout_ms), NULL},
    {"code_ttl", IDP_KNOB_DURATION, FIELD(code_ttl_ms), NULL},
    {"refresh_mode", IDP_KNOB_CHOICE, FIELD(refresh_mode), refresh_modes},
    {"refresh_grace", IDP_KNOB_DURATION, FIELD(refresh_grace_ms), NULL},
    {"retry_after", IDP_KNOB_DURATION, FIELD(retry_after_ms), NULL},
    {"issuer", IDP_KNOB_CHOICE, FIELD(issuer_mode), issuer_modes},
    {"issuer_base", IDP_KNOB_TEXT, FIELD(issuer_base), NULL},
    {"issuer_url", IDP_KNOB_TEXT, FIELD(issuer_url), NULL},
    {"aud", IDP_KNOB_CHOICE, FIELD(aud_mode), aud_modes},
    {"aud_value", IDP_KNOB_TEXT, FIELD(aud_value), NULL},
    {"legacy_claims", IDP_KNOB_BOOLEAN, FIELD(legacy_claims), NULL},
    {"clock_offset", IDP_KNOB_SIGNED_DURATION, FIELD(clock_offset_ms), NULL},
    {"nbf", IDP_KNOB_BOOLEAN, FIELD(nbf), NULL},
    {"jwks_cache_control", IDP_KNOB_TEXT, FIELD(jwks_cache_control), NULL},
    {"refresh_cookie", IDP_KNOB_BOOLEAN, FIELD(refresh_cookie), NULL},
    {"refresh_cookie_name", IDP_KNOB_TEXT, FIELD(refresh_cookie_name), NULL},
    {"session_cookie_domain", IDP_KNOB_TEXT, FIELD(session_cookie_domain), NULL},
    {"login_page", IDP_KNOB_BOOLEAN, FIELD(login_page), NULL},
    {"journal_size", IDP_KNOB_INTEGER, FIELD(journal_size), NULL},
    {"max_sessions", IDP_KNOB_INTEGER, FIELD(max_sessions), NULL},
    {"max_body_bytes", IDP_KNOB_INTEGER, FIELD(max_body_bytes), NULL},
};
#undef FIELD

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
    s->journal_size = 5000;
    s->max_sessions = 100000;
    s->max_body_bytes = 1 << 20;
}

const char *idp_refresh_mode_name(int mode)
{
    return mode >= 0 && mode < 4 ? refresh_modes[mode] : "?";
}

enum idp_status idp_settings_apply(struct idp_settings *settings, const json_t *obj,
                                   struct idp_error *err)
{
    return idp_knobs_apply(rows, ROW_COUNT, settings, sizeof(*settings), obj, "setting", NULL,
                           err);
}

json_t *idp_settings_to_json(const struct idp_settings *s)
{
    return idp_knobs_to_json(rows, ROW_COUNT, s);
}
