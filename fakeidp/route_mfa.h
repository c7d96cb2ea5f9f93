/* TOTP factors and challenges (route_mfa.c). */
#ifndef IDP_ROUTE_MFA_H
#define IDP_ROUTE_MFA_H

#include "http.h"

void idp_route_enroll_factor(struct idp_server *server, struct idp_request *req,
                             struct idp_response *resp);
void idp_route_list_factors(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp);
void idp_route_challenge_factor(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp);
void idp_route_verify_challenge(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp);

#endif
