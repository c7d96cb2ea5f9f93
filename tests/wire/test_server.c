#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_server.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoding.h"
#include "idp_jwt.h"
#include "keys.h"

#ifndef WIRE_KEY_PATH
#define WIRE_KEY_PATH "/tmp/fakeidp-wire-tests/signing-key.pem"
#endif

/* --- server ---------------------------------------------------------------- */

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *cached_key;

static void free_key(void)
{
    EVP_PKEY_free(cached_key);
    cached_key = NULL;
}

static void load_key(void)
{
    struct idp_error err = {0};
    cached_key = idp_pem_load_or_generate(WIRE_KEY_PATH, &err);
    if (!cached_key)
        fprintf(stderr, "wire tests: signing key %s: %s\n", WIRE_KEY_PATH, err.message);
    else
        atexit(free_key);
}

EVP_PKEY *ts_signing_key(void)
{
    pthread_once(&key_once, load_key);
    assert_non_null(cached_key);
    return cached_key;
}

static struct ts_server *start(const char *config_json, const struct ts_tuning *tuning,
                               char *error, size_t error_size)
{
    json_t *config = NULL;
    if (config_json) {
        json_error_t jerr;
        config = json_loads(config_json, 0, &jerr);
        if (!config) {
            snprintf(error, error_size, "test configuration is not JSON: %s (line %d col %d)",
                     jerr.text, jerr.line, jerr.column);
            return NULL;
        }
    }
    struct ts_server *ts = calloc(1, sizeof(*ts));
    assert_non_null(ts);
    idp_clock_init(&ts->clock);
    idp_clock_freeze(&ts->clock, true);
    idp_clock_set(&ts->clock, TS_T0_MS);
    struct idp_server_options options = {
        .host = "127.0.0.1",
        .port = 0,
        .config = config,
        .key = ts_signing_key(),
        .clock = &ts->clock,
        .seed = 20260115,
        .threads = tuning ? tuning->threads : 32,
        .request_timeout_ms = tuning ? tuning->request_timeout_ms : 15000,
        .keep_alive_timeout_ms = tuning ? tuning->keep_alive_timeout_ms : 0,
    };
    struct idp_error err = {0};
    ts->server = idp_server_start(&options, &err);
    json_decref(config);
    if (!ts->server) {
        snprintf(error, error_size, "%s", err.message);
        idp_clock_cleanup(&ts->clock);
        free(ts);
        return NULL;
    }
    snprintf(ts->url, sizeof(ts->url), "%s", idp_server_url(ts->server));
    idp_server_credentials(ts->server, ts->client_id, sizeof(ts->client_id), ts->api_key,
                           sizeof(ts->api_key));
    ts->http = hx_http_client_new();
    assert_non_null(ts->http);
    return ts;
}

struct ts_server *ts_start(const char *config_json)
{
    char error[600] = "";
    struct ts_server *ts = start(config_json, NULL, error, sizeof(error));
    if (!ts)
        fail_msg("cannot start fakeidp: %s", error);
    return ts;
}

struct ts_server *ts_start_tuned(const char *config_json, const struct ts_tuning *tuning)
{
    char error[600] = "";
    struct ts_server *ts = start(config_json, tuning, error, sizeof(error));
    if (!ts)
        fail_msg("cannot start fakeidp: %s", error);
    return ts;
}

const char *ts_start_error(const char *config_json)
{
    static char error[600];
    error[0] = '\0';
    struct ts_server *ts = start(config_json, NULL, error, sizeof(error));
    if (ts) {
        ts_stop(&ts);
        return NULL;
    }
    return error;
}

void ts_stop(struct ts_server **pts)
{
    struct ts_server *ts = *pts;
    if (!ts)
        return;
    /* Close our keep-alive connection first: mg_stop joins the workers. */
    hx_http_client_free(&ts->http);
    idp_server_stop(&ts->server);
    idp_clock_cleanup(&ts->clock);
    free(ts);
    *pts = NULL;
}

int ts_teardown(void **state)
{
    struct ts_server *ts = *state;
    ts_stop(&ts);
    *state = NULL;
    return 0;
}

/* --- HTTP ---------------------------------------------------------------- */

long ts_request(struct ts_server *ts, struct hx_http_client *client, const char *method,
                const char *path, const char *const *headers, const char *body,
                struct hx_http_response *resp)
{
    char url[4096];
    if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
        snprintf(url, sizeof(url), "%s", path);
    else
        snprintf(url, sizeof(url), "%s%s", ts->url, path);
    hx_http_request(client ? client : ts->http, method, url, headers, body,
                    body ? strlen(body) : 0, TS_TIMEOUT_MS, resp);
    return resp->status;
}

long ts_get(struct ts_server *ts, const char *path, const char *const *headers,
            struct hx_http_response *resp)
{
    return ts_request(ts, NULL, "GET", path, headers, NULL, resp);
}

long ts_post_json(struct ts_server *ts, struct hx_http_client *client, const char *path,
                  const char *const *headers, json_t *body, struct hx_http_response *resp)
{
    const char *all[16];
    size_t n = 0;
    all[n++] = "Content-Type: application/json";
    for (size_t i = 0; headers && headers[i] && n < 15; i++)
        all[n++] = headers[i];
    all[n] = NULL;
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(body);
    assert_non_null(text);
    long status = ts_request(ts, client, "POST", path, all, text, resp);
    free(text);
    return status;
}

json_t *ts_json(const struct hx_http_response *resp)
{
    if (!resp->body || !resp->body_len)
        return NULL;
    return json_loadb(resp->body, resp->body_len, 0, NULL);
}

const char *ts_header(const struct hx_http_response *resp, const char *name)
{
    static __thread char value[8192];
    return hx_http_header(resp, name, value, sizeof(value)) ? value : NULL;
}

const char *ts_header_starting(const struct hx_http_response *resp, const char *name,
                               const char *prefix)
{
    static __thread char value[8192];
    size_t cursor = 0;
    while (hx_http_header_next(resp, name, &cursor, value, sizeof(value)))
        if (strncmp(value, prefix, strlen(prefix)) == 0)
            return value;
    return NULL;
}

void ts_top_keys(const char *json, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    int depth = 0;
    for (const char *p = json; *p; p++) {
        if (*p == '"') {
            const char *start = ++p;
            while (*p && *p != '"')
                p += *p == '\\' && p[1] ? 2 : 1;
            if (!*p)
                break;
            const char *end = p;
            const char *q = p + 1;
            while (*q == ' ')
                q++;
            if (depth == 1 && *q == ':') {
                used += (size_t)snprintf(out + used, used < size ? size - used : 0, "%s%.*s",
                                         used ? "," : "", (int)(end - start), start);
            }
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
}

/* --- assertions ---------------------------------------------------------- */

static void show(const struct hx_http_response *resp)
{
    print_message("  response: status %ld, error \"%s\"\n  headers: %.*s\n  body: %.*s\n",
                  resp->status, resp->error, (int)(resp->headers_len < 2000 ? resp->headers_len : 2000),
                  resp->headers ? resp->headers : "",
                  (int)(resp->body_len < 2000 ? resp->body_len : 2000), resp->body ? resp->body : "");
}

void ts_check_status(const struct hx_http_response *resp, long status, const char *file,
                     int line)
{
    if (resp->status != status)
        show(resp);
    _assert_int_equal((uintmax_t)resp->status, (uintmax_t)status, file, line);
}

void ts_check_json_response(const struct hx_http_response *resp, const char *file, int line)
{
    char type[256] = "", rid[256] = "";
    bool has_type = hx_http_header(resp, "Content-Type", type, sizeof(type));
    bool has_rid = hx_http_header(resp, "X-Request-ID", rid, sizeof(rid));
    json_t *body = ts_json(resp);
    bool ok = has_type && strncmp(type, "application/json", 16) == 0 && has_rid && rid[0] &&
              body && json_is_object(body);
    json_decref(body);
    if (!ok)
        show(resp);
    _assert_true(ok, "JSON response with Content-Type application/json and X-Request-ID", file,
                 line);
}

void ts_check_oauth_error(const struct hx_http_response *resp, long status, const char *error,
                          const char *description, const char *file, int line)
{
    ts_check_status(resp, status, file, line);
    ts_check_json_response(resp, file, line);
    json_t *body = ts_json(resp);
    const char *e = json_string_value(json_object_get(body, "error"));
    const char *d = json_string_value(json_object_get(body, "error_description"));
    bool ok = e && strcmp(e, error) == 0 && d && *d && (!description || strcmp(d, description) == 0);
    if (!ok) {
        print_message("  expected error %s (%s)\n", error, description ? description : "any");
        show(resp);
    }
    json_decref(body);
    _assert_true(ok, "OAuth error body", file, line);
}

void ts_check_code_error(const struct hx_http_response *resp, long status, const char *code,
                         const char *file, int line)
{
    ts_check_status(resp, status, file, line);
    ts_check_json_response(resp, file, line);
    json_t *body = ts_json(resp);
    const char *c = json_string_value(json_object_get(body, "code"));
    const char *m = json_string_value(json_object_get(body, "message"));
    bool ok = c && strcmp(c, code) == 0 && m && *m;
    if (!ok) {
        print_message("  expected code %s\n", code);
        show(resp);
    }
    json_decref(body);
    _assert_true(ok, "{message, code} error body", file, line);
}

/* --- PKCE and authorize ---------------------------------------------------- */

void ts_s256(const char *verifier, char out[48])
{
    unsigned char digest[32];
    EVP_Digest(verifier, strlen(verifier), digest, NULL, EVP_sha256(), NULL);
    char *text = idp_base64url_encode(digest, sizeof(digest));
    assert_non_null(text);
    snprintf(out, 48, "%s", text);
    free(text);
}

void ts_pkce(struct ts_pkce *pkce, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    assert_true(len >= 1 && len < sizeof(pkce->verifier));
    unsigned char random[sizeof(pkce->verifier)];
    assert_int_equal(RAND_bytes(random, (int)len), 1);
    for (size_t i = 0; i < len; i++)
        pkce->verifier[i] = alphabet[random[i] % 66];
    pkce->verifier[len] = '\0';
    ts_s256(pkce->verifier, pkce->challenge);
}

static void append_query(char *url, size_t size, const char *key, const char *value)
{
    if (!value || !*value)
        return;
    size_t used = strlen(url);
    used += (size_t)snprintf(url + used, size - used, "%c%s=", strchr(url, '?') ? '&' : '?', key);
    for (const unsigned char *p = (const unsigned char *)value; *p && used + 4 < size; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            url[used++] = (char)*p;
        else
            used += (size_t)snprintf(url + used, size - used, "%%%02X", *p);
    }
    url[used] = '\0';
}

static const char *or_default(const char *given, const char *fallback)
{
    return given ? given : fallback;
}

long ts_authorize_resp(struct ts_server *ts, const struct ts_authorize *a,
                       struct hx_http_response *resp)
{
    static const struct ts_authorize none;
    if (!a)
        a = &none;
    char url[4096];
    snprintf(url, sizeof(url), "/user_management/authorize");
    append_query(url, sizeof(url), "client_id", or_default(a->client_id, ts->client_id));
    append_query(url, sizeof(url), "redirect_uri", or_default(a->redirect_uri, TS_REDIRECT));
    append_query(url, sizeof(url), "response_type", or_default(a->response_type, "code"));
    append_query(url, sizeof(url), "provider", or_default(a->provider, "authkit"));
    append_query(url, sizeof(url), "state", a->state);
    append_query(url, sizeof(url), "code_challenge", a->challenge);
    append_query(url, sizeof(url), "code_challenge_method",
                 or_default(a->challenge_method, a->challenge ? "S256" : ""));
    append_query(url, sizeof(url), "login_hint", a->login_hint);
    append_query(url, sizeof(url), "organization_id", a->organization_id);
    if (a->extra)
        snprintf(url + strlen(url), sizeof(url) - strlen(url), "%s", a->extra);
    return ts_get(ts, url, NULL, resp);
}

long ts_authorize(struct ts_server *ts, const struct ts_authorize *a, char *location,
                  size_t size)
{
    struct hx_http_response resp;
    long status = ts_authorize_resp(ts, a, &resp);
    if (location) {
        location[0] = '\0';
        hx_http_header(&resp, "Location", location, size);
    }
    hx_http_response_cleanup(&resp);
    return status;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

char *ts_query_param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t name_len = strlen(name);
    while (q) {
        q++;
        const char *end = q + strcspn(q, "&#");
        if ((size_t)(end - q) > name_len && strncmp(q, name, name_len) == 0 && q[name_len] == '=') {
            const char *v = q + name_len + 1;
            char *out = malloc((size_t)(end - v) + 1);
            assert_non_null(out);
            size_t n = 0;
            for (const char *p = v; p < end; p++) {
                if (*p == '%' && p + 2 < end && isxdigit((unsigned char)p[1]) &&
                    isxdigit((unsigned char)p[2])) {
                    out[n++] = (char)(hexval((unsigned char)p[1]) * 16 + hexval((unsigned char)p[2]));
                    p += 2;
                } else {
                    out[n++] = *p == '+' ? ' ' : *p;
                }
            }
            out[n] = '\0';
            return out;
        }
        q = *end == '&' ? end : NULL;
    }
    return NULL;
}

char *ts_code(struct ts_server *ts, const struct ts_authorize *a)
{
    char location[4096];
    long status = ts_authorize(ts, a, location, sizeof(location));
    if (status != 302)
        fail_msg("authorize: expected 302, got %ld (Location: %s)", status, location);
    char *code = ts_query_param(location, "code");
    if (!code)
        fail_msg("authorize: no code in %s", location);
    return code;
}

/* --- authenticate -------------------------------------------------------------- */

long ts_exchange(struct ts_server *ts, const struct ts_exchange *x,
                 struct hx_http_response *resp)
{
    json_t *body = json_object();
    json_object_set_new(body, "grant_type", json_string("authorization_code"));
    if (x->client_id)
        json_object_set_new(body, "client_id", json_string(x->client_id));
    if (x->client_secret)
        json_object_set_new(body, "client_secret", json_string(x->client_secret));
    if (x->code)
        json_object_set_new(body, "code", json_string(x->code));
    if (x->verifier)
        json_object_set_new(body, "code_verifier", json_string(x->verifier));
    if (x->redirect_uri)
        json_object_set_new(body, "redirect_uri", json_string(x->redirect_uri));
    char auth[300], origin[300];
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (x->bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", x->bearer);
        headers[n++] = auth;
    }
    if (x->origin) {
        snprintf(origin, sizeof(origin), "Origin: %s", x->origin);
        headers[n++] = origin;
    }
    return ts_post_json(ts, NULL, "/user_management/authenticate", headers, body, resp);
}

void ts_session_parse(const struct hx_http_response *resp, struct ts_session *out)
{
    memset(out, 0, sizeof(*out));
    assert_status(resp, 200);
    assert_json_response(resp);
    out->body = ts_json(resp);
    out->access_token = json_string_value(json_object_get(out->body, "access_token"));
    out->refresh_token = json_string_value(json_object_get(out->body, "refresh_token"));
    assert_non_null(out->access_token);
    assert_non_null(out->refresh_token);
    out->header = ts_jwt_part(out->access_token, 0);
    out->claims = ts_jwt_part(out->access_token, 1);
    assert_non_null(out->header);
    assert_non_null(out->claims);
    const char *sid = json_string_value(json_object_get(out->claims, "sid"));
    assert_non_null(sid);
    snprintf(out->sid, sizeof(out->sid), "%s", sid);
}

void ts_session_cleanup(struct ts_session *s)
{
    json_decref(s->body);
    json_decref(s->header);
    json_decref(s->claims);
    memset(s, 0, sizeof(*s));
}

void ts_sign_in(struct ts_server *ts, const struct ts_sign_in *opts, struct ts_session *out)
{
    static const struct ts_sign_in defaults;
    if (!opts)
        opts = &defaults;
    struct ts_pkce pkce;
    ts_pkce(&pkce, opts->verifier_len ? opts->verifier_len : 43);
    const char *client = opts->client_id ? opts->client_id : ts->client_id;
    struct ts_authorize a = {.client_id = client,
                             .challenge = pkce.challenge,
                             .state = "wire-test-state",
                             .login_hint = opts->login_hint,
                             .organization_id = opts->organization_id,
                             .extra = opts->authorize_extra};
    if (strcmp(client, TS_OTHER_CLIENT) == 0)
        a.redirect_uri = "http://localhost:4000/callback";
    char *code = ts_code(ts, &a);
    struct ts_exchange x = {.client_id = client, .code = code, .verifier = pkce.verifier,
                            .origin = opts->origin};
    if (opts->confidential)
        x.client_secret = x.bearer = ts->api_key;
    struct hx_http_response resp;
    ts_exchange(ts, &x, &resp);
    free(code);
    ts_session_parse(&resp, out);
    hx_http_response_cleanup(&resp);
}

long ts_refresh(struct ts_server *ts, struct hx_http_client *client, const char *client_id,
                const char *refresh_token, const char *organization_id,
                const char *const *headers, struct hx_http_response *resp)
{
    json_t *body = json_pack("{s:s, s:s}", "grant_type", "refresh_token", "client_id",
                             client_id ? client_id : ts->client_id);
    if (refresh_token)
        json_object_set_new(body, "refresh_token", json_string(refresh_token));
    if (organization_id)
        json_object_set_new(body, "organization_id", json_string(organization_id));
    return ts_post_json(ts, client, "/user_management/authenticate", headers, body, resp);
}

/* --- tokens ------------------------------------------------------------------ */

json_t *ts_jwt_part(const char *token, int part)
{
    const char *start = token;
    for (int i = 0; i < part && start; i++) {
        start = strchr(start, '.');
        if (start)
            start++;
    }
    if (!start)
        return NULL;
    size_t len = strcspn(start, ".");
    size_t raw_len;
    unsigned char *raw = idp_base64url_decode(start, len, &raw_len);
    if (!raw)
        return NULL;
    json_t *value = json_loadb((const char *)raw, raw_len, 0, NULL);
    free(raw);
    return value;
}

json_t *ts_jwks(struct ts_server *ts, const char *client_id)
{
    char path[256];
    snprintf(path, sizeof(path), "/sso/jwks/%s", client_id ? client_id : ts->client_id);
    struct hx_http_response resp;
    ts_get(ts, path, NULL, &resp);
    assert_status(&resp, 200);
    json_t *body = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    json_t *keys = json_incref(json_object_get(body, "keys"));
    json_decref(body);
    assert_true(json_is_array(keys));
    return keys;
}

bool ts_verify_with_jwks(struct ts_server *ts, const char *token, char *why, size_t size)
{
    struct idp_jwt jwt = {0};
    struct idp_error err = {0};
    if (idp_jwt_decode(token, &jwt, &err) != IDP_OK) {
        snprintf(why, size, "decode: %s", err.message);
        return false;
    }
    const char *kid = json_string_value(json_object_get(jwt.header, "kid"));
    json_t *keys = ts_jwks(ts, NULL);
    const json_t *match = NULL;
    size_t i, matches = 0;
    json_t *k;
    json_array_foreach(keys, i, k) {
        if (kid && strcmp(json_string_value(json_object_get(k, "kid")), kid) == 0) {
            match = k;
            matches++;
        }
    }
    bool ok = false;
    if (!kid) {
        snprintf(why, size, "no kid in the header");
    } else if (matches != 1) {
        snprintf(why, size, "%zu JWKS keys match kid %s", matches, kid);
    } else {
        EVP_PKEY *key = idp_jwk_public_key(match, &err);
        if (!key)
            snprintf(why, size, "jwk: %s", err.message);
        else if (idp_jwt_verify_rs256(&jwt, key, &err) != IDP_OK)
            snprintf(why, size, "verify: %s", err.message);
        else
            ok = true;
        EVP_PKEY_free(key);
    }
    json_decref(keys);
    idp_jwt_cleanup(&jwt);
    return ok;
}

/* --- admin ------------------------------------------------------------------- */

json_t *ts_admin(struct ts_server *ts, const char *method, const char *path, const char *body,
                 long expect_status)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct hx_http_response resp;
    ts_request(ts, NULL, method, path, body ? headers : NULL, body, &resp);
    if (resp.status != expect_status)
        fail_msg("%s %s %s: expected %ld, got %ld: %s %s", method, path, body ? body : "",
                 expect_status, resp.status, resp.error, resp.body);
    json_t *json = ts_json(&resp);
    hx_http_response_cleanup(&resp);
    return json;
}

void ts_advance(struct ts_server *ts, const char *duration)
{
    char body[128];
    snprintf(body, sizeof(body), "{\"advance\":\"%s\"}", duration);
    json_decref(ts_admin(ts, "POST", "/_fakeidp/clock", body, 200));
}

int64_t ts_now_ms(struct ts_server *ts)
{
    return idp_clock_now_ms(&ts->clock);
}

void ts_settings(struct ts_server *ts, const char *json)
{
    json_decref(ts_admin(ts, "PATCH", "/_fakeidp/settings", json, 200));
}

char *ts_add_fault(struct ts_server *ts, const char *rule_json)
{
    json_t *body = ts_admin(ts, "POST", "/_fakeidp/faults", rule_json, 201);
    const char *id = json_string_value(json_array_get(json_object_get(body, "added"), 0));
    assert_non_null(id);
    char *copy = strdup(id);
    json_decref(body);
    return copy;
}

json_t *ts_fault_listing(struct ts_server *ts, const char *id)
{
    json_t *body = ts_admin(ts, "GET", "/_fakeidp/faults", NULL, 200);
    json_t *found = NULL;
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(body, "faults"), i, f)
        if (strcmp(json_string_value(json_object_get(f, "id")), id) == 0)
            found = json_incref(f);
    json_decref(body);
    return found;
}

json_t *ts_journal(struct ts_server *ts)
{
    json_t *body = ts_admin(ts, "GET", "/_fakeidp/journal", NULL, 200);
    json_t *entries = json_incref(json_object_get(body, "entries"));
    json_decref(body);
    assert_true(json_is_array(entries));
    return entries;
}

json_t *ts_journal_last(struct ts_server *ts, const char *route)
{
    json_t *entries = ts_journal(ts);
    json_t *found = NULL;
    for (size_t i = json_array_size(entries); i-- > 0 && !found;) {
        json_t *e = json_array_get(entries, i);
        if (strcmp(ts_entry_str(e, "route"), route) == 0)
            found = json_incref(e);
    }
    json_decref(entries);
    if (!found)
        fail_msg("no journal entry for route %s", route);
    return found;
}

json_t *ts_journal_await(struct ts_server *ts, const char *route, const char *grant_type,
                         size_t n)
{
    double deadline = ts_wall_ms() + 5000;
    for (;;) {
        json_t *entries = ts_journal(ts);
        json_t *found = NULL;
        size_t seen = 0, i;
        json_t *e;
        json_array_foreach(entries, i, e) {
            if (strcmp(ts_entry_str(e, "route"), route) != 0 ||
                (grant_type && strcmp(ts_entry_str(e, "grant_type"), grant_type) != 0))
                continue;
            if (++seen == n)
                found = json_incref(e);
        }
        json_decref(entries);
        if (found)
            return found;
        if (ts_wall_ms() > deadline)
            fail_msg("the journal has %zu of %zu %s entries after 5 s", seen, n, route);
        ts_sleep_ms(10);
    }
}

const char *ts_entry_str(const json_t *entry, const char *field)
{
    const char *s = json_string_value(json_object_get(entry, field));
    return s ? s : "";
}

/* --- concurrency ----------------------------------------------------------------- */

struct racer {
    struct ts_server *ts;
    pthread_barrier_t *barrier;
    struct hx_http_client *client;
    const char *method, *path, *body;
    const char *const *headers;
    struct hx_http_response *resp;
};

static void *race_one(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->barrier);
    ts_request(r->ts, r->client, r->method, r->path, r->headers, r->body, r->resp);
    return NULL;
}

void ts_race(struct ts_server *ts, int n, const char *method, const char *path,
             const char *const *headers, const char *body, struct hx_http_response *resps)
{
    assert_true(n > 0 && n <= 64);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)n);
    struct racer racers[64];
    pthread_t threads[64];
    for (int i = 0; i < n; i++) {
        racers[i] = (struct racer){ts, &barrier, hx_http_client_new(), method, path, body,
                                   headers, &resps[i]};
        assert_non_null(racers[i].client);
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, race_one, &racers[i]), 0);
    for (int i = 0; i < n; i++) {
        pthread_join(threads[i], NULL);
        hx_http_client_free(&racers[i].client);
    }
    pthread_barrier_destroy(&barrier);
}

void ts_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

double ts_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}
