/* Faults are data: a rule that matches requests, a trigger that decides when
 * a match fires, a phase (before the IdP changes state, or after it has
 * committed), and an action. Rules come from the configuration, the CLI, the
 * admin API and scenario steps, all in one JSON form (docs/faults.md). The
 * server calls idp_faults_before / _after around each handler.
 *
 * The engine is five files, fault_internal.h says which holds what: the rule
 * list (fault_rules.c), a request against the rules (fault_eval.c), the
 * action table with the actions on the answer and on the IdP's state
 * (fault_actions.c), the actions on the connection (fault_wire.c) and the
 * barrier (fault_barrier.c). Adding an action is one row {name, phase,
 * parse, run} in the table of fault_actions.c and its run function. */
#ifndef IDP_FAULTS_H
#define IDP_FAULTS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct idp_server;
struct idp_request;
struct idp_response;

enum idp_fault_outcome {
    IDP_FAULT_CONTINUE, /* answer normally (the response may have been changed) */
    IDP_FAULT_ANSWERED, /* before: the fault produced the response, skip the handler */
    IDP_FAULT_NO_REPLY  /* the connection was reset / closed / garbage sent */
};

struct idp_fault;

struct idp_faults {
    struct idp_fault *head;
    struct evp_pkey_st *stray_key; /* a key never published, for forged tokens */
    unsigned next_id;
    pthread_cond_t barrier_changed;
    bool shutting_down;
    /* Which routes any rule can match (bit per route name, bit 0: any route),
     * read without the lock so requests no rule concerns pay nothing. */
    unsigned route_bits;
};

void idp_faults_init(struct idp_faults *faults);
void idp_faults_cleanup(struct idp_faults *faults);
/* Replaces all rules with those in a JSON array (NULL: none). */
enum idp_status idp_faults_configure(struct idp_faults *faults, const json_t *rules,
                                     int64_t now_ms, struct idp_error *err);
/* Adds one rule (lock held). On success *id_out names it. */
/* A rule's "between" window counts from now_ms, the virtual time it was added. */
enum idp_status idp_faults_add(struct idp_faults *faults, const json_t *rule, int64_t now_ms,
                               char *id_out, size_t id_size, struct idp_error *err);
bool idp_faults_remove(struct idp_faults *faults, const char *id);
void idp_faults_clear(struct idp_faults *faults);
/* The rules with their counters (new reference). */
json_t *idp_faults_json(const struct idp_faults *faults);
/* The fault action names, from the action table (a new JSON array). */
json_t *idp_fault_actions(void);
/* Releases every held request: barriers, latency, hang and dribble faults
 * (server shutdown). Server lock held. */
void idp_faults_release_all(struct idp_faults *faults);

/* Parses the compact CLI form, e.g.
 * "route=authenticate,grant=refresh_token,status=503,count=1,phase=after"
 * into a rule object (new reference), or NULL with err set. */
json_t *idp_fault_parse_compact(const char *text, struct idp_error *err);

/* Called by the server with the lock NOT held. */
enum idp_fault_outcome idp_faults_before(struct idp_server *server, struct idp_request *req,
                                         struct idp_response *resp);
enum idp_fault_outcome idp_faults_after(struct idp_server *server, struct idp_request *req,
                                        struct idp_response *resp);

#endif
