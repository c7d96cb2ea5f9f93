/* The route table: every WorkOS endpoint fakeidp answers and the admin API,
 * one row each (method, path pattern, route name, handler), and matching a
 * request's method and path against it. */
#include "routes.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "server_internal.h"

static const struct idp_route routes[] = {
    {"GET", "/user_management/authorize", "authorize", idp_route_authorize},
    {"POST", "/user_management/authorize", "authorize", idp_route_authorize},
    {"POST", "/user_management/authenticate", "authenticate", idp_route_authenticate},
    {"GET", "/sso/jwks/*", "jwks", idp_route_jwks},
    {"GET", "/.well-known/openid-configuration", "discovery", idp_route_discovery},
    {"GET", "/user_management/*/.well-known/openid-configuration", "discovery",
     idp_route_discovery},
    {"GET", "/user_management/sessions/logout", "logout", idp_route_logout},
    {"POST", "/user_management/sessions/revoke", "revoke", idp_route_revoke},
    {"GET", "/user_management/users/*/sessions", "sessions", idp_route_sessions_list},
    {"GET", "/user_management/users/*", "users", idp_route_user},
    {"POST", "/user_management/users", "users", idp_route_create_user},
    {"GET", "/user_management/users", "users", idp_route_list_users},
    {"POST", "/user_management/users/*/email_verification/send", "email_verification",
     idp_route_send_verification_email},
    {"POST", "/user_management/users/*/email_verification/confirm", "email_verification",
     idp_route_verify_email},
    {"GET", "/user_management/email_verification/*", "email_verification",
     idp_route_get_email_verification},
    {"POST", "/user_management/magic_auth", "magic_auth", idp_route_create_magic_auth},
    {"GET", "/user_management/magic_auth/*", "magic_auth", idp_route_get_magic_auth},
    {"POST", "/user_management/password_reset", "password_reset", idp_route_create_password_reset},
    {"POST", "/user_management/password_reset/confirm", "password_reset",
     idp_route_reset_password},
    {"GET", "/user_management/password_reset/*", "password_reset", idp_route_get_password_reset},
    {"POST", "/user_management/invitations", "invitations", idp_route_send_invitation},
    {"POST", "/organizations", "organizations", idp_route_create_organization},
    {"GET", "/organizations/*", "organizations", idp_route_get_organization},
    {"POST", "/user_management/organization_memberships", "memberships",
     idp_route_create_membership},
    {"GET", "/user_management/organization_memberships", "memberships",
     idp_route_list_memberships},
    {"POST", "/user_management/users/*/auth_factors", "auth_factors", idp_route_enroll_factor},
    {"GET", "/user_management/users/*/auth_factors", "auth_factors", idp_route_list_factors},
    {"POST", "/auth/factors/*/challenge", "auth_factors", idp_route_challenge_factor},
    {"POST", "/auth/challenges/*/verify", "auth_factors", idp_route_verify_challenge},
    {NULL, "/_fakeidp/**", "admin", idp_route_admin},
};

#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))
static const char *route_names[ROUTE_COUNT + 2];
static pthread_once_t route_names_once = PTHREAD_ONCE_INIT;

static void collect_route_names(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++)
            seen = strcmp(route_names[j], routes[i].name) == 0;
        if (!seen)
            route_names[n++] = routes[i].name;
    }
    route_names[n++] = IDP_ROUTE_NONE;
    route_names[n] = NULL;
}

const char *const *idp_route_names(void)
{
    pthread_once(&route_names_once, collect_route_names);
    return route_names;
}

/* Matches path against pattern; '*' is one segment (captured), a trailing
 * '**' is the rest of the path. */
static bool route_match(const char *pattern, const char *path, const char **arg,
                        size_t *arg_len)
{
    while (*pattern && *path) {
        if (pattern[0] == '*' && pattern[1] == '*') {
            *arg = path;
            *arg_len = strlen(path);
            return true;
        }
        if (*pattern == '*') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0)
                return false;
            *arg = path;
            *arg_len = len;
            path += len;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return false;
        pattern++;
        path++;
    }
    if (pattern[0] == '*' && pattern[1] == '*' && !*path) {
        *arg = path;
        *arg_len = 0;
        return true;
    }
    return !*pattern && !*path;
}

const struct idp_route *idp_route_find(const char *method, const char *path, char *arg,
                                       size_t arg_size, bool *method_mismatch)
{
    *method_mismatch = false;
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        const char *a = NULL;
        size_t len = 0;
        if (!route_match(routes[i].pattern, path, &a, &len))
            continue;
        if (routes[i].method && strcmp(routes[i].method, method) != 0) {
            *method_mismatch = true;
            continue;
        }
        snprintf(arg, arg_size, "%.*s", (int)(len < arg_size ? len : arg_size - 1), a ? a : "");
        return &routes[i];
    }
    return NULL;
}

void idp_route_allowed_methods(const char *path, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const char *a = NULL;
        size_t len = 0;
        if (!routes[i].method || !route_match(routes[i].pattern, path, &a, &len) ||
            strstr(out, routes[i].method))
            continue;
        int n = snprintf(out + used, size - used, "%s, ", routes[i].method);
        if (n > 0 && (size_t)n < size - used)
            used += (size_t)n;
    }
    snprintf(out + used, size - used, "OPTIONS");
}
