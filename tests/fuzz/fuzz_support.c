/* Support for the fuzz targets: see fuzz.h. */
#include "fuzz.h"

#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "encoding.h"
#include "fuzz_key.h"

char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

static EVP_PKEY *key;
static json_t *jwks;

static void free_fixtures(void)
{
    EVP_PKEY_free(key);
    key = NULL;
    json_decref(jwks);
    jwks = NULL;
}

EVP_PKEY *fuzz_key(void)
{
    if (!key) {
        BIO *bio = BIO_new_mem_buf(FUZZ_KEY_PEM, -1);
        key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (!key) {
            fprintf(stderr, "fuzz: cannot read the fixed key\n");
            abort();
        }
        atexit(free_fixtures);
    }
    return key;
}

json_t *fuzz_jwks(void)
{
    if (!jwks) {
        struct idp_key k;
        struct idp_error err = {0};
        if (idp_key_init(&k, fuzz_key(), &err) != IDP_OK)
            abort();
        json_t *jwk = idp_key_jwk(&k);
        idp_key_cleanup(&k);
        json_object_set_new(jwk, "kid", json_string(FUZZ_KID));
        jwks = json_pack("{s:[o]}", "keys", jwk);
        if (!jwks)
            abort();
    }
    return jwks;
}

/* --- the in-memory server ------------------------------------------------ */

#define FUZZ_CONFIG                                                                            \
    "{\"api_keys\":[\"" FUZZ_API_KEY "\"],"                                                   \
    "\"clients\":[{\"id\":\"" FUZZ_CLIENT "\",\"redirect_uris\":[\"http://localhost:3000/*\"],"  \
    "\"allowed_origins\":[\"http://localhost:3000\"]}],"                                      \
    "\"organizations\":[{\"id\":\"org_01FUZZ\",\"name\":\"Fuzz\"}],"                           \
    "\"users\":[{\"email\":\"alice@example.com\",\"first_name\":\"Alice\","                     \
    "\"password\":\"fuzz-password\"},"                                                          \
    "{\"email\":\"verify@example.com\",\"password\":\"fuzz-password\",\"email_verified\":false}," \
    "{\"email\":\"bob@example.com\",\"memberships\":[{\"organization_id\":\"org_01FUZZ\","    \
    "\"role\":\"admin\",\"permissions\":[\"posts:read\"]}]},"                                  \
    "{\"email\":\"imp@example.com\",\"impersonator\":{\"email\":\"a@corp.example\","          \
    "\"reason\":\"r\"}},"                                                                      \
    "{\"email\":\"verify-step@example.com\",\"step_up\":\"email_verification_required\"},"    \
    "{\"email\":\"choose@example.com\",\"step_up\":\"organization_selection_required\","      \
    "\"memberships\":[{\"organization_id\":\"org_01FUZZ\"}]},"                                 \
    "{\"email\":\"sso@example.com\",\"step_up\":\"sso_required\"}]}"

static struct idp_server *server;

/* A server built without a listener: idp_server_stop frees it all the same. */
static void free_server(void)
{
    idp_server_stop(&server);
}

struct idp_server *fuzz_server(void)
{
    if (server)
        return server;
    server = calloc(1, sizeof(*server));
    if (!server)
        abort();
    pthread_mutex_init(&server->lock, NULL);
    idp_clock_init(&server->own_clock);
    server->clock = &server->own_clock;
    idp_clock_freeze(server->clock, true);
    idp_clock_set(server->clock, FUZZ_NOW_MS);
    idp_random_init(&server->rng, 1);
    idp_store_init(&server->store);
    idp_keyset_init(&server->keys);
    idp_faults_init(&server->faults);
    idp_journal_init(&server->journal, 1);
    snprintf(server->url, sizeof(server->url), "http://127.0.0.1:1");
    json_error_t jerr;
    server->config = json_loads(FUZZ_CONFIG, 0, &jerr);
    struct idp_error err = {0};
    if (!server->config || idp_server_reset_locked(server, &err) ||
        idp_keyset_add(&server->keys, fuzz_key(), IDP_TIME_ALWAYS, IDP_TIME_ALWAYS,
                       IDP_TIME_NEVER, &err)) {
        fprintf(stderr, "fuzz: cannot set up the server: %s %s\n", jerr.text, err.message);
        abort();
    }
    atexit(free_server);
    return server;
}

void fuzz_server_reset(struct fuzz_tokens *tokens)
{
    struct idp_server *s = fuzz_server();
    struct idp_error err = {0};
    if (idp_server_reset_locked(s, &err) != IDP_OK) {
        fprintf(stderr, "fuzz: reset: %s\n", err.message);
        abort();
    }
    /* The same ids on every run: the generator restarts from one seed. */
    idp_random_cleanup(&s->rng);
    idp_random_init(&s->rng, 1);
    struct idp_user *alice = idp_store_default_user(&s->store);
    struct idp_code *code = idp_store_code_new(&s->store, &s->rng, FUZZ_NOW_MS,
                                               s->settings.code_ttl_ms);
    struct idp_session *session =
        idp_store_session_new(&s->store, &s->rng, FUZZ_NOW_MS - 60000, 0);
    if (!alice || !code || !session)
        abort();
    unsigned char digest[32];
    EVP_Digest(FUZZ_VERIFIER, strlen(FUZZ_VERIFIER), digest, NULL, EVP_sha256(), NULL);
    char *challenge = idp_base64url_encode(digest, sizeof(digest));
    snprintf(code->client_id, sizeof(code->client_id), "%s", FUZZ_CLIENT);
    snprintf(code->user_id, sizeof(code->user_id), "%s", alice->id);
    snprintf(code->challenge, sizeof(code->challenge), "%s", challenge ? challenge : "");
    free(challenge);
    code->redirect_uri = strdup("http://localhost:3000/callback");
    snprintf(session->user_id, sizeof(session->user_id), "%s", alice->id);
    snprintf(session->client_id, sizeof(session->client_id), "%s", FUZZ_CLIENT);
    snprintf(session->authentication_method, sizeof(session->authentication_method), "Password");
    struct idp_refresh *old =
        idp_store_refresh_new(&s->store, session, &s->rng, FUZZ_NOW_MS - 60000);
    struct idp_refresh *rt = idp_store_refresh_new(&s->store, session, &s->rng, FUZZ_NOW_MS - 1000);
    if (!old || !rt)
        abort();
    old->state = IDP_RT_ROTATED;
    old->rotated_ms = FUZZ_NOW_MS - 1000;
    old->cached_body = strdup("{\"cached\":true}");
    session->refresh_count = 1;
    if (tokens) {
        snprintf(tokens->code, sizeof(tokens->code), "%s", code->code);
        snprintf(tokens->refresh, sizeof(tokens->refresh), "%s", rt->token);
        snprintf(tokens->old_refresh, sizeof(tokens->old_refresh), "%s", old->token);
    }
}

char *fuzz_substitute(const char *text, const struct fuzz_tokens *tokens)
{
    static const char *const names[] = {"@CODE@", "@RT@", "@OLDRT@"};
    const char *values[] = {tokens->code, tokens->refresh, tokens->old_refresh};
    /* Every replacement is at most IDP_ID_SIZE bytes and each name at least 4. */
    size_t cap = strlen(text) / 4 * IDP_ID_SIZE + strlen(text) + 1;
    char *out = malloc(cap);
    if (!out)
        abort();
    size_t o = 0;
    for (const char *p = text; *p;) {
        bool replaced = false;
        for (size_t i = 0; i < 3 && !replaced; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(p, names[i], n) == 0) {
                size_t v = strlen(values[i]);
                memcpy(out + o, values[i], v);
                o += v;
                p += n;
                replaced = true;
            }
        }
        if (!replaced)
            out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}

/* --- one request ------------------------------------------------------------ */

/* What every answer must look like: a redirect with a Location, a JSON
 * success, or a WorkOS-shaped error; never a 5xx for input alone. */
static void check_response(const struct idp_response *resp)
{
    if (resp->status < 200 || resp->status >= 500) {
        fprintf(stderr, "fuzz: status %d: %.*s\n", resp->status, (int)resp->body_len,
                resp->body ? resp->body : "");
        abort();
    }
    if (resp->status == 302) {
        if (!resp->headers || !strstr(resp->headers, "Location: ")) {
            fprintf(stderr, "fuzz: a redirect without Location\n");
            abort();
        }
        return;
    }
    json_t *body = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    bool shaped = json_is_object(body);
    if (shaped && resp->status >= 400) {
        bool code_form = json_is_string(json_object_get(body, "message")) &&
                         json_is_string(json_object_get(body, "code"));
        bool oauth_form = json_is_string(json_object_get(body, "error")) &&
                          json_is_string(json_object_get(body, "error_description"));
        shaped = code_form || oauth_form;
    }
    json_decref(body);
    if (!shaped) {
        fprintf(stderr, "fuzz: status %d with a body that is not WorkOS-shaped: %.*s\n",
                resp->status, (int)resp->body_len, resp->body ? resp->body : "");
        abort();
    }
}

int fuzz_request(const char *method, idp_route_fn *handler, const char *query, const char *raw)
{
    struct idp_server *s = fuzz_server();
    struct mg_request_info info;
    memset(&info, 0, sizeof(info));
    info.request_method = method;
    info.local_uri = "/fuzz";
    info.query_string = query;
    snprintf(info.remote_addr, sizeof(info.remote_addr), "127.0.0.1");

    /* Headers up to a blank line, if there is one. */
    char *copy = strdup(raw);
    if (!copy)
        abort();
    char *body = copy;
    char *blank = strstr(copy, "\n\n");
    if (blank) {
        *blank = '\0';
        body = blank + 2;
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line && info.num_headers < MG_MAX_HEADERS;
             line = strtok_r(NULL, "\n", &save)) {
            char *colon = strchr(line, ':');
            if (!colon)
                continue;
            *colon = '\0';
            const char *value = colon + 1;
            while (*value == ' ')
                value++;
            if (strcasecmp(line, "X-Fuzz-Settings") == 0) {
                json_t *settings = json_loads(value, 0, NULL);
                struct idp_error err;
                if (settings)
                    idp_settings_apply(&s->settings, settings, &err);
                json_decref(settings);
                continue;
            }
            info.http_headers[info.num_headers].name = line;
            info.http_headers[info.num_headers].value = value;
            info.num_headers++;
        }
    }
    info.content_length = (long long)strlen(body);

    struct idp_request req;
    memset(&req, 0, sizeof(req));
    req.info = &info;
    req.method = method;
    req.path = info.local_uri;
    req.query = query;
    req.body = body;
    req.body_len = strlen(body);
    req.now_ms = idp_clock_now_ms(s->clock);
    req.path_arg = "";
    snprintf(req.request_id, sizeof(req.request_id), "req_fuzz");
    idp_request_parse_params(&req);
    struct idp_response resp;
    memset(&resp, 0, sizeof(resp));
    handler(s, &req, &resp);
    idp_refresh_settle(s, &req); /* as dispatch.c does once the reply is out */
    check_response(&resp);
    int status = resp.status;
    json_decref(req.params);
    idp_response_reset(&resp);
    free(copy);
    return status;
}
