/* The barrier fault: matching requests are held until `hold` have arrived
 * (or the timeout), then let through one at a time in the chosen order
 * ("arrival", "reverse", an array of arrival positions) or all at once
 * ("concurrent"). It makes races reproducible: two refreshes of the same
 * token, in the order a scenario wants. */
#include <stdlib.h>
#include <string.h>

#include "fault_internal.h"
#include "server_internal.h"

#define MAX_GAP_MS 2000 /* a barrier's gap */

enum idp_status idp_fault_barrier_parse(const json_t *rule, enum idp_fault_phase phase,
                                        struct idp_error *err)
{
    (void)rule;
    if (phase != IDP_FAULT_BEFORE)
        return idp_fail(err, IDP_INVALID, "fault: a barrier holds requests before they are handled (phase \"before\")");
    return IDP_OK;
}

/* Opens the filling generation of a barrier: whoever has arrived is let
 * through, later arrivals fill the next generation. Lock held. */
static void barrier_release(struct idp_server *server, struct idp_fault *f)
{
    long gen = f->barrier_generation;
    f->barrier_sizes[gen % IDP_FAULT_BARRIER_GENERATIONS] = f->barrier_arrived;
    f->barrier_released = gen;
    f->barrier_turn_generation = gen;
    f->barrier_turn = 0;
    f->barrier_generation++;
    f->barrier_arrived = 0;
    pthread_cond_broadcast(&server->faults.barrier_changed);
}

/* The position in which the arrival-th request of a group of size is let
 * through. */
static long barrier_rank(const json_t *order, long arrival, long size)
{
    const char *order_name = json_string_value(order);
    long rank = arrival;
    if (order_name && strcmp(order_name, "reverse") == 0)
        rank = size - 1 - arrival;
    else if (json_is_array(order))
        for (size_t i = 0; i < json_array_size(order); i++)
            if (json_integer_value(json_array_get(order, i)) == arrival)
                rank = (long)i;
    return rank;
}

enum idp_fault_outcome idp_fault_barrier(struct idp_server *server, struct idp_fault *f,
                                         struct idp_request *req, struct idp_response *resp)
{
    long hold = idp_fault_param_integer(f->params, "hold", 2);
    int64_t timeout = idp_fault_param_duration(f->params, "timeout", 5000);
    if (timeout > IDP_FAULT_MAX_HOLD_MS)
        timeout = IDP_FAULT_MAX_HOLD_MS;
    int64_t gap = idp_fault_param_duration(f->params, "gap", 0);
    int fd = idp_fault_connection_fd(server, req);
    const json_t *order = json_object_get(f->params, "order");
    const char *order_name = json_string_value(order);
    bool concurrent = order_name && strcmp(order_name, "concurrent") == 0;

    pthread_mutex_lock(&server->lock);
    /* Held from arrival: removing the rule must not free it under a waiter. */
    f->refs++;
    req->barrier = f;
    long gen = f->barrier_generation;
    long arrival = f->barrier_arrived++;
    struct timespec deadline = idp_fault_deadline(timeout);
    if (f->barrier_arrived >= hold)
        barrier_release(server, f);
    /* A held request goes on when its group is complete, at the timeout,
     * when the rule is removed (or the server reset or stopped), and, gone
     * for good, when its client leaves: it then gives its place up. */
    while (f->barrier_released < gen) {
        if (server->faults.shutting_down || f->removed ||
            !idp_fault_wait_slice(server, &deadline)) {
            barrier_release(server, f); /* release whoever came */
        } else if (idp_fault_client_gone(fd)) {
            if (f->barrier_generation == gen && f->barrier_arrived > 0)
                f->barrier_arrived--;
            idp_fault_release(f);
            req->barrier = NULL;
            pthread_mutex_unlock(&server->lock);
            resp->status = 0;
            idp_fault_drop_connection(server, req, false);
            return IDP_FAULT_NO_REPLY;
        }
    }
    long rank = barrier_rank(order, arrival,
                             f->barrier_sizes[gen % IDP_FAULT_BARRIER_GENERATIONS]);
    req->barrier_rank = rank;
    req->barrier_generation = gen;
    req->barrier_concurrent = concurrent;
    /* A rank outside the given order, or a predecessor that never finishes,
     * must not hold a request forever: the deadline still bounds the wait. */
    while (!concurrent && f->barrier_turn_generation == gen && f->barrier_turn < rank &&
           !server->faults.shutting_down && !f->removed && !idp_fault_client_gone(fd))
        if (!idp_fault_wait_slice(server, &deadline))
            break;
    pthread_mutex_unlock(&server->lock);
    /* "gap": each successor starts this long after its predecessor finished,
     * so the replies reach clients in release order, not in a race. */
    if (!concurrent && rank > 0)
        idp_fault_sleep(server, gap > MAX_GAP_MS ? MAX_GAP_MS : gap, fd);
    return IDP_FAULT_CONTINUE;
}

void idp_fault_barrier_done(struct idp_server *server, struct idp_request *req)
{
    struct idp_fault *f = req->barrier;
    if (!f)
        return;
    pthread_mutex_lock(&server->lock);
    if (!req->barrier_concurrent && f->barrier_turn_generation == req->barrier_generation &&
        f->barrier_turn <= req->barrier_rank)
        f->barrier_turn = req->barrier_rank + 1;
    pthread_cond_broadcast(&server->faults.barrier_changed);
    idp_fault_release(f);
    pthread_mutex_unlock(&server->lock);
    req->barrier = NULL;
}
