/* The doctor's probes: one row per probe, grouped into catalogue families
 * (../../scenarios/README.md has the step and expectation vocabulary, the
 * catalogue is failure-modes.md). A probe's steps and expect are written in
 * JSON with ' for " and these placeholders, replaced from what the user
 * described: @protected (the page that needs a session), @api (a fetch()
 * endpoint, default the same page), @cookie (the session cookie's name),
 * @logout (the sign-out path). expect is the HEALTHY outcome: the probe
 * passes on an app without the bug. A failure whose text starts with one of
 * the `vulnerable` prefixes is the finding; any other failure (a sign-in
 * that did not work, a missing cookie to tamper with) means doctor could
 * not tell. */
#include <string.h>

#include "doctor.h"

const struct dr_family dr_families[] = {
    {"baseline", "sign in and refresh after the access token expires", "-", DR_RESILIENCE,
     "The app must refresh an expired access token (300 s at WorkOS) with the refresh token and keep the "
     "user signed in; every other probe builds on this.",
     "https://workos.com/docs/authkit/sessions"},
    {"parallel-refresh", "parallel requests spend one refresh token", "F5", DR_RESILIENCE,
     "De-duplicate refreshes: concurrent requests that find the same expired token share one in-flight "
     "refresh (per refresh token; across processes a shared lock or store), and on invalid_grant re-read "
     "the cookie and retry before signing the user out.",
     "https://github.com/workos/authkit-nextjs/issues/28"},
    {"refresh-errors", "IdP errors on refresh treated as logout", "F10", DR_RESILIENCE,
     "Only a 400 invalid_grant (or 401) from the refresh is terminal; on 5xx, 429, timeouts and network "
     "errors keep the session cookie and try again on the next request (authkit-nextjs PR #461, "
     "authkit-remix PR #88).",
     "https://github.com/workos/authkit-nextjs/pull/461"},
    {"rotation-persisted", "rotated refresh token not persisted", "F7", DR_RESILIENCE,
     "Write the rotated session (its new refresh token) back to the cookie on every refresh, from code "
     "that can set cookies (middleware or a route handler, not a Server Component render).",
     "https://github.com/workos/authkit-nextjs/issues/260"},
    {"cookie-size", "session cookie over 4096 bytes with large claim sets", "F13", DR_RESILIENCE,
     "Keep the session cookie under 4096 bytes: trim custom claims and the JWT template, split the seal "
     "over several cookies (chunking), or keep the session server-side.",
     "https://github.com/workos/authkit-nextjs/issues/404"},
    {"cookie-attributes", "Secure / SameSite / Domain over http, sign-out", "F14 F15 F16", DR_RESILIENCE,
     "Set Secure only when the app is served over https (derive it from the redirect URI's scheme), keep "
     "SameSite=Lax for a top-level app (None needs Secure), leave Domain unset unless the cookie is shared "
     "across subdomains, and delete the cookie with the attributes it was set with.",
     "https://github.com/workos/authkit-nextjs/pull/25"},
    {"issuer-audience", "issuer shape and audience claim", "F18 F17 F1", DR_RESILIENCE,
     "Do not pin the issuer to one shape: accept what your WorkOS environment issues (per-client "
     "https://api.workos.com/user_management/<client_id>, legacy https://api.workos.com/, or your custom "
     "auth domain, from configuration such as WORKOS_ISSUER), and ignore aud unless your JWT template sets it.",
     "https://github.com/workos/authkit-react-router/issues/83"},
    {"jwks-rotation", "signing-key rotation with a stale JWKS cache", "F20", DR_RESILIENCE,
     "Refetch the JWKS when a token's kid is not in the cached set (jose's createRemoteJWKSet does, with a "
     "cooldown) and do not cache it for longer than keys are published ahead of use.",
     "https://github.com/workos/workos-node/pull/1196"},
    {"clock-skew", "clock skew between the IdP and the app", "F19", DR_RESILIENCE,
     "Allow a clock tolerance for nbf/exp (jose clockTolerance, 30-60 s), keep servers NTP-synced, and "
     "decide expiry from exp with a refresh buffer.",
     "https://github.com/workos/authkit-nextjs/issues/470"},
    {"expiry-edges", "requests at the access token's expiry", "F8 F19", DR_RESILIENCE,
     "Treat the token as expired at exp, refresh before serving, and never answer signed-out for a request "
     "that arrives at the edge while the session is valid.",
     "https://github.com/get-convex/convex-backend/issues/259"},
    {"cookie-password", "cookie password changed across a restart", "F3", DR_RESILIENCE,
     "A cookie sealed with another WORKOS_COOKIE_PASSWORD must unseal to \"no session\" (a clean sign-in), "
     "never a 500 or a loop; rotate passwords knowingly (at least 32 characters, validated at boot).",
     "https://github.com/workos/authkit-nextjs/blob/main/src/session.ts"},
    {"revoked-session", "session revoked at the IdP (negative control)", "F22", DR_NEGATIVE_CONTROL,
     "When the refresh is refused (invalid_grant, session ended) sign the user out; do not keep serving "
     "from a cached token past its expiry.",
     "https://workos.com/blog/workos-sessions-api-session-revocation-sign-out-everywhere"},
    {"session-limits", "maximum session length and inactivity (negative control)", "F23",
     DR_NEGATIVE_CONTROL,
     "Sign the user out when the IdP ends the session at its maximum length or inactivity timeout.",
     "https://workos.com/blog/session-length-access-token-duration-inactivity-timeout"},
    {"forged-tokens", "forged access tokens (security control)", "F24", DR_SECURITY_CONTROL,
     "Verify every access token against the IdP's JWKS with RS256 only (never alg none or HS256), reject "
     "unknown kids after a refetch, check exp, and never decode a token without verifying it.",
     "https://github.com/doretox/atomicvulns/pull/24"},
    {"tampered-cookie", "tampered session cookie (security control)", "F24", DR_SECURITY_CONTROL,
     "A session cookie whose seal does not open must be treated as no session (unseal to nothing), never "
     "trusted, never a crash.",
     "https://github.com/vvo/iron-session/blob/main/src/core.ts"},
};
const size_t dr_family_count = sizeof(dr_families) / sizeof(dr_families[0]);

/* Shared pieces, as C string concatenation. */
#define SIGN_IN "{'sign_in': true}"
#define LOAD "{'load': '@protected'}"
#define PARALLEL3(hold)                                                                            \
    "{'parallel': [{'api': '@api'}, {'api': '@api'}, {'api': '@api'}],"                            \
    " 'barrier': {'route': 'authenticate', 'grant_type': 'refresh_token', 'hold': " hold           \
    ", 'gap': '100ms', 'timeout': '5s'}}"
/* A refresh that meets a fault, then one more page once it is over. */
#define REFRESH_FAULT(rule)                                                                        \
    "[" SIGN_IN ", {'advance': '6m'}, {'fault': " rule "},"                                        \
    " {'load': '@protected', 'note': 'the refresh meets the fault'},"                              \
    " {'load': '@protected', 'note': 'the fault is over'}]"
/* A forged token from the refresh; then every refresh is refused, so an app
 * that checks the token can only sign out, and one that trusts it stays in. */
#define FORGED(forge)                                                                              \
    "[" SIGN_IN ", " LOAD ","                                                                      \
    " {'fault': {'route': 'authenticate', 'grant_type': 'refresh_token', 'action': 'token', " forge \
    "}},"                                                                                          \
    " {'advance': '6m'}, {'load': '@protected', 'note': 'the refresh answers a forged access token'},"   \
    " {'clear_faults': true},"                                                                     \
    " {'fault': {'route': 'authenticate', 'grant_type': 'refresh_token', 'status': 400,"            \
    "   'body': {'error': 'invalid_grant', 'error_description': 'doctor: no further refresh'}}},"   \
    " {'load': '@protected', 'note': 'only an app that trusted the forged token is still signed in'}]"
#define TAMPER(mode)                                                                               \
    "[" SIGN_IN ", " LOAD ", {'tamper_cookie': {'name': '@cookie', 'mode': '" mode "'}}, " LOAD "]"

#define SURVIVES "{'session': 'survives'}"
#define SURVIVES_NEVER_LOST "{'session': 'survives', 'never_lost': true}"
#define LOST "{'session': 'lost'}"

const struct dr_probe dr_probes[] = {
    {"baseline", "sign-in-and-refresh", 0,
     "sign in, load the page, twice let the access token expire (6 min) and load it again",
     "the app does not keep a session across one access-token lifetime",
     "[" SIGN_IN ", " LOAD ", {'advance': '6m'}, " LOAD ", {'advance': '6m'}, " LOAD "]",
     "{'session': 'survives', 'never_lost': true}", NULL, "session:|never_lost:", NULL},

    {"parallel-refresh", "strict", 0,
     "strict rotation (WorkOS Emulate, or a grace window that has passed): three parallel fetch() calls "
     "after expiry, lined up at the IdP",
     "a refresh token was spent twice and the user was signed out or a call was answered signed-out",
     "[{'idp_settings': {'refresh_mode': 'strict'}}, " SIGN_IN ", {'advance': '6m'}, " PARALLEL3("3")
     ", {'reload': '@protected'}]",
     SURVIVES_NEVER_LOST, NULL, "session:|never_lost:", NULL},
    {"parallel-refresh", "grace", 0,
     "production's 30 s replay grace: the same three parallel calls",
     "even inside the IdP's grace window the parallel refreshes sign the user out",
     "[{'idp_settings': {'refresh_mode': 'grace', 'refresh_grace': '30s'}}, " SIGN_IN
     ", {'advance': '6m'}, " PARALLEL3("3") ", {'reload': '@protected'}]",
     SURVIVES_NEVER_LOST, NULL, "session:|never_lost:", NULL},

    {"refresh-errors", "503", 0, "the refresh after expiry gets a 503 once",
     "a 503 from the IdP signed the user out",
     REFRESH_FAULT("{'route': 'authenticate', 'grant_type': 'refresh_token', 'status': 503, 'count': 1}"),
     SURVIVES, NULL, "session:", NULL},
    {"refresh-errors", "429", 0, "the refresh gets a 429 with Retry-After: 1 once",
     "a 429 from the IdP signed the user out",
     REFRESH_FAULT("{'route': 'authenticate', 'grant_type': 'refresh_token', 'status': 429, "
                   "'retry_after': '1s', 'count': 1}"),
     SURVIVES, NULL, "session:", NULL},
    {"refresh-errors", "timeout", 0,
     "the refresh gets no answer for 2 s, then the connection closes (a timeout or a dropped connection)",
     "an IdP that did not answer signed the user out",
     REFRESH_FAULT("{'route': 'authenticate', 'grant_type': 'refresh_token', 'action': 'hang', "
                   "'for': '2s', 'count': 1}"),
     SURVIVES, NULL, "session:", NULL},
    {"refresh-errors", "reply-lost-after-commit", 0,
     "the IdP rotates the refresh token, then the reply is lost (503 after commit); grace window on",
     "a reply lost after the IdP rotated the token signed the user out",
     REFRESH_FAULT("{'route': 'authenticate', 'grant_type': 'refresh_token', 'status': 503, "
                   "'phase': 'after', 'count': 1}"),
     SURVIVES, NULL, "session:", NULL},

    {"rotation-persisted", "strict-three-refreshes", 0,
     "strict rotation, three refreshes 6 minutes apart, one request each",
     "the app presented a spent refresh token again: the rotated one was not saved",
     "[{'idp_settings': {'refresh_mode': 'strict'}}, " SIGN_IN ", {'advance': '6m'}, " LOAD
     ", {'advance': '6m'}, " LOAD ", {'advance': '6m'}, " LOAD "]",
     "{'session': 'survives', 'idp': {'token_presented_twice': false}}", NULL,
     "session:|idp token_presented_twice", NULL},

    {"cookie-size", "many-permissions", 0,
     "strict rotation; the refreshed token carries 60 permissions and 40 feature flags (a large claim set)",
     "the session cookie outgrew 4096 bytes and the browser dropped it",
     "[{'idp_settings': {'refresh_mode': 'strict'}}, " SIGN_IN ","
     " {'fault': {'route': 'authenticate', 'grant_type': 'refresh_token', 'action': 'token',"
     "   'bloat': {'permissions': 60, 'feature_flags': 40}}},"
     " {'advance': '6m'}, " LOAD ", {'advance': '6m'}, " LOAD "]",
     SURVIVES, NULL, "session:", NULL},

    {"cookie-attributes", "safari-over-http", DR_NEEDS_HTTP,
     "WebKit's cookie rules over plain http: sign in, refresh, load (a Secure cookie is dropped here, "
     "SameSite=None without Secure everywhere)",
     "Safari (and every browser on a non-localhost http host) drops the session cookie",
     "[" SIGN_IN ", " LOAD ", {'advance': '6m'}, " LOAD "]",
     SURVIVES, "{'profile': 'webkit'}", "session:|sign_in:", NULL},
    {"cookie-attributes", "sign-out", DR_NEEDS_LOGOUT,
     "sign in, sign out through the app, load the page (negative control)",
     "after sign-out the page still shows the user: the cookie was not deleted",
     "[" SIGN_IN ", " LOAD ", {'sign_out': {'path': '@logout'}}, " LOAD "]",
     LOST, NULL, "session:", NULL},

    {"issuer-audience", "legacy-issuer", 0,
     "tokens with the legacy issuer https://api.workos.com/ instead of the per-client one; three loads",
     "a genuine token with another WorkOS issuer shape was rejected (logout or a refresh on every request)",
     "[{'idp_settings': {'issuer': 'legacy'}}, " SIGN_IN ", " LOAD ", " LOAD ", " LOAD "]",
     "{'session': 'survives', 'idp': {'refreshes': 0}}", NULL, "session:|idp refreshes", NULL},
    {"issuer-audience", "audience-client-id", 0,
     "tokens with aud = the client id (a JWT template); three loads",
     "a genuine token with an aud claim was rejected (logout or a refresh on every request)",
     "[{'idp_settings': {'aud': 'client_id'}}, " SIGN_IN ", " LOAD ", " LOAD ", " LOAD "]",
     "{'session': 'survives', 'idp': {'refreshes': 0}}", NULL, "session:|idp refreshes", NULL},

    {"jwks-rotation", "sign-with-new-key-at-once", 0,
     "the IdP rotates its signing key and signs with the new one at once; after the refresh, two loads",
     "the app kept a stale JWKS: tokens from the new key were rejected (logout or a refresh on every request)",
     "[" SIGN_IN ", " LOAD ", {'rotate_keys': {'publish_lead': '0s', 'retire_after': '1h'}},"
     " {'advance': '6m'}, " LOAD ", {'advance': '1m'}, " LOAD ", " LOAD "]",
     "{'session': 'survives', 'idp': {'refreshes': 1}}", NULL, "session:|idp refreshes", NULL},

    {"clock-skew", "idp-behind-2m", 0,
     "the IdP's clock is 2 minutes behind the app's: tokens look 2 minutes older; loads over 6 minutes",
     "an IdP clock 2 minutes behind signed the user out or refreshed on every request",
     "[{'idp_settings': {'clock_offset': '-2m'}}, " SIGN_IN ", " LOAD ", {'advance': '1m'}, " LOAD
     ", {'advance': '1m'}, " LOAD ", {'advance': '4m'}, " LOAD ", " LOAD "]",
     "{'session': 'survives', 'never_lost': true, 'idp': {'refreshes': {'max': 1}}}", NULL,
     "session:|never_lost:|idp refreshes", NULL},
    {"clock-skew", "idp-ahead-30s-nbf", 0,
     "the IdP's clock is 30 s ahead and its tokens carry nbf (a JWT template): three loads",
     "tokens from an IdP 30 s ahead were rejected as not yet valid (logout or a refresh on every request)",
     "[{'idp_settings': {'clock_offset': '30s', 'nbf': true}}, " SIGN_IN ", " LOAD ", " LOAD ", " LOAD "]",
     "{'session': 'survives', 'idp': {'refreshes': 0}}", NULL, "session:|idp refreshes", NULL},

    {"expiry-edges", "around-exp", 0,
     "loads at 1 s before the access token's expiry, at it, 1 s after, then the same for the next token",
     "a request at the token's expiry was answered signed-out",
     "[" SIGN_IN ", {'advance': '4m59s'}, " LOAD ", {'advance': '1s'}, " LOAD ", {'advance': '1s'}, " LOAD
     ", {'advance': '4m58s'}, " LOAD ", {'advance': '1s'}, " LOAD ", {'advance': '1s'}, " LOAD "]",
     SURVIVES_NEVER_LOST, NULL, "session:|never_lost:", NULL},

    {"cookie-password", "changed-across-restart", DR_NEEDS_START,
     "sign in, restart the app with another WORKOS_COOKIE_PASSWORD, load the page, sign in again",
     "after a cookie-password change the user cannot sign in again (a 500 or a loop on the old cookie)",
     "[" SIGN_IN ", " LOAD ","
     " {'restart_app': {'env': {'WORKOS_COOKIE_PASSWORD': 'doctor-another-cookie-password-0123456789abcdef'}}},"
     " {'load': '@protected', 'note': 'the old cookie no longer unseals'},"
     " {'expect': {'signed_in': false}, 'note': 'the new password is in effect'}, " SIGN_IN ", " LOAD "]",
     SURVIVES, NULL, "session:|sign_in:", 
     "[" SIGN_IN ", " LOAD ","
     " {'app': {'cookie_password': 'doctor-another-cookie-password-0123456789abcdef'}},"
     " {'load': '@protected', 'note': 'the old cookie no longer unseals'},"
     " {'expect': {'signed_in': false}, 'note': 'the new password is in effect'}, " SIGN_IN ", " LOAD "]"},

    {"revoked-session", "admin-revoke", 0,
     "access tokens of 60 s; the session is revoked at the IdP; 5 minutes later, two loads",
     "the app kept the user signed in after the IdP revoked the session",
     "[{'idp_settings': {'access_ttl': '60s'}}, " SIGN_IN ", {'revoke_session': true},"
     " {'advance': '5m'}, " LOAD ", " LOAD "]",
     LOST, NULL, "session:", NULL},

    {"session-limits", "max-session-length", 0,
     "a 30-minute maximum session length: loads every 6 minutes, then past the limit",
     "the app kept the user signed in past the IdP's maximum session length",
     "[{'idp_settings': {'session_max_age': '30m'}}, " SIGN_IN ","
     " {'repeat': {'times': 4, 'steps': [{'advance': '6m'}, " LOAD "]}},"
     " {'expect': {'signed_in': true}, 'note': 'still inside the limit'},"
     " {'advance': '7m'}, " LOAD ", " LOAD "]",
     LOST, NULL, "session:", NULL},
    {"session-limits", "inactivity-timeout", 0,
     "a 20-minute inactivity timeout: 21 minutes without a request, then two loads",
     "the app kept the user signed in after the IdP's inactivity timeout",
     "[{'idp_settings': {'inactivity_timeout': '20m'}}, " SIGN_IN ", {'advance': '21m'}, " LOAD ", " LOAD "]",
     LOST, NULL, "session:", NULL},

    {"forged-tokens", "alg-none", 0, "the refresh answers an unsigned token (alg none)",
     "the app accepted an unsigned access token", FORGED("'alg': 'none'"), LOST, NULL, "session:", NULL},
    {"forged-tokens", "hs256-key-confusion", 0,
     "the refresh answers a token signed HS256 with the RSA public key",
     "the app accepted an HS256 token keyed with the public key (algorithm confusion)",
     FORGED("'alg': 'HS256'"), LOST, NULL, "session:", NULL},
    {"forged-tokens", "unpublished-key", 0,
     "the refresh answers a token signed with a key that is not in the JWKS",
     "the app accepted a token signed with a key the IdP never published",
     FORGED("'sign': 'unpublished'"), LOST, NULL, "session:", NULL},
    {"forged-tokens", "right-kid-wrong-key", 0,
     "the refresh answers a token with the published kid but signed with another key",
     "the app accepted a token whose signature does not verify",
     FORGED("'sign': 'wrong_key'"), LOST, NULL, "session:", NULL},
    {"forged-tokens", "tampered-payload", 0, "the refresh answers a token whose sub was changed after signing",
     "the app accepted a token with a tampered payload", FORGED("'tamper': true"), LOST, NULL, "session:",
     NULL},
    {"forged-tokens", "expired", 0, "the refresh answers a token that expired a minute ago",
     "the app accepted an expired token", FORGED("'expired': true"), LOST, NULL, "session:", NULL},

    {"tampered-cookie", "one-character-changed", 0, "one character of the session cookie changed",
     "the app accepted a session cookie with one character changed", TAMPER("flip"), LOST, NULL,
     "session:", NULL},
    {"tampered-cookie", "truncated", 0, "the session cookie cut in half",
     "the app accepted a truncated session cookie", TAMPER("truncate"), LOST, NULL, "session:", NULL},
    {"tampered-cookie", "garbage", 0, "the session cookie replaced by a malformed seal",
     "the app accepted a garbage session cookie", TAMPER("garbage"), LOST, NULL, "session:", NULL},
};
const size_t dr_probe_count = sizeof(dr_probes) / sizeof(dr_probes[0]);

const struct dr_family *dr_family_find(const char *id)
{
    for (size_t i = 0; i < dr_family_count; i++)
        if (strcmp(dr_families[i].id, id) == 0)
            return &dr_families[i];
    return NULL;
}
