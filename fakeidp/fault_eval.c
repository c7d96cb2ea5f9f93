/* One request against the rules: whether any rule concerns its route at all
 * (without the lock), what the request is about (route, grant, client, and
 * the user and session behind its token or code), which rules match and
 * fire, and running the fired rules' actions around the handler. */
#include <stdio.h>
#include <string.h>

#include "fault_internal.h"
#include "server_internal.h"

/* At most this many rules act on one request in one phase. */
#define MAX_FIRED 16

/* What a request is about, resolved once for matching. */
struct facts {
    const char *route, *method, *path, *grant_type, *client_id;
    char session_id[IDP_ID_SIZE], user_id[IDP_ID_SIZE];
};

/* Lock held: the token, session and code are looked up in the store. */
static void resolve_facts(struct idp_server *server, struct idp_request *req, struct facts *facts)
{
    memset(facts, 0, sizeof(*facts));
    facts->route = req->entry.route;
    facts->method = req->method;
    facts->path = req->path;
    facts->grant_type = idp_request_param(req, "grant_type");
    facts->client_id = idp_request_param(req, "client_id");
    if (!facts->client_id && strcmp(facts->route, "jwks") == 0)
        facts->client_id = req->path_arg; /* /sso/jwks/{client_id} */
    const char *token = idp_request_param(req, "refresh_token");
    const char *sid = idp_request_param(req, "session_id");
    const char *code = idp_request_param(req, "code");
    struct idp_refresh *rt = idp_store_refresh(&server->store, token);
    struct idp_session *s = idp_store_session(&server->store, rt ? rt->session_id : sid);
    struct idp_code *c = idp_store_code(&server->store, code);
    if (s) {
        snprintf(facts->session_id, sizeof(facts->session_id), "%s", s->id);
        snprintf(facts->user_id, sizeof(facts->user_id), "%s", s->user_id);
    } else if (c) {
        snprintf(facts->user_id, sizeof(facts->user_id), "%s", c->user_id);
    }
}

static bool text_matches(const char *want, const char *have)
{
    return !want[0] || (have && idp_pattern_match(want, have));
}

static bool rule_matches(const struct idp_fault *f, const struct facts *facts,
                         struct idp_request *req)
{
    return text_matches(f->route, facts->route) && text_matches(f->method, facts->method) &&
           text_matches(f->path, facts->path) && text_matches(f->grant_type, facts->grant_type) &&
           text_matches(f->client_id, facts->client_id) &&
           text_matches(f->user_id, facts->user_id) &&
           text_matches(f->session_id, facts->session_id) &&
           (!f->header[0] || idp_request_header(req, f->header));
}

static const struct idp_fault *find_fault(const struct idp_faults *faults, const char *id)
{
    for (const struct idp_fault *p = faults->head; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

/* Decides whether a matching rule fires now; counts it. Lock held. */
static bool rule_fires(struct idp_server *server, struct idp_fault *f, int64_t now_ms)
{
    if (f->after_fault[0]) {
        const struct idp_fault *other = find_fault(&server->faults, f->after_fault);
        if (!other || other->fired == 0)
            return false;
    }
    int64_t elapsed = now_ms - f->added_ms;
    if (elapsed < f->window_from_ms || elapsed >= f->window_until_ms)
        return false;
    long n = ++f->matched;
    bool fire = true;
    if (f->nth)
        fire = fire && n == f->nth;
    if (f->first)
        fire = fire && n <= f->first;
    if (f->every)
        fire = fire && n % f->every == 0;
    if (f->probability >= 0)
        fire = fire && idp_random_unit(&f->rng) < f->probability;
    if (f->count && f->fired >= f->count)
        fire = false;
    if (fire)
        f->fired++;
    return fire;
}

static void note_fired(struct idp_request *req, const char *id)
{
    size_t used = strlen(req->entry.fault);
    snprintf(req->entry.fault + used, sizeof(req->entry.fault) - used, "%s%s", used ? "," : "", id);
}

/* Whether a rule can concern route at all, from the route bits, without
 * the lock: requests no rule concerns pay nothing. The admin API is only
 * faulted by rules that name it. */
static bool route_may_match(struct idp_server *server, const char *route)
{
    unsigned bits = __atomic_load_n(&server->faults.route_bits, __ATOMIC_ACQUIRE);
    unsigned mine = idp_fault_route_bit(route);
    return (bits & mine) || ((bits & 1u) && strcmp(route, "admin") != 0);
}

/* Whether a rule of the phase names route (or none), lock held: cheap, before
 * resolving what the request is about. */
static bool phase_names_route(struct idp_server *server, const char *route,
                              enum idp_fault_phase phase)
{
    for (struct idp_fault *f = server->faults.head; f; f = f->next)
        if (f->phase == phase && (!f->route[0] ? strcmp(route, "admin") != 0
                                               : idp_pattern_match(f->route, route)))
            return true;
    return false;
}

/* Picks the rules of the phase that match and fire (lock held), each
 * referenced until its action returns, so removing it meanwhile (admin API,
 * reset) cannot free it under the action. Returns how many. */
static size_t pick_fired(struct idp_server *server, struct idp_request *req,
                         enum idp_fault_phase phase, struct idp_fault *fired[MAX_FIRED])
{
    struct facts facts;
    resolve_facts(server, req, &facts);
    bool admin = strcmp(facts.route, "admin") == 0;
    size_t count = 0;
    for (struct idp_fault *f = server->faults.head; f && count < MAX_FIRED; f = f->next) {
        /* The admin API stays reachable (to remove the fault!) unless a rule
         * names it explicitly. */
        if (admin && strcmp(f->route, "admin") != 0)
            continue;
        if (f->phase != phase || !rule_matches(f, &facts, req))
            continue;
        if (!rule_fires(server, f, req->now_ms))
            continue;
        note_fired(req, f->id);
        f->refs++;
        fired[count++] = f;
    }
    return count;
}

static enum idp_fault_outcome run_phase(struct idp_server *server, struct idp_request *req,
                                        struct idp_response *resp, enum idp_fault_phase phase)
{
    /* Pick the rules that fire under the lock, run their actions without it. */
    if (!route_may_match(server, req->entry.route))
        return IDP_FAULT_CONTINUE;
    struct idp_fault *fired[MAX_FIRED];
    size_t noted = strlen(req->entry.fault);
    pthread_mutex_lock(&server->lock);
    size_t count = phase_names_route(server, req->entry.route, phase)
                       ? pick_fired(server, req, phase, fired)
                       : 0;
    pthread_mutex_unlock(&server->lock);
    if (!count)
        return IDP_FAULT_CONTINUE;
    enum idp_fault_outcome outcome = IDP_FAULT_CONTINUE;
    size_t ran = 0;
    for (; ran < count && outcome == IDP_FAULT_CONTINUE; ran++)
        outcome = fired[ran]->action->run(server, fired[ran], req, resp);
    pthread_mutex_lock(&server->lock);
    /* Rules after the one that answered never acted: they are not counted
     * as fired (a count budget is not spent) nor named in the journal. */
    req->entry.fault[noted] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i < ran)
            note_fired(req, fired[i]->id);
        else
            fired[i]->fired--;
        idp_fault_release(fired[i]);
    }
    pthread_mutex_unlock(&server->lock);
    return outcome;
}

enum idp_fault_outcome idp_faults_before(struct idp_server *server, struct idp_request *req,
                                         struct idp_response *resp)
{
    enum idp_fault_outcome outcome = run_phase(server, req, resp, IDP_FAULT_BEFORE);
    /* Answered here, the request never reaches the after phase: release the
     * barrier turn it holds now, or its successors wait out the timeout. */
    if (outcome != IDP_FAULT_CONTINUE)
        idp_fault_barrier_done(server, req);
    return outcome;
}

enum idp_fault_outcome idp_faults_after(struct idp_server *server, struct idp_request *req,
                                        struct idp_response *resp)
{
    idp_fault_barrier_done(server, req);
    return run_phase(server, req, resp, IDP_FAULT_AFTER);
}
