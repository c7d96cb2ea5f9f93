/* Request and response records (http.c): what the server fills in for each
 * request, what a route handler reads and writes, and the helpers both use.
 * A handler is an idp_route_fn; it answers by filling the response, which the
 * server sends once faults have had their say. */
#ifndef IDP_HTTP_H
#define IDP_HTTP_H

#include <civetweb.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

struct idp_server;
struct idp_fault;

struct idp_request {
    struct mg_connection *conn;
    const struct mg_request_info *info;
    const char *method;
    const char *path;
    const char *query;
    char *body;
    size_t body_len;
    json_t *params;       /* query (GET) or body (POST) parameters */
    bool params_bad;      /* the body could not be parsed */
    const char *params_error;
    const char *path_arg; /* the {id} of a route, if any */
    char request_id[48];
    int64_t now_ms;       /* virtual time when the request arrived */
    int64_t wall_start_ms;
    struct idp_journal_entry entry;
    struct idp_fault *barrier; /* the barrier this request went through */
    long barrier_rank;
    long barrier_generation;
    bool barrier_concurrent;
    char refresh_in_flight[64]; /* the refresh token this request is exchanging */
};

struct idp_response {
    int status;
    char content_type[64];
    char *body;
    size_t body_len;
    char *headers; /* "Name: value\r\n" lines */
    size_t headers_len;
};

typedef void idp_route_fn(struct idp_server *server, struct idp_request *req,
                          struct idp_response *resp);

/* Response helpers. Bodies are copied; json bodies are stolen. */
void idp_response_json(struct idp_response *resp, int status, json_t *body);
void idp_response_text(struct idp_response *resp, int status, const char *content_type,
                       const char *body, size_t len);
/* {"error": error, "error_description": description} */
void idp_response_oauth_error(struct idp_response *resp, int status, const char *error,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* {"message": message, "code": code} */
void idp_response_code_error(struct idp_response *resp, int status, const char *code,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void idp_response_header(struct idp_response *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void idp_response_redirect(struct idp_response *resp, const char *location);
void idp_response_reset(struct idp_response *resp);

const char *idp_request_header(const struct idp_request *req, const char *name);
/* A string parameter, or NULL when absent or not a string. */
const char *idp_request_param(const struct idp_request *req, const char *name);
/* Value of a cookie from the Cookie header into out; false if absent. */
bool idp_request_cookie(const struct idp_request *req, const char *name, char *out, size_t size);
/* The API key from "Authorization: Bearer …", or NULL. */
const char *idp_request_bearer(const struct idp_request *req);
/* Fills req->params from the query (GET, HEAD, DELETE, no body) or the body:
 * a form unless it is plainly JSON; JSON nested deeper than 64 levels or not
 * an object sets params_bad. */
void idp_request_parse_params(struct idp_request *req);
/* Parses "a=1&b=2" (URL-decoded) into a new JSON object of strings. */
json_t *idp_parse_form(const char *text, size_t len);

/* The API key of the management API (Bearer); answers 401 otherwise. Takes
 * the server lock. */
bool idp_require_api_key(struct idp_server *server, struct idp_request *req,
                         struct idp_response *resp);

#endif
