/* What the files of the fault engine share; faults.h is its public side. A
 * rule (struct idp_fault), the row of the action table, and the helpers the
 * actions use to hold a request or act on its connection.
 *
 *   fault_rules.c    the rule list: reading a rule (JSON or the compact CLI
 *                    form), adding, removing, listing
 *   fault_eval.c     one request against the rules: which routes any rule
 *                    concerns, matching, triggers, running a phase's actions
 *   fault_actions.c  the action table, and the actions that rewrite the
 *                    answer (status, bodies, tokens, JWKS) or the IdP's
 *                    state (refresh mode, sessions, rate limits)
 *   fault_wire.c     the actions on the connection (latency, reset, close,
 *                    hang, garbage, truncated, dribble) and the holds and
 *                    socket lookup they rest on
 *   fault_barrier.c  the barrier: requests held until a group has come, let
 *                    through in a chosen order
 *
 * The rule list and each rule's counters and barrier state are guarded by the
 * server lock. Actions run without it and take it for what they touch. */
#ifndef IDP_FAULT_INTERNAL_H
#define IDP_FAULT_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "error.h"
#include "faults.h"
#include "http.h"
#include "random.h"
#include "store.h"

/* Before the handler (the IdP has not changed state yet), or after it (the
 * handler's answer exists and the IdP has committed). */
enum idp_fault_phase { IDP_FAULT_BEFORE, IDP_FAULT_AFTER };

/* Checks the action's own parameters in a rule, once its phase is known;
 * the error names the parameter. */
typedef enum idp_status idp_fault_parse_fn(const json_t *rule, enum idp_fault_phase phase,
                                           struct idp_error *err);
/* Acts on one request. The server lock is NOT held; the rule is referenced
 * until the action returns, so removing it meanwhile cannot free it. */
typedef enum idp_fault_outcome idp_fault_run_fn(struct idp_server *server, struct idp_fault *fault,
                                                struct idp_request *req,
                                                struct idp_response *resp);

/* One row of the action table (fault_actions.c). */
struct idp_fault_action {
    const char *name;
    /* The phase a rule of this action runs in unless it says otherwise. An
     * AFTER action needs the handler's answer: it cannot run before. */
    enum idp_fault_phase phase;
    idp_fault_parse_fn *parse; /* NULL: nothing beyond the common keys */
    idp_fault_run_fn *run;
};

#define IDP_FAULT_BARRIER_GENERATIONS 8
#define IDP_FAULT_ID_SIZE 48

struct idp_fault {
    char id[IDP_FAULT_ID_SIZE];
    json_t *rule; /* the rule as given, for listing */
    /* match */
    char route[24], method[8], path[160], grant_type[32], client_id[IDP_ID_SIZE],
        user_id[IDP_ID_SIZE], session_id[IDP_ID_SIZE], header[64];
    /* trigger */
    long nth, first, every, count;
    double probability;
    int64_t window_from_ms, window_until_ms; /* relative to added_ms */
    char after_fault[48];
    enum idp_fault_phase phase;
    int64_t added_ms;
    struct idp_random rng;
    /* action */
    const struct idp_fault_action *action;
    json_t *params;
    /* counters */
    long matched, fired;
    /* lifetime: actions in flight hold references; a removed rule is freed
     * when the last one is dropped */
    int refs;
    bool removed;
    /* barrier state: arrivals fill a generation; a released generation's
     * requests take turns in rank order */
    long barrier_arrived, barrier_generation, barrier_released;
    long barrier_turn, barrier_turn_generation;
    long barrier_sizes[IDP_FAULT_BARRIER_GENERATIONS];
    /* rate limit state */
    int64_t rate_window_start;
    long rate_count;
    struct idp_fault *next;
};

/* fault_rules.c: drops a reference taken by an action in flight (lock held);
 * a removed rule is freed with its last reference. */
void idp_fault_release(struct idp_fault *fault);

/* fault_eval.c: the bit of a route name in idp_faults.route_bits, and its
 * recomputation after the rule list changed (lock held). */
unsigned idp_fault_route_bit(const char *route);
void idp_fault_update_route_bits(struct idp_faults *faults);

/* fault_actions.c: the row named name, or NULL with err set (IDP_INVALID,
 * the closest name as a hint). */
const struct idp_fault_action *idp_fault_action_find(const char *name, struct idp_error *err);
/* fault_params.c: a duration parameter: "250ms", "2s" or a number of seconds, under a year;
 * fallback when absent or not one. */
int64_t idp_fault_param_duration(const json_t *params, const char *name, int64_t fallback);
/* A whole-number parameter; fallback when absent or not one. */
long idp_fault_param_integer(const json_t *params, const char *name, long fallback);

/* fault_wire.c: holding a request. Real-time bounds on what a fault may hold
 * a request for (docs/faults.md): latency, hang, a barrier's timeout, a
 * dribble in all. */
#define IDP_FAULT_MAX_HOLD_MS 300000
/* The real time ms from now, for the timed waits. */
struct timespec idp_fault_deadline(int64_t ms);
/* Waits (lock held) on barrier_changed until deadline, a broadcast, or the
 * server's shutdown; at most a poll slice, so callers can look at their
 * client. Returns false once the deadline has passed. */
bool idp_fault_wait_slice(struct idp_server *server, const struct timespec *deadline);
/* True when the client at the other end of fd has closed or reset its side. */
bool idp_fault_client_gone(int fd);
/* Sleeps ms of real time, cut short by shutdown or by the client leaving
 * (fd, or -1 not to watch). Lock NOT held. Returns false when cut short. */
bool idp_fault_sleep(struct idp_server *server, int64_t ms, int fd);
/* The socket of the request's connection, or -1. */
int idp_fault_connection_fd(struct idp_server *server, struct idp_request *req);
/* Ends the connection: an RST (reset) or an orderly shutdown. */
void idp_fault_drop_connection(struct idp_server *server, struct idp_request *req, bool reset);

/* The actions, each a row of the table in fault_actions.c. */
idp_fault_run_fn idp_fault_latency, idp_fault_reset, idp_fault_close, idp_fault_hang,
    idp_fault_garbage, idp_fault_truncated, idp_fault_dribble; /* fault_wire.c */
idp_fault_parse_fn idp_fault_barrier_parse;                     /* fault_barrier.c */
idp_fault_run_fn idp_fault_barrier;

/* fault_barrier.c: called once the request that went through a barrier is
 * done with the handler, or answered before it; passes the turn on. Lock NOT
 * held. */
void idp_fault_barrier_done(struct idp_server *server, struct idp_request *req);

#endif
