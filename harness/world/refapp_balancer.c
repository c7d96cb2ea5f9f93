/* The balancer in front of the reference app's instances, and the count of
 * requests in flight that hx_app_idle waits on: refapp_handle (refapp_routes.c)
 * enters here with each request and leaves when it is answered. */
#include <civetweb.h>
#include <stdlib.h>

#include "refapp_internal.h"

/* The balancer in front of the instances (app->lock held): a step may
 * name its instance (X-Fakeidp-Instance, 1-based); otherwise round-robin,
 * sticky (the "lb-instance" cookie it sets, as an ALB's AWSALB), or seeded
 * random. */
static int choose_instance(struct hx_app *app, struct mg_connection *conn, bool *set_cookie)
{
    int n = (int)app->knobs.instances;
    const char *pinned = mg_get_header(conn, "X-Fakeidp-Instance");
    if (pinned && atoi(pinned) >= 1 && atoi(pinned) <= n)
        return atoi(pinned) - 1;
    if (app->knobs.balancer == HX_LB_STICKY) {
        char *lb = refapp_request_cookie(conn, "lb-instance");
        int chosen = lb ? atoi(lb) : 0;
        free(lb);
        if (chosen >= 1 && chosen <= n)
            return chosen - 1;
        *set_cookie = true;
    }
    if (app->knobs.balancer == HX_LB_RANDOM) {
        app->rng ^= app->rng << 13;
        app->rng ^= app->rng >> 7;
        app->rng ^= app->rng << 17;
        return (int)(app->rng % (uint64_t)n);
    }
    return (int)(app->next_instance++ % (unsigned)n);
}

int refapp_enter(struct hx_app *app, struct mg_connection *conn, struct hx_app_knobs *k,
                 bool *set_cookie)
{
    pthread_mutex_lock(&app->lock);
    app->active_requests++;
    int index = choose_instance(app, conn, set_cookie);
    *k = app->instances[index].knobs;
    pthread_mutex_unlock(&app->lock);
    return index;
}

void refapp_leave(struct hx_app *app)
{
    pthread_mutex_lock(&app->lock);
    if (--app->active_requests == 0)
        pthread_cond_broadcast(&app->idle);
    pthread_mutex_unlock(&app->lock);
}
