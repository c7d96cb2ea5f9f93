/* Organizations and memberships made at run time (route_orgs.c). */
#ifndef IDP_ROUTE_ORGS_H
#define IDP_ROUTE_ORGS_H

#include "http.h"

void idp_route_create_organization(struct idp_server *server, struct idp_request *req,
                                   struct idp_response *resp);
void idp_route_get_organization(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp);
void idp_route_create_membership(struct idp_server *server, struct idp_request *req,
                                 struct idp_response *resp);
void idp_route_list_memberships(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp);

#endif
