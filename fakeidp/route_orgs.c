/* Organizations and memberships made at run time, with the @workos-inc/node
 * 12 paths and shapes: createOrganization (POST /organizations),
 * getOrganization (GET /organizations/{id}), createOrganizationMembership
 * and listOrganizationMemberships (/user_management/organization_memberships).
 * A membership made here scopes tokens like a configured one. All need the
 * API key. */
#include "route_orgs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "server_internal.h"

/* The organization object; stored records hold id, name and, when made at
 * run time, created_at, external_id and metadata. Lock held. */
static json_t *organization_json(struct idp_server *server, const char *id)
{
    const json_t *stored = json_object_get(server->store.organizations, id);
    if (!stored)
        return NULL;
    const char *created = json_string_value(json_object_get(stored, "created_at"));
    char fallback[32];
    idp_format_iso8601(0, fallback);
    const json_t *external = json_object_get(stored, "external_id");
    const json_t *metadata = json_object_get(stored, "metadata");
    return json_pack("{s:s, s:s, s:O, s:b, s:[], s:s, s:s, s:o, s:o}", "object", "organization",
                     "id", id, "name", json_object_get(stored, "name"),
                     "allow_profiles_outside_organization", 0, "domains", "created_at",
                     created ? created : fallback, "updated_at", created ? created : fallback,
                     "external_id", external ? json_deep_copy(external) : json_null(), "metadata",
                     metadata ? json_deep_copy(metadata) : json_object());
}

static json_t *membership_json(struct idp_server *server, const struct idp_user *user,
                               const struct idp_membership *m)
{
    char created[32];
    idp_format_iso8601(m->created_ms, created);
    const json_t *org = json_object_get(server->store.organizations, m->org_id);
    const char *role = json_string_value(json_object_get(m->fields, "role"));
    json_t *roles = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(m->fields, "roles"), i, r)
        json_array_append_new(roles, json_pack("{s:O}", "slug", r));
    return json_pack("{s:s, s:s, s:s, s:s, s:O, s:s, s:{s:s}, s:o, s:s, s:s, s:{}}", "object",
                     "organization_membership", "id", m->id, "user_id", user->id,
                     "organization_id", m->org_id, "organization_name",
                     org ? json_object_get(org, "name") : json_null(), "status", "active", "role",
                     "slug", role ? role : "member", "roles", roles, "created_at", created,
                     "updated_at", created, "custom_attributes");
}

static bool checked(struct idp_server *server, struct idp_request *req,
                    struct idp_response *resp)
{
    if (!idp_require_api_key(server, req, resp))
        return false;
    if (req->params_bad) {
        idp_response_code_error(resp, 400, "invalid_request_body", "Problems parsing JSON");
        return false;
    }
    return true;
}

static void validation_failed(struct idp_response *resp, const char *field)
{
    idp_response_json(resp, 422,
                      json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "code", "invalid_request_parameters",
                                "message", "Validation failed.", "errors", "field", field, "code",
                                "required"));
}

void idp_route_create_organization(struct idp_server *server, struct idp_request *req,
                                   struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    const char *name = idp_request_param(req, "name");
    if (!name || !*name) {
        validation_failed(resp, "name");
        return;
    }
    const json_t *metadata = json_object_get(req->params, "metadata");
    const json_t *external = json_object_get(req->params, "external_id");
    char id[48], created[32];
    pthread_mutex_lock(&server->lock);
    idp_random_ulid(&server->rng, "org_", req->now_ms, id, sizeof(id));
    idp_format_iso8601(req->now_ms, created);
    json_t *record = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", id, "name", name, "created_at",
                               created, "external_id",
                               json_is_string(external) ? json_deep_copy(external) : json_null(),
                               "metadata",
                               json_is_object(metadata) ? json_deep_copy(metadata) : json_object());
    json_t *body = NULL;
    if (record && !json_object_set_new(server->store.organizations, id, record))
        body = organization_json(server, id);
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 201, body);
    else
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
}

void idp_route_get_organization(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    pthread_mutex_lock(&server->lock);
    json_t *body = organization_json(server, req->path_arg);
    pthread_mutex_unlock(&server->lock);
    if (body)
        idp_response_json(resp, 200, body);
    else
        idp_response_code_error(resp, 404, "entity_not_found", "Organization not found: '%s'.",
                                req->path_arg);
}

void idp_route_create_membership(struct idp_server *server, struct idp_request *req,
                                 struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    const char *org = idp_request_param(req, "organization_id");
    const char *user_id = idp_request_param(req, "user_id");
    const char *role = idp_request_param(req, "role_slug");
    if (!org || !*org || !user_id || !*user_id) {
        validation_failed(resp, !org || !*org ? "organization_id" : "user_id");
        return;
    }
    pthread_mutex_lock(&server->lock);
    struct idp_user *user = idp_store_user(&server->store, user_id);
    bool known_org = json_object_get(server->store.organizations, org) != NULL;
    json_t *body = NULL;
    int status = 201;
    if (!user || !known_org) {
        status = 404;
    } else if (idp_user_membership(user, org)) {
        status = 409;
    } else {
        struct idp_membership *m =
            idp_user_add_membership(user, &server->rng, org, role && *role ? role : "member",
                                    req->now_ms);
        body = m ? membership_json(server, user, m) : NULL;
        status = body ? 201 : 500;
    }
    pthread_mutex_unlock(&server->lock);
    if (status == 404)
        idp_response_code_error(resp, 404, "entity_not_found", "%s not found: '%s'.",
                                user ? "Organization" : "User", user ? org : user_id);
    else if (status == 409)
        idp_response_code_error(resp, 409, "organization_membership_already_exists",
                                "The user is already a member of organization '%s'.", org);
    else if (status == 500)
        idp_response_code_error(resp, 500, "server_error", "Out of memory.");
    else
        idp_response_json(resp, 201, body);
}

void idp_route_list_memberships(struct idp_server *server, struct idp_request *req,
                                struct idp_response *resp)
{
    if (!checked(server, req, resp))
        return;
    const char *user_id = idp_request_param(req, "user_id");
    const char *org = idp_request_param(req, "organization_id");
    if (!(user_id && *user_id) && !(org && *org)) {
        validation_failed(resp, "user_id");
        return;
    }
    json_t *data = json_array();
    pthread_mutex_lock(&server->lock);
    size_t bucket = 0;
    for (struct idp_map_entry *e = idp_map_next(&server->store.users, &bucket, NULL); e;
         e = idp_map_next(&server->store.users, &bucket, e)) {
        const struct idp_user *u = e->value;
        if (user_id && *user_id && strcmp(u->id, user_id) != 0)
            continue;
        for (size_t i = 0; i < u->membership_count; i++)
            if (!(org && *org) || strcmp(u->memberships[i].org_id, org) == 0)
                json_array_append_new(data, membership_json(server, u, &u->memberships[i]));
    }
    pthread_mutex_unlock(&server->lock);
    idp_response_json(resp, 200,
                      json_pack("{s:s, s:o, s:{s:n, s:n}}", "object", "list", "data", data,
                                "list_metadata", "before", "after"));
}
