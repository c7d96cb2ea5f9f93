/* The identity provider's state: clients, API keys, users, organizations and
 * memberships (from the configuration), and what sign-ins create: codes,
 * sessions and refresh tokens. Not thread-safe on its own: the server calls
 * every function with its lock held. Memory is bounded: codes and sessions
 * are evicted oldest first past their limits, and each session keeps only its
 * last IDP_SESSION_TOKENS refresh tokens. Three files implement it: store.c
 * (lifetime, lookups, codes, sessions, refresh tokens), store_config.c (what
 * the configuration holds) and tickets.c (one-time tickets, the outbox,
 * memberships made at run time). */
#ifndef IDP_STORE_H
#define IDP_STORE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "map.h"
#include "random.h"

#define IDP_ID_SIZE 64
#define IDP_SESSION_TOKENS 8
#define IDP_MAX_CODES 10000

struct idp_client {
    char id[IDP_ID_SIZE];
    json_t *redirect_uris;   /* array of patterns ('*' matches any run) */
    json_t *allowed_origins; /* array of exact origins or patterns */
    json_t *logout_uris;     /* allowed return_to patterns */
    json_t *claims;          /* extra access-token claims (JWT template) */
};

struct idp_membership {
    char id[IDP_ID_SIZE]; /* om_… */
    char org_id[IDP_ID_SIZE];
    int64_t created_ms;
    json_t *fields; /* role, roles, permissions, entitlements, feature_flags */
};

struct idp_user {
    char id[IDP_ID_SIZE];
    json_t *object;       /* the WorkOS user object, as returned */
    json_t *claims;       /* extra access-token claims */
    json_t *impersonator; /* {"email","reason"} or NULL */
    char authentication_method[32];
    char step_up[48];     /* a configured step-up error code, or "" */
    char *password;       /* NULL: no password (password grant refused) */
    bool mfa_required;    /* must enrol a factor before signing in (step_up mfa_enrollment) */
    char factor_id[IDP_ID_SIZE]; /* the enrolled TOTP factor, or "" */
    char totp_secret[40];        /* its base32 secret */
    int64_t factor_created_ms;
    struct idp_membership *memberships;
    size_t membership_count;
    size_t order;         /* position in the configuration */
};

struct idp_code {
    char code[IDP_ID_SIZE];
    char client_id[IDP_ID_SIZE];
    char user_id[IDP_ID_SIZE];
    char org_id[IDP_ID_SIZE];
    char *redirect_uri;
    char challenge[160];
    char method[32];     /* authentication_method of the sign-in ("" = the user's) */
    int64_t auth_ms;     /* when the interactive sign-in happened (authorize) */
    int64_t expires_ms;
    struct idp_code *older, *newer;
};

enum idp_refresh_state { IDP_RT_ACTIVE, IDP_RT_PENDING, IDP_RT_ROTATED };

struct idp_refresh {
    char token[IDP_ID_SIZE];
    char session_id[IDP_ID_SIZE];
    char org_id[IDP_ID_SIZE];
    int64_t issued_ms;
    enum idp_refresh_state state;
    bool expired; /* expired on cue by a fault */
    int64_t rotated_ms;
    char *cached_body; /* the response a replay within the grace gets */
    /* Tokens with a cached reply, in the order the replies were cached
     * (idp_store_reply_set), so replies past the grace go wherever their
     * session is. */
    struct idp_refresh *reply_older, *reply_newer;
};

struct idp_session {
    char id[IDP_ID_SIZE];
    char user_id[IDP_ID_SIZE];
    char client_id[IDP_ID_SIZE];
    char org_id[IDP_ID_SIZE];
    char authentication_method[32];
    int64_t created_ms;
    int64_t auth_time_ms; /* the interactive sign-in (auth_time), unchanged by refresh */
    int64_t last_activity_ms;
    int64_t ended_ms; /* 0 while active */
    char end_reason[48];
    unsigned refresh_count;
    struct idp_refresh *tokens[IDP_SESSION_TOKENS]; /* oldest first */
    size_t token_count;
    struct idp_session *older, *newer;
};

/* One-time records of the headless sign-in flows, one mechanism for all:
 * magic auth codes, email verifications, pending authentication tokens,
 * MFA challenges and password resets. Looked up by id; bounded like codes. */
enum idp_ticket_kind {
    IDP_TICKET_MAGIC_AUTH,
    IDP_TICKET_EMAIL_VERIFICATION,
    IDP_TICKET_PENDING,
    IDP_TICKET_CHALLENGE,
    IDP_TICKET_PASSWORD_RESET,
};

struct idp_ticket {
    char id[IDP_ID_SIZE];
    enum idp_ticket_kind kind;
    char code[16];                /* the one-time code sent by e-mail, or "" */
    char user_id[IDP_ID_SIZE];
    char client_id[IDP_ID_SIZE];  /* pending: the client signing in */
    char factor_id[IDP_ID_SIZE];  /* challenge: its factor */
    char org_id[IDP_ID_SIZE];     /* pending: an organization already chosen */
    char method[32];              /* pending: authentication_method of the sign-in */
    int stage;                    /* pending: the checks already passed */
    int64_t auth_ms;              /* pending: when the sign-in started */
    int64_t created_ms, expires_ms;
    struct idp_ticket *older, *newer;
};

#define IDP_MAX_TICKETS 10000
#define IDP_OUTBOX_SIZE 1000

struct idp_store {
    struct idp_map clients, users, users_by_email, orgs, codes, sessions, refresh, tickets;
    struct idp_ticket *tickets_oldest, *tickets_newest;
    json_t *outbox;        /* e-mails WorkOS would have sent, oldest first */
    json_t *api_keys;      /* array of strings */
    json_t *organizations; /* id -> {"id","name"} */
    char default_client[IDP_ID_SIZE];
    char default_user[IDP_ID_SIZE];
    size_t user_count;
    struct idp_code *codes_oldest, *codes_newest;
    struct idp_session *sessions_oldest, *sessions_newest;
    struct idp_refresh *replies_oldest, *replies_newest;
};

void idp_store_init(struct idp_store *store);
void idp_store_cleanup(struct idp_store *store);

/* Loads api_keys, clients, organizations and users from a configuration
 * object (see docs/configuration.md). Missing parts get the zero-config
 * defaults: one API key, one client allowing loopback redirect URIs and
 * origins, one user. Fails on unknown keys or wrong types, naming the path. */
enum idp_status idp_store_configure(struct idp_store *store, const json_t *config,
                                    int64_t now_ms, struct idp_error *err);
/* Adds a user from a JSON object (as in the configuration). */
enum idp_status idp_store_add_user(struct idp_store *store, const json_t *spec,
                                   int64_t now_ms, struct idp_error *err);
/* Free a client and a user the store no longer holds (void *: the maps'
 * cleanup takes them). */
void idp_client_free(void *client);
void idp_user_free(void *user);

struct idp_client *idp_store_client(struct idp_store *store, const char *id);
bool idp_store_api_key_valid(const struct idp_store *store, const char *key);
struct idp_user *idp_store_user(struct idp_store *store, const char *id);
struct idp_user *idp_store_user_by_email(struct idp_store *store, const char *email);
struct idp_user *idp_store_default_user(struct idp_store *store);
/* The membership for org_id, or the user's first membership when org_id is
 * NULL or empty; NULL when there is none. */
const struct idp_membership *idp_user_membership(const struct idp_user *user,
                                                 const char *org_id);

/* A pattern with '*' wildcards, as used for redirect URIs and origins. */
bool idp_pattern_match(const char *pattern, const char *text);
bool idp_patterns_match(const json_t *patterns, const char *text);

struct idp_code *idp_store_code_new(struct idp_store *store, struct idp_random *rng,
                                    int64_t now_ms, int64_t ttl_ms);
struct idp_code *idp_store_code(struct idp_store *store, const char *code);
/* Removes a code (used or expired) and frees it. */
void idp_store_code_delete(struct idp_store *store, struct idp_code *code);

struct idp_session *idp_store_session_new(struct idp_store *store, struct idp_random *rng,
                                          int64_t now_ms, int64_t max_sessions);
struct idp_session *idp_store_session(struct idp_store *store, const char *id);
void idp_store_session_end(struct idp_session *session, int64_t now_ms, const char *reason);
/* All sessions, newest first, optionally only one user's (new reference). */
json_t *idp_store_sessions_json(struct idp_store *store, const char *user_id);
json_t *idp_session_json(const struct idp_session *session);

/* Issues a new active refresh token for the session. */
struct idp_refresh *idp_store_refresh_new(struct idp_store *store, struct idp_session *session,
                                          struct idp_random *rng, int64_t now_ms);
struct idp_refresh *idp_store_refresh(struct idp_store *store, const char *token);
/* Frees the cached replies of the session's tokens rotated more than
 * grace_ms before now: past the replay window they can only be refused. */
/* Caches body (taken; NULL: none) as r's reply for grace replays. */
void idp_store_reply_set(struct idp_store *store, struct idp_refresh *r, char *body);
/* Frees the cached replies of rotated tokens, in any session, whose grace
 * window (rotated more than grace_ms before now_ms) has passed. */
void idp_store_forget_replies(struct idp_store *store, int64_t now_ms, int64_t grace_ms);

/* A new ticket with a random id "<prefix><ULID>" (pending tokens: 25
 * random characters) living ttl_ms; NULL when out of memory. */
struct idp_ticket *idp_store_ticket_new(struct idp_store *store, struct idp_random *rng,
                                        enum idp_ticket_kind kind, const char *prefix,
                                        int64_t now_ms, int64_t ttl_ms);
/* The live ticket of that kind with that id (expired ones are forgotten). */
struct idp_ticket *idp_store_ticket(struct idp_store *store, enum idp_ticket_kind kind,
                                    const char *id, int64_t now_ms);
void idp_store_ticket_delete(struct idp_store *store, struct idp_ticket *ticket);

/* Adds an e-mail to the outbox (steals record; oldest dropped past
 * IDP_OUTBOX_SIZE). The record gets "id", "object" and "created_at". */
void idp_store_outbox_add(struct idp_store *store, struct idp_random *rng, int64_t now_ms,
                          json_t *record);

/* Adds a membership (an organization the store knows); NULL when out of
 * memory. The user's memberships array may move. */
struct idp_membership *idp_user_add_membership(struct idp_user *user, struct idp_random *rng,
                                               const char *org_id, const char *role,
                                               int64_t now_ms);

/* Drops sessions, codes, refresh tokens, tickets and the outbox; keeps the
 * configuration. */
void idp_store_forget_activity(struct idp_store *store);

#endif
