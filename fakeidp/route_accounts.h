/* The User Management calls of the headless sign-in flows
 * (route_accounts.c): users, magic auth, email verification, password
 * reset, invitations. */
#ifndef IDP_ROUTE_ACCOUNTS_H
#define IDP_ROUTE_ACCOUNTS_H

#include "http.h"

void idp_route_create_user(struct idp_server *server, struct idp_request *req,
                           struct idp_response *resp);
void idp_route_list_users(struct idp_server *server, struct idp_request *req,
                          struct idp_response *resp);
void idp_route_create_magic_auth(struct idp_server *server, struct idp_request *req,
                                 struct idp_response *resp);
void idp_route_get_magic_auth(struct idp_server *server, struct idp_request *req,
                              struct idp_response *resp);
void idp_route_get_email_verification(struct idp_server *server, struct idp_request *req,
                                      struct idp_response *resp);
void idp_route_send_verification_email(struct idp_server *server, struct idp_request *req,
                                       struct idp_response *resp);
void idp_route_verify_email(struct idp_server *server, struct idp_request *req,
                            struct idp_response *resp);
void idp_route_create_password_reset(struct idp_server *server, struct idp_request *req,
                                     struct idp_response *resp);
void idp_route_get_password_reset(struct idp_server *server, struct idp_request *req,
                                  struct idp_response *resp);
void idp_route_reset_password(struct idp_server *server, struct idp_request *req,
                              struct idp_response *resp);
void idp_route_send_invitation(struct idp_server *server, struct idp_request *req,
                               struct idp_response *resp);

#endif
