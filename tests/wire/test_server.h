/* Support for the wire tests: a real fakeidp server in this process on
 * 127.0.0.1 and an ephemeral port, with a frozen virtual clock shared with
 * the test, and helpers that speak HTTP to it the way the SDKs and the
 * browser do (authorize with PKCE, code exchange, refresh, admin API,
 * journal). Every helper fails the current cmocka test on a broken
 * precondition, so the tests read as the behaviour they check.
 *
 * Include after <cmocka.h>. */
#ifndef WIRE_TEST_SERVER_H
#define WIRE_TEST_SERVER_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "http_client.h"
#include "server.h"

/* 2026-01-15T12:00:00Z: where every server's virtual clock starts, frozen. */
#define TS_T0_MS 1768478400000LL
#define TS_REDIRECT "http://localhost:3000/callback"
#define TS_ORIGIN "http://localhost:3000"
#define TS_TIMEOUT_MS 10000L

/* A configuration with two clients, organizations, and users for the
 * interesting cases (org member, multi-org, impersonated, step-up). The first
 * client (TS_CLIENT) is the default one; TS_OTHER_CLIENT is a second app. */
#define TS_CLIENT "client_01WIRETESTAPP000000000000"
#define TS_OTHER_CLIENT "client_01WIRETESTOTHER0000000000"
#define TS_API_KEY "sk_test_wire_0123456789abcdef0123456789abcdef"
#define TS_ALICE "user_01WIREALICE0000000000000000"
#define TS_BOB "user_01WIREB0B00000000000000000"
#define TS_CAROL "user_01WIRECAR0L0000000000000000"
#define TS_ORG_ACME "org_01WIREACME0000000000000000"
#define TS_ORG_GLOBEX "org_01WIREGL0BEX000000000000000"
#define TS_CONFIG                                                                              \
    "{\"api_keys\":[\"" TS_API_KEY "\"],"                                                     \
    "\"clients\":["                                                                            \
    "{\"id\":\"" TS_CLIENT "\",\"redirect_uris\":[\"http://localhost:3000/*\"],"               \
    "\"allowed_origins\":[\"" TS_ORIGIN "\"],\"logout_uris\":[\"http://localhost:3000/*\"]},"  \
    "{\"id\":\"" TS_OTHER_CLIENT "\",\"redirect_uris\":[\"http://localhost:4000/*\"],"         \
    "\"allowed_origins\":[\"http://localhost:4000\"],\"logout_uris\":[\"http://localhost:4000/*\"]}]," \
    "\"organizations\":[{\"id\":\"" TS_ORG_ACME "\",\"name\":\"Acme\"},"                      \
    "{\"id\":\"" TS_ORG_GLOBEX "\",\"name\":\"Globex\"}],"                                    \
    "\"users\":["                                                                              \
    "{\"id\":\"" TS_ALICE "\",\"email\":\"alice@example.com\",\"first_name\":\"Alice\","       \
    "\"last_name\":\"Example\"},"                                                              \
    "{\"id\":\"" TS_BOB "\",\"email\":\"bob@example.com\",\"first_name\":\"Bob\","             \
    "\"memberships\":[{\"organization_id\":\"" TS_ORG_ACME "\",\"role\":\"admin\","           \
    "\"permissions\":[\"posts:read\",\"posts:write\"],\"entitlements\":[\"audit-logs\"]},"    \
    "{\"organization_id\":\"" TS_ORG_GLOBEX "\",\"role\":\"member\","                         \
    "\"permissions\":[\"posts:read\"]}]},"                                                     \
    "{\"id\":\"" TS_CAROL "\",\"email\":\"carol@example.com\",\"first_name\":\"Carol\","       \
    "\"impersonator\":{\"email\":\"admin@corp.example\",\"reason\":\"support ticket\"},"       \
    "\"authentication_method\":\"Impersonation\"},"                                            \
    "{\"email\":\"verify@example.com\",\"step_up\":\"email_verification_required\"},"         \
    "{\"email\":\"mfa@example.com\",\"step_up\":\"mfa_enrollment\"},"                         \
    "{\"email\":\"challenge@example.com\",\"step_up\":\"mfa_challenge\"},"                    \
    "{\"email\":\"choose@example.com\",\"step_up\":\"organization_selection_required\","      \
    "\"memberships\":[{\"organization_id\":\"" TS_ORG_ACME "\"},"                             \
    "{\"organization_id\":\"" TS_ORG_GLOBEX "\"}]},"                                           \
    "{\"email\":\"sso@example.com\",\"step_up\":\"sso_required\"}"                            \
    "]}"

struct ts_server {
    struct idp_server *server;
    struct idp_clock clock;
    struct hx_http_client *http; /* the test thread's client */
    char url[160];
    char client_id[64];
    char api_key[128];
};

/* The signing key: generated once and cached on disk (WIRE_KEY_PATH), loaded
 * once per process. Borrowed. */
EVP_PKEY *ts_signing_key(void);

/* Starts a server (config: JSON text, NULL for the zero configuration) with
 * its virtual clock frozen at TS_T0_MS. Fails the test on error. */
struct ts_server *ts_start(const char *config_json);
/* The server's own limits (0: the server's default) instead of the tests'
 * (32 threads, 15 s request timeout). */
struct ts_tuning {
    int threads, request_timeout_ms, keep_alive_timeout_ms;
};
struct ts_server *ts_start_tuned(const char *config_json, const struct ts_tuning *tuning);
/* Starts a server that fails to start: returns the error message (static). */
const char *ts_start_error(const char *config_json);
void ts_stop(struct ts_server **ts);
/* cmocka teardown: stops the server the test left in *state. */
int ts_teardown(void **state);
#define TS_TEST(f) cmocka_unit_test_teardown(f, ts_teardown)
#define TS_START(state, config) ((struct ts_server *)(*(state) = ts_start(config)))

/* --- HTTP ------------------------------------------------------------- */

/* One request to the server (path may also be a full URL); client NULL uses
 * ts->http. Returns the status, 0 when no response arrived (resp->error). */
long ts_request(struct ts_server *ts, struct hx_http_client *client, const char *method,
                const char *path, const char *const *headers, const char *body,
                struct hx_http_response *resp);
long ts_get(struct ts_server *ts, const char *path, const char *const *headers,
            struct hx_http_response *resp);
/* POSTs body (stolen) as JSON, adding Content-Type: application/json. */
long ts_post_json(struct ts_server *ts, struct hx_http_client *client, const char *path,
                  const char *const *headers, json_t *body, struct hx_http_response *resp);
/* The body as JSON (new reference), or NULL. */
json_t *ts_json(const struct hx_http_response *resp);
/* The first value of a header into a static per-thread buffer, or NULL. */
const char *ts_header(const struct hx_http_response *resp, const char *name);
/* Counts a header's occurrences and finds the first value starting with
 * prefix (e.g. "workos-refresh-token="). */
const char *ts_header_starting(const struct hx_http_response *resp, const char *name,
                               const char *prefix);
/* Top-level keys of a JSON object text, in order, "user,access_token,…". */
void ts_top_keys(const char *json, char *out, size_t size);

/* --- assertions (report the caller's line) ------------------------------ */

void ts_check_status(const struct hx_http_response *resp, long status, const char *file,
                     int line);
void ts_check_oauth_error(const struct hx_http_response *resp, long status, const char *error,
                          const char *description, const char *file, int line);
void ts_check_code_error(const struct hx_http_response *resp, long status, const char *code,
                         const char *file, int line);
void ts_check_json_response(const struct hx_http_response *resp, const char *file, int line);
/* Exact status (prints the body on mismatch). */
#define assert_status(resp, status) ts_check_status((resp), (status), __FILE__, __LINE__)
/* {"error": error, "error_description": description (NULL: any non-empty)} */
#define assert_oauth_error(resp, status, error, description) \
    ts_check_oauth_error((resp), (status), (error), (description), __FILE__, __LINE__)
/* {"message": non-empty, "code": code} */
#define assert_code_error(resp, status, code) \
    ts_check_code_error((resp), (status), (code), __FILE__, __LINE__)
/* application/json, a parseable non-empty body, X-Request-ID (checklist §9.1) */
#define assert_json_response(resp) ts_check_json_response((resp), __FILE__, __LINE__)

/* --- the browser side: authorize --------------------------------------- */

struct ts_pkce {
    char verifier[520];
    char challenge[48];
};
/* A random verifier of len characters (43..512) and its S256 challenge. */
void ts_pkce(struct ts_pkce *pkce, size_t len);
/* base64url(SHA-256(verifier)) */
void ts_s256(const char *verifier, char out[48]);

/* Authorize parameters. NULL means the default (client ts->client_id,
 * redirect TS_REDIRECT, response_type code, provider authkit, method S256
 * when a challenge is given); "" leaves the parameter out. */
struct ts_authorize {
    const char *client_id, *redirect_uri, *response_type, *provider, *state;
    const char *challenge, *challenge_method, *login_hint, *organization_id;
    const char *extra; /* appended to the query as is ("&prompt=login&max_age=0") */
};
/* GET /user_management/authorize; copies Location (if any) into location. */
long ts_authorize(struct ts_server *ts, const struct ts_authorize *a, char *location,
                  size_t size);
/* The same, keeping the whole response (clean it up). */
long ts_authorize_resp(struct ts_server *ts, const struct ts_authorize *a,
                       struct hx_http_response *resp);
/* A query parameter of url, decoded (malloc'd), or NULL when absent. */
char *ts_query_param(const char *url, const char *name);
/* Authorizes and returns the code (malloc'd); fails the test otherwise. */
char *ts_code(struct ts_server *ts, const struct ts_authorize *a);

/* --- the server side: authenticate --------------------------------------- */

/* The code exchange. NULL fields are left out of the body. */
struct ts_exchange {
    const char *client_id, *code, *verifier, *client_secret, *bearer, *origin;
    const char *redirect_uri;
};
long ts_exchange(struct ts_server *ts, const struct ts_exchange *x,
                 struct hx_http_response *resp);

/* What a successful authenticate gave. */
struct ts_session {
    json_t *body;
    const char *access_token, *refresh_token; /* borrowed from body */
    json_t *header, *claims;                  /* the access token, decoded */
    char sid[64];
};
/* Sign-in options; NULL/false: the default user, the default client, public
 * client with a 43-char verifier. */
struct ts_sign_in {
    const char *client_id, *login_hint, *organization_id, *origin;
    bool confidential; /* client_secret + Bearer, as next/aks send */
    size_t verifier_len;
    const char *authorize_extra; /* ts_authorize.extra */
};
/* authorize → code → authenticate; fails the test unless 200. */
void ts_sign_in(struct ts_server *ts, const struct ts_sign_in *opts, struct ts_session *out);
/* Parses a 200 authenticate response; fails the test otherwise. */
void ts_session_parse(const struct hx_http_response *resp, struct ts_session *out);
void ts_session_cleanup(struct ts_session *s);

/* POST a refresh grant (public client) with the token and optional org. */
long ts_refresh(struct ts_server *ts, struct hx_http_client *client, const char *client_id,
                const char *refresh_token, const char *organization_id,
                const char *const *headers, struct hx_http_response *resp);

/* --- tokens -------------------------------------------------------------- */

/* Segment 0 (header) or 1 (payload) of a JWT as JSON (new reference). */
json_t *ts_jwt_part(const char *token, int part);
/* GET /sso/jwks/{client}: the keys array (new reference). */
json_t *ts_jwks(struct ts_server *ts, const char *client_id);
/* Verifies token the way a relying party does: fetch the JWKS, pick the key
 * by kid, check an RS256 signature. Returns true or fills why. */
bool ts_verify_with_jwks(struct ts_server *ts, const char *token, char *why, size_t size);

/* --- admin API ----------------------------------------------------------- */

/* method path [body JSON text]; asserts the status; returns the body. */
json_t *ts_admin(struct ts_server *ts, const char *method, const char *path,
                 const char *body, long expect_status);
void ts_advance(struct ts_server *ts, const char *duration);
int64_t ts_now_ms(struct ts_server *ts);
void ts_settings(struct ts_server *ts, const char *json);
/* Adds a fault rule; returns its id (malloc'd). */
char *ts_add_fault(struct ts_server *ts, const char *rule_json);
/* A fault rule as listed (new reference), or NULL. */
json_t *ts_fault_listing(struct ts_server *ts, const char *id);
/* The journal entries (new reference). */
json_t *ts_journal(struct ts_server *ts);
/* The last entry of a route ("authenticate", "jwks", …), new reference. */
json_t *ts_journal_last(struct ts_server *ts, const char *route);
/* Waits (bounded) until the journal holds n entries of route (and of
 * grant_type, unless NULL) and returns the n-th (new reference). Entries of
 * requests whose connection a fault dropped may land just after the client
 * saw the drop. */
json_t *ts_journal_await(struct ts_server *ts, const char *route, const char *grant_type,
                         size_t n);
/* An entry's string field, "" for null. */
const char *ts_entry_str(const json_t *entry, const char *field);

/* --- concurrency ---------------------------------------------------------- */

/* n threads, each with its own connection, released together by a barrier,
 * each sending the same request. resps[n] receive the results. */
void ts_race(struct ts_server *ts, int n, const char *method, const char *path,
             const char *const *headers, const char *body, struct hx_http_response *resps);

/* Real-time sleep (milliseconds). */
void ts_sleep_ms(long ms);
double ts_wall_ms(void);

#endif
