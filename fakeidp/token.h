/* Access tokens as WorkOS mints them (token.c): the claims of a session,
 * the issuer, and signing with the key the schedule names. */
#ifndef IDP_TOKEN_H
#define IDP_TOKEN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "settings.h"
#include "store.h"

struct idp_server;

/* Builds the access-token claims for a session; lock held. */
json_t *idp_access_claims(struct idp_server *server, const struct idp_client *client,
                          const struct idp_user *user, const struct idp_session *session,
                          int64_t now_ms);
/* Writes the issuer for client_id under the current settings. */
void idp_issuer(const struct idp_settings *settings, const char *client_id, char *out,
                size_t size);
/* Signs claims with the key that signs at now (lock held while choosing the
 * key, not while signing). Steals claims. Returns a malloc'd token. */
char *idp_mint(struct idp_server *server, json_t *claims, int64_t now_ms,
               struct idp_error *err);

#endif
