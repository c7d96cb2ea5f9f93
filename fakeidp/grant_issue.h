/* The answer of a grant that signs a user in or refreshes (grant_issue.c). */
#ifndef IDP_GRANT_ISSUE_H
#define IDP_GRANT_ISSUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "http.h"
#include "store.h"

/* What a successful grant needs after the lock is released. */
struct idp_grant {
    json_t *claims;
    json_t *user;
    json_t *impersonator;
    char org_id[IDP_ID_SIZE];
    char refresh_token[IDP_ID_SIZE];
    char method[32];
    char client_id[IDP_ID_SIZE];
    int64_t refresh_ttl_ms;
    bool cookie;
    char cookie_name[64];
    char cookie_domain[140]; /* "; Domain=…" or "" */
};

void idp_grant_cleanup(struct idp_grant *g);
/* Whether and how this request gets the browser-client cookies; lock held. */
void idp_grant_cookie_settings(struct idp_server *server, struct idp_request *req,
                               const struct idp_client *client, struct idp_grant *g);
/* Collects what the response needs; lock held. */
void idp_grant_prepare(struct idp_server *server, struct idp_request *req,
                       const struct idp_client *client, struct idp_user *user,
                       struct idp_session *session, const char *refresh_token, struct idp_grant *g);
/* Signs and builds the body; lock NOT held. Returns a malloc'd body or NULL. */
char *idp_grant_finish(struct idp_server *server, struct idp_request *req, struct idp_grant *g,
                       struct idp_error *err);
/* Browser clients in production mode keep the refresh token in an HttpOnly
 * cookie on the IdP's origin, plus a JS-readable marker (authkit-js). */
void idp_grant_set_cookies(struct idp_response *resp, const struct idp_grant *g);
/* A 200 JSON answer with body (malloc'd; the response takes it). */
void idp_respond_body(struct idp_response *resp, char *body);
/* With the lock held on entry and released on return: creates the session
 * and answers 200 with the tokens, as every grant that signs a user in does. */
void idp_sign_in_finish(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        struct idp_user *user, const char *org, const char *method,
                        int64_t auth_ms);

#endif
