/* The route table (routes.c): every WorkOS endpoint and the admin API as
 * {method, path pattern, route name, handler}. Route names are what journal
 * entries, fault rules and lint know (idp_route_names in server.h); adding an
 * endpoint is one row there and its handler in a route_*.c file. */
#ifndef IDP_ROUTES_H
#define IDP_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct idp_route {
    const char *method;  /* NULL: any */
    const char *pattern; /* '*' matches one path segment (captured as path_arg) */
    const char *name;    /* journal / fault-matching name */
    idp_route_fn *handler;
};

/* The first row whose pattern matches path and whose method is method, its
 * '*' segment copied into arg; NULL when none does (*method_mismatch: a row
 * matched the path with another method). */
const struct idp_route *idp_route_find(const char *method, const char *path, char *arg,
                                       size_t arg_size, bool *method_mismatch);
/* The methods path takes, "GET, POST, OPTIONS", for a 405's Allow header
 * (the admin API names its own). */
void idp_route_allowed_methods(const char *path, char *out, size_t size);

#endif
