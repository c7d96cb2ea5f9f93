/* Server behaviour that scenarios and users tune: token lifetimes, the
 * refresh-token mode, issuer and audience forms, limits. Production's
 * behaviour is the default. Settings are a table of rows, so the config file,
 * the admin API and scenario files all apply and print them the same way. */
#ifndef IDP_SETTINGS_H
#define IDP_SETTINGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

enum idp_refresh_mode {
    IDP_REFRESH_GRACE,         /* rotate; a replay within the grace gets the same pair */
    IDP_REFRESH_STRICT,        /* single use; a replay gets invalid_grant */
    IDP_REFRESH_REVOKE_FAMILY, /* a replay revokes the whole session */
    IDP_REFRESH_CONCURRENT_429 /* a replay within the grace gets 429 + Retry-After */
};

enum idp_issuer_mode { IDP_ISSUER_PER_CLIENT, IDP_ISSUER_LEGACY, IDP_ISSUER_CUSTOM };
enum idp_aud_mode { IDP_AUD_ABSENT, IDP_AUD_CLIENT_ID, IDP_AUD_VALUE };

struct idp_settings {
    int64_t access_ttl_ms;
    int64_t refresh_ttl_ms;       /* 0: refresh tokens live as long as the session */
    int64_t session_max_age_ms;   /* 0: no maximum */
    int64_t inactivity_timeout_ms;/* 0: no inactivity timeout */
    int64_t code_ttl_ms;
    int refresh_mode;             /* enum idp_refresh_mode */
    int64_t refresh_grace_ms;
    int64_t retry_after_ms;       /* Retry-After for concurrent_429 */
    int issuer_mode;              /* enum idp_issuer_mode */
    char issuer_base[256];        /* legacy / per-client issuers start with it */
    char issuer_url[256];         /* the custom auth domain issuer */
    int aud_mode;                 /* enum idp_aud_mode */
    char aud_value[256];
    bool legacy_claims;           /* tokens without auth_time and client_id (older WorkOS) */
    int64_t clock_offset_ms;      /* the IdP's clock minus the scenario's (signed) */
    bool nbf;                     /* tokens carry nbf = iat */
    char jwks_cache_control[128]; /* empty: no Cache-Control header */
    bool refresh_cookie;          /* browser clients: HttpOnly refresh cookie */
    char refresh_cookie_name[64];
    char session_cookie_domain[128]; /* Domain of the refresh and workos-has-session cookies
                                        (a custom auth domain shared with the app), or "" */
    bool login_page;              /* authorize shows a sign-in page with a form; its POST
                                     signs in and redirects to redirect_uri */
    int64_t journal_size;
    int64_t max_sessions;
    int64_t max_body_bytes;
};

void idp_settings_defaults(struct idp_settings *settings);

/* Applies every key of obj (a JSON object of setting name -> value). Unknown
 * names and wrong types fail with a message naming the setting; on failure
 * settings is unchanged. */
enum idp_status idp_settings_apply(struct idp_settings *settings, const json_t *obj,
                                   struct idp_error *err);

/* All settings as a JSON object (new reference), durations in human form. */
json_t *idp_settings_to_json(const struct idp_settings *settings);

const char *idp_refresh_mode_name(int mode);

#endif
