/* The grants of POST /user_management/authenticate besides
 * authorization_code and refresh_token (route_grants.c): password, magic
 * auth, email verification, organization selection, MFA TOTP; and the
 * pending authentication tokens and email verifications they hand out. */
#ifndef IDP_ROUTE_GRANTS_H
#define IDP_ROUTE_GRANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "store.h"

bool idp_grant_known(const char *grant_type);
/* Lock held on entry; released on return. */
void idp_grant_headless(struct idp_server *server, struct idp_request *req,
                        struct idp_response *resp, struct idp_client *client,
                        const char *grant_type, bool confidential);
/* A pending authentication token for user signing in to client (lock
 * held): the organization already chosen (or NULL), the method and the
 * checks already passed. Writes the token into out; false when out of
 * memory. */
bool idp_pending_new(struct idp_server *server, const struct idp_user *user,
                     const char *client_id, const char *org_id, const char *method, int stage,
                     int64_t auth_ms, int64_t now_ms, char out[IDP_ID_SIZE]);
/* An email verification code for user, e-mailed to the outbox (lock held);
 * writes its id into out ("" when out of memory). */
void idp_email_verification_new(struct idp_server *server, struct idp_user *user,
                                int64_t now_ms, char out[IDP_ID_SIZE]);

#endif
