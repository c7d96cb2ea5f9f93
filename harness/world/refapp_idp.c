/* The reference app's calls to fakeidp: the token grants (authenticate,
 * with authkit-session's one retry after a 429), refreshes de-duplicated
 * per instance with the dedupe knob, and the other API calls of the custom
 * sign-in pages; kept-alive clients when no fault can cut a request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"
#include "refapp_internal.h"

void refapp_result_free(struct refresh_result *r)
{
    if (!r)
        return;
    free(r->access_token);
    free(r->refresh_token);
    json_decref(r->user);
    json_decref(r->impersonator);
    json_decref(r->reply);
    free(r);
}

/* A client for a call to fakeidp: a kept-alive one when no fault of the
 * run can cut a request (curl re-sends a request whose reused connection
 * dies before a reply, which would hide the fault), else a new connection. */
static struct hx_http_client *idp_client(struct hx_app *app)
{
    struct hx_http_client *client = NULL;
    pthread_mutex_lock(&app->lock);
    if (app->idp_keep_alive && app->idle_count > 0)
        client = app->idle_clients[--app->idle_count];
    pthread_mutex_unlock(&app->lock);
    return client ? client : hx_http_client_new();
}

static void idp_client_done(struct hx_app *app, struct hx_http_client *client)
{
    pthread_mutex_lock(&app->lock);
    if (client && app->idp_keep_alive && app->idle_count < HX_APP_IDLE_CLIENTS) {
        app->idle_clients[app->idle_count++] = client;
        client = NULL;
    }
    pthread_mutex_unlock(&app->lock);
    hx_http_client_free(&client);
}

void refapp_idle_clients_close(struct hx_app *app)
{
    while (app->idle_count > 0)
        hx_http_client_free(&app->idle_clients[--app->idle_count]);
}

/* POSTs JSON text to fakeidp's API at path (under idp_url) over client, as
 * the SDK does: the app's API key as the Bearer token and, when numbered,
 * the browser's request number (X-Request-ID: hxreq-N), which links the
 * call to that request in fakeidp's journal. The token grants are
 * numbered; the sign-in pages' other calls (refapp_idp_api) have never been, and
 * fakeidp names those itself. False when no response came (resp->error). */
static bool idp_post(struct hx_app *app, struct hx_http_client *client, const char *path,
                     const char *text, bool numbered, struct hx_http_response *resp)
{
    char url[600], auth[200], request_id[48];
    snprintf(url, sizeof(url), "%s%s", app->idp_url, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", app->api_key);
    int number = numbered ? hx_timeline_request_current() : 0;
    snprintf(request_id, sizeof(request_id), "X-Request-ID: hxreq-%d", number);
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", auth,
                             number ? request_id : NULL, NULL};
    return client && text &&
           hx_http_request(client, "POST", url, headers, text, strlen(text), 15000, resp);
}

struct refresh_result *refapp_authenticate(struct hx_app *app, const struct hx_app_knobs *k,
                                           json_t *body)
{
    struct refresh_result *res = calloc(1, sizeof(*res));
    if (!res)
        return NULL;
    json_object_set_new(body, "client_id", json_string(app->client_id));
    json_object_set_new(body, "client_secret", json_string(app->api_key));
    char *text = json_dumps(body, JSON_COMPACT);
    struct hx_http_client *client = idp_client(app);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct hx_http_response resp = {0};
        bool got = idp_post(app, client, "/user_management/authenticate", text, true, &resp);
        res->status = resp.status;
        json_t *reply = got ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
        char retry_after[32] = "";
        hx_http_header(&resp, "Retry-After", retry_after, sizeof(retry_after));
        if (got && resp.status == 200 && json_string_value(json_object_get(reply, "access_token"))) {
            res->kind = 0;
            res->access_token = strdup(json_string_value(json_object_get(reply, "access_token")));
            res->refresh_token = strdup(json_string_value(json_object_get(reply, "refresh_token")));
            res->user = json_incref(json_object_get(reply, "user"));
            res->impersonator = json_incref(json_object_get(reply, "impersonator"));
        } else {
            long s = resp.status;
            bool transient = !got || s == 408 || s == 429 || s >= 500 || (s == 200 && !reply);
            res->kind = transient ? 1 : 2;
            const char *e = json_string_value(json_object_get(reply, "error"));
            const char *code = json_string_value(json_object_get(reply, "code"));
            snprintf(res->error, sizeof(res->error), "%s%s%s", got ? "" : resp.error,
                     e ? e : code ? code : "", s == 200 && !reply ? "unparseable 200 body" : "");
        }
        /* Where the call sits among the app's lines, and what it got. */
        json_t *call = json_pack("{s:s, s:i}", "kind", "call", "status", got ? (int)resp.status : 0);
        if (res->kind == 0) {
            refapp_token_field(call, "access_token", res->access_token);
            refapp_token_field(call, "refresh_token", res->refresh_token);
        }
        refapp_record(app, call);
        json_decref(res->reply);
        res->reply = reply;
        hx_http_response_cleanup(&resp);
        if (!(res->status == 429 && k->retry_429 && attempt == 0))
            break;
        /* authkit-session: one retry after Retry-After clamped to 1..10 s. */
        int64_t wait = atoll(retry_after) * 1000;
        wait = wait < 1000 ? 1000 : wait > 10000 ? 10000 : wait;
        if (wait > k->retry_429_max_ms)
            wait = k->retry_429_max_ms;
        refapp_note(app, "refresh got 429; retrying after %lldms", (long long)wait);
        /* The wait ends early once the IdP has no request in flight: what
         * the retry waits for (the first exchange's reply leaving) has then
         * happened, nothing else can happen at the IdP before the retry, and
         * the virtual clock stands still during the wait either way. So a
         * Retry-After of seconds costs the time the IdP needs, not seconds. */
        if (app->wait_quiet)
            app->wait_quiet(app->quiet_ctx, (int)wait);
        else
            usleep((useconds_t)wait * 1000);
    }
    idp_client_done(app, client);
    free(text);
    return res;
}

/* Refreshes with the IdP, de-duplicated per instance when the knob says so:
 * concurrent callers with the same token share the first one's result. */
struct refresh_result *refapp_refresh(struct hx_app *app, const struct hx_app_knobs *k,
                                      struct instance *inst, const char *token)
{
    pthread_mutex_lock(&app->lock);
    app->refreshes++;
    inst->refreshes++;
    pthread_mutex_unlock(&app->lock);
    if (!k->dedupe) {
        json_t *body = json_pack("{s:s, s:s}", "grant_type", "refresh_token", "refresh_token", token);
        struct refresh_result *r = refapp_authenticate(app, k, body);
        json_decref(body);
        return r;
    }
    pthread_mutex_lock(&inst->lock);
    struct inflight *f = inst->inflight;
    while (f && strcmp(f->token, token) != 0)
        f = f->next;
    bool owner = !f;
    if (owner) {
        f = calloc(1, sizeof(*f));
        if (!f) {
            pthread_mutex_unlock(&inst->lock);
            return NULL;
        }
        snprintf(f->token, sizeof(f->token), "%s", token);
        f->next = inst->inflight;
        inst->inflight = f;
    }
    f->refs++;
    pthread_mutex_unlock(&inst->lock);
    if (owner) {
        json_t *body = json_pack("{s:s, s:s}", "grant_type", "refresh_token", "refresh_token", token);
        struct refresh_result *r = refapp_authenticate(app, k, body);
        json_decref(body);
        pthread_mutex_lock(&inst->lock);
        f->result = r;
        f->done = true;
        pthread_cond_broadcast(&inst->settled);
    } else {
        pthread_mutex_lock(&inst->lock);
        while (!f->done)
            pthread_cond_wait(&inst->settled, &inst->lock);
        refapp_note(app, "joined an in-flight refresh (dedupe)");
    }
    struct refresh_result *copy = calloc(1, sizeof(*copy));
    if (copy && f->result) {
        *copy = *f->result;
        copy->access_token = f->result->access_token ? strdup(f->result->access_token) : NULL;
        copy->refresh_token = f->result->refresh_token ? strdup(f->result->refresh_token) : NULL;
        json_incref(copy->user);
        json_incref(copy->impersonator);
        json_incref(copy->reply);
    }
    if (--f->refs == 0) {
        for (struct inflight **p = &inst->inflight; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
        refapp_result_free(f->result);
        free(f);
    }
    pthread_mutex_unlock(&inst->lock);
    return copy;
}

/* A call of the WorkOS API with the app's API key (the SDK methods the
 * custom sign-in pages use); the reply's JSON or NULL, *status its status. */
json_t *refapp_idp_api(struct hx_app *app, const char *path, json_t *body, long *status)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct hx_http_client *client = idp_client(app);
    struct hx_http_response resp = {0};
    json_t *reply = NULL;
    *status = 0;
    if (idp_post(app, client, path, text, false, &resp)) {
        *status = resp.status;
        reply = json_loadb(resp.body, resp.body_len, 0, NULL);
    }
    hx_http_response_cleanup(&resp);
    idp_client_done(app, client);
    free(text);
    return reply;
}
