/* The sealed session, as authkit-nextjs and authkit-session keep it: the
 * session cookie's attributes, writes (in chunks with chunk_cookie) and
 * deletion, iron seals (password maps by the seal's id), and the
 * middleware that decides each request's session: verify the access
 * token, refresh when it is invalid or (proactive) about to expire, write
 * the new seal, or delete the cookie as the refresh_errors knob says. */
#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron.h"
#include "refapp_internal.h"
#include "verifier.h"

static bool cookie_secure(const struct hx_app *app, const struct hx_app_knobs *k)
{
    if (k->cookie_secure == HX_SECURE_ALWAYS)
        return true;
    if (k->cookie_secure == HX_SECURE_NEVER)
        return false;
    /* authkit-nextjs: Secure when SameSite=None or the redirect URI is https. */
    (void)app;
    return k->cookie_samesite == HX_NONE || strncmp(refapp_request_redirect_uri(), "https:", 6) == 0;
}

void refapp_cookie_attributes(const struct hx_app *app, const struct hx_app_knobs *k,
                              bool with_domain, char *out, size_t size)
{
    static const char *const names[] = {"Lax", "Strict", "None"};
    snprintf(out, size, "; Path=/; HttpOnly; SameSite=%s%s%s%s", names[k->cookie_samesite],
             with_domain && k->cookie_domain[0] ? "; Domain=" : "",
             with_domain ? k->cookie_domain : "", cookie_secure(app, k) ? "; Secure" : "");
}

void refapp_session_cookie_set(struct hx_app *app, const struct hx_app_knobs *k, struct reply *r,
                               const char *seal)
{
    char attrs[256];
    refapp_cookie_attributes(app, k, true, attrs, sizeof(attrs));
    long long max_age = k->cookie_max_age_ms / 1000;
    size_t len = strlen(seal);
    if (k->chunk_cookie && len + strlen(k->cookie_name) > 4000) {
        size_t chunk = 3900, parts = (len + chunk - 1) / chunk;
        for (size_t i = 0; i < parts; i++)
            refapp_reply_header(r, "Set-Cookie", "%s.%zu=%.*s; Max-Age=%lld%s", k->cookie_name, i,
                                (int)(len - i * chunk < chunk ? len - i * chunk : chunk),
                                seal + i * chunk, max_age, attrs);
        refapp_reply_header(r, "Set-Cookie", "%s=chunked:%zu; Max-Age=%lld%s", k->cookie_name, parts,
                            max_age, attrs);
        refapp_note(app, "session cookie written in %zu chunks (%zu bytes)", parts, len);
        return;
    }
    if (len + strlen(k->cookie_name) > 4096) {
        pthread_mutex_lock(&app->lock);
        app->oversize_cookies++;
        pthread_mutex_unlock(&app->lock);
        refapp_note(app, "warning: session cookie is %zu bytes, over the browsers' 4096-byte limit",
                    len + strlen(k->cookie_name));
    }
    refapp_reply_header(r, "Set-Cookie", "%s=%s; Max-Age=%lld%s", k->cookie_name, seal, max_age, attrs);
}

void refapp_session_cookie_delete(struct hx_app *app, const struct hx_app_knobs *k,
                                  struct reply *r)
{
    char attrs[256];
    refapp_cookie_attributes(app, k, k->delete_same_attributes, attrs, sizeof(attrs));
    refapp_reply_header(r, "Set-Cookie", "%s=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT%s",
                        k->cookie_name, attrs);
}

/* The seal, reassembled from chunks when the cookie says "chunked:N". */
static char *read_seal(struct mg_connection *conn, const struct hx_app_knobs *k)
{
    char *value = refapp_request_cookie(conn, k->cookie_name);
    if (!value || strncmp(value, "chunked:", 8) != 0)
        return value;
    int parts = atoi(value + 8);
    free(value);
    size_t cap = 1, len = 0;
    char *seal = calloc(1, 1);
    for (int i = 0; seal && i < parts && i < 16; i++) {
        char name[80];
        snprintf(name, sizeof(name), "%s.%d", k->cookie_name, i);
        char *part = refapp_request_cookie(conn, name);
        if (!part) {
            free(seal);
            return NULL;
        }
        cap = len + strlen(part) + 1;
        char *grown = realloc(seal, cap);
        if (!grown) {
            free(seal); /* out of memory: no session rather than a leak */
            free(part);
            return NULL;
        }
        memcpy(grown + len, part, strlen(part) + 1);
        len += strlen(part);
        seal = grown;
        free(part);
    }
    return seal;
}

/* Opens a seal with the password (any id), or with a password map's entry
 * for the seal's id, as iron does ("Cannot find password: 3"). */
enum idp_status refapp_unseal(const struct hx_app_knobs *k, const char *seal, int64_t now,
                              unsigned char **data, size_t *len, struct idp_error *err)
{
    if (!k->password_count)
        return idp_iron_unseal(k->cookie_password, seal, now, data, len, err);
    char id[32] = "";
    idp_iron_password_id(seal, id, sizeof(id));
    for (int i = 0; i < k->password_count; i++)
        if (strcmp(k->passwords[i].id, id) == 0)
            return idp_iron_unseal(k->passwords[i].secret, seal, now, data, len, err);
    if (!id[0])
        return idp_iron_unseal(k->cookie_password, seal, now, data, len, err);
    return idp_fail(err, IDP_DENIED, "Cannot find password: %s", id);
}

bool refapp_session_load(struct hx_app *app, const struct hx_app_knobs *k,
                         struct mg_connection *conn, struct session *s, char *why, size_t why_size)
{
    memset(s, 0, sizeof(*s));
    char *seal = read_seal(conn, k);
    if (!seal) {
        snprintf(why, why_size, "no %s cookie", k->cookie_name);
        return false;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    struct idp_error err;
    enum idp_status st = refapp_unseal(k, seal, refapp_now(app, k), &data, &len, &err);
    free(seal);
    if (st) {
        /* authkit-nextjs swallows unseal errors: the session is simply empty. */
        snprintf(why, why_size, "cannot unseal %s: %s", k->cookie_name, err.message);
        return false;
    }
    json_t *payload = json_loadb((const char *)data, len, 0, NULL);
    free(data);
    const char *at = json_string_value(json_object_get(payload, "accessToken"));
    const char *rt = json_string_value(json_object_get(payload, "refreshToken"));
    if (!at || !rt) {
        json_decref(payload);
        snprintf(why, why_size, "sealed session has no tokens");
        return false;
    }
    s->access_token = strdup(at);
    s->refresh_token = strdup(rt);
    s->user = json_incref(json_object_get(payload, "user"));
    s->impersonator = json_incref(json_object_get(payload, "impersonator"));
    json_decref(payload);
    return true;
}

char *refapp_session_seal(const struct hx_app_knobs *k, const char *at, const char *rt,
                          const json_t *user, const json_t *impersonator, int64_t now)
{
    json_t *payload = json_pack("{s:s, s:s, s:O?, s:O?}", "accessToken", at, "refreshToken", rt,
                                "user", user, "impersonator", impersonator);
    char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(payload);
    char *seal = text ? idp_iron_seal_id(k->cookie_password, k->cookie_password_id,
                                         (unsigned char *)text, strlen(text), now, 0, NULL)
                      : NULL;
    free(text);
    return seal;
}

void refapp_session_cleanup(struct session *s)
{
    free(s->access_token);
    free(s->refresh_token);
    json_decref(s->user);
    json_decref(s->impersonator);
    memset(s, 0, sizeof(*s));
}

enum refapp_auth refapp_middleware(struct hx_app *app, const struct hx_app_knobs *k,
                                   struct instance *inst, struct mg_connection *conn,
                                   struct reply *r, struct session *s, bool force_refresh)
{
    char why[512];
    if (!refapp_session_load(app, k, conn, s, why, sizeof(why))) {
        if (!strstr(why, "no "))
            refapp_note(app, "%s", why);
        return REFAPP_SIGNED_OUT;
    }
    json_t *presented = json_pack("{s:s}", "kind", "presented");
    refapp_token_field(presented, "access_token", s->access_token);
    refapp_record(app, presented);
    int64_t now = refapp_now(app, k);
    enum hx_verify v = hx_verify_token(&inst->jwks, s->access_token, now, k->leeway_ms,
                                       k->issuer[0] ? k->issuer : NULL, NULL, NULL, why, sizeof(why));
    bool refresh_now = force_refresh || v != HX_VERIFY_OK;
    bool still_valid = v == HX_VERIFY_OK;
    if (v == HX_VERIFY_OK && k->refresh == HX_REFRESH_PROACTIVE) {
        json_t *claims = hx_token_claims(s->access_token);
        json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
        json_int_t iat = json_integer_value(json_object_get(claims, "iat"));
        json_decref(claims);
        int64_t buffer = k->refresh_buffer_ms ? k->refresh_buffer_ms
                                              : exp - iat <= 300 ? 30000 : 60000;
        if (exp * 1000 - now < buffer) {
            refresh_now = true;
            snprintf(why, sizeof(why), "expires in %llds, within the %llds buffer",
                     (long long)(exp - now / 1000), (long long)(buffer / 1000));
        }
    }
    if (!refresh_now)
        return REFAPP_SIGNED_IN;
    refapp_note(app, "%s -> refresh", force_refresh ? "forced" : why);
    struct refresh_result *res = refapp_refresh(app, k, inst, s->refresh_token);
    if (res && res->kind == 0) {
        char *seal = refapp_session_seal(k, res->access_token, res->refresh_token, res->user,
                                         res->impersonator, now);
        if (k->refresh_where == HX_REFRESH_IN_RENDER)
            refapp_note(app, "refreshed while rendering: cookies cannot be written here, the new "
                             "session is lost");
        else if (seal)
            refapp_session_cookie_set(app, k, r, seal);
        free(seal);
        refapp_session_cleanup(s);
        s->access_token = res->access_token;
        s->refresh_token = res->refresh_token;
        s->user = res->user;
        s->impersonator = res->impersonator;
        res->access_token = res->refresh_token = NULL;
        res->user = res->impersonator = NULL;
        refapp_result_free(res);
        return REFAPP_SIGNED_IN;
    }
    pthread_mutex_lock(&app->lock);
    app->refresh_failures++;
    inst->refresh_failures++;
    pthread_mutex_unlock(&app->lock);
    bool transient = !res || res->kind == 1;
    refapp_note(app, "refresh failed: %ld %s (%s)", res ? res->status : 0L,
                res ? res->error : "no memory", transient ? "transient" : "terminal");
    refapp_result_free(res);
    if (k->refresh == HX_REFRESH_PROACTIVE && still_valid) {
        refapp_note(app, "serving the still-valid access token");
        return REFAPP_SIGNED_IN;
    }
    if (transient && k->refresh_errors == HX_ERRORS_KEEP_ON_TRANSIENT) {
        refapp_note(app, "transient failure: cookie kept, this request is signed out");
    } else {
        refapp_note(app, "deleting the session cookie");
        refapp_session_cookie_delete(app, k, r);
    }
    refapp_session_cleanup(s);
    return REFAPP_SIGNED_OUT;
}
