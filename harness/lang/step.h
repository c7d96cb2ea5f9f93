/* A scenario step as the runner runs it: parsed once when the scenario is
 * loaded (run/steps.c: hx_steps_parse checks each step against its row of
 * the step table and fills this), then run as it is (hx_step_run), with no
 * second reading of its JSON. Strings and JSON values are borrowed from
 * the variant's document, which outlives its steps. */
#ifndef HX_STEP_H
#define HX_STEP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "expectation.h"

struct hx_step;

/* A list of steps: a variant's, or a parallel's or repeat's. */
struct hx_steps {
    struct hx_step *items;
    size_t count;
};

struct hx_step {
    const char *kind;   /* the kind's name: "load", "advance", ... */
    const void *row;    /* its row of the step table (steps.c) */
    int index;          /* its place in its list, from 0 */
    /* The kind's member as written: the payload of the kinds that hand a
     * checked object on as it is (fault rules, settings, knobs, rotation
     * times). */
    const json_t *value;

    /* Modifiers: NULL or 0 when absent. */
    const char *note;
    const char *at;        /* an app's name or a URL: where the step acts */
    int instance;          /* the app instance the balancer sends it to, 1.. */
    const char *backend;   /* the named backend it calls */
    const json_t *barrier; /* parallel: the barrier rule (without "action") */

    /* The kind's own values. */
    union {
        int64_t duration_ms;  /* advance, spa_wait */
        const char *location; /* load, reload, api: "/path", "app/path" or a URL */
        const char *fault_id; /* remove_fault */
        const char *tab;      /* spa_reload, spa_call: the tab ("main" for true) */
        long long times;      /* repeat */
        struct {
            const char *op;  /* open, hide, show or close */
            const char *tab;
        } spa_tab;
        struct {
            const char *email;  /* NULL: the default user */
            const char *method; /* authkit, password or magic_auth */
            const char *password;
            const char *organization; /* an id or a name, or NULL */
        } sign_in; /* sign_in, spa_sign_in */
        struct {
            const char *path;        /* NULL: /logout */
            const char *method;      /* NULL: GET, or POST with a form */
            const char *next_action; /* a Next.js Server Action id, or NULL */
            const json_t *form;      /* an object of strings, or NULL */
        } sign_out;
        struct {
            const char *path; /* a location */
            const char *from; /* app, cross_site or typed (navigate only); NULL: app */
            const char *by;   /* navigate: link or script; NULL: link */
            const json_t *form; /* form_post: an object of strings */
        } page; /* navigate, form_post */
        struct {
            const char *name;
            const char *mode;
        } cookie;            /* tamper_cookie */
        const json_t *env; /* restart_app: variables for the new process, or NULL */
        struct {
            const json_t *spec; /* what to change in a genuine token (forge.c) */
            const char *to;     /* present_token: the backend's location, or NULL */
        } forge;                /* present_token, forge_session_cookie */
    } as;

    struct hx_steps children;      /* parallel, repeat */
    struct hx_expectations expect; /* expect */
};

#endif
