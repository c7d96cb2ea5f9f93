/* The one-time records of the headless sign-in flows (magic auth codes, email
 * verifications, pending authentication tokens, MFA challenges, password
 * resets), the outbox of e-mails WorkOS would have sent, and memberships made
 * at run time. Lock held by every caller, as for the rest of the store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"

static void ticket_unlink(struct idp_store *store, struct idp_ticket *t)
{
    if (t->older)
        t->older->newer = t->newer;
    else
        store->tickets_oldest = t->newer;
    if (t->newer)
        t->newer->older = t->older;
    else
        store->tickets_newest = t->older;
}

void idp_store_ticket_delete(struct idp_store *store, struct idp_ticket *ticket)
{
    ticket_unlink(store, ticket);
    idp_map_remove(&store->tickets, ticket->id);
    free(ticket);
}

struct idp_ticket *idp_store_ticket_new(struct idp_store *store, struct idp_random *rng,
                                        enum idp_ticket_kind kind, const char *prefix,
                                        int64_t now_ms, int64_t ttl_ms)
{
    /* Expired tickets and tickets past the limit go first, oldest first. */
    while (store->tickets_oldest && (store->tickets_oldest->expires_ms <= now_ms ||
                                     store->tickets.count >= IDP_MAX_TICKETS))
        idp_store_ticket_delete(store, store->tickets_oldest);
    struct idp_ticket *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->kind = kind;
    if (kind == IDP_TICKET_PENDING)
        idp_random_token(rng, t->id, 25);
    else
        idp_random_ulid(rng, prefix, now_ms, t->id, sizeof(t->id));
    if (kind == IDP_TICKET_MAGIC_AUTH || kind == IDP_TICKET_EMAIL_VERIFICATION)
        snprintf(t->code, sizeof(t->code), "%06u", (unsigned)(idp_random_u64(rng) % 1000000));
    t->created_ms = t->auth_ms = now_ms;
    t->expires_ms = ttl_ms > INT64_MAX - now_ms ? INT64_MAX : now_ms + ttl_ms;
    if (!idp_map_put(&store->tickets, t->id, t)) {
        free(t);
        return NULL;
    }
    t->older = store->tickets_newest;
    if (store->tickets_newest)
        store->tickets_newest->newer = t;
    else
        store->tickets_oldest = t;
    store->tickets_newest = t;
    return t;
}

struct idp_ticket *idp_store_ticket(struct idp_store *store, enum idp_ticket_kind kind,
                                    const char *id, int64_t now_ms)
{
    struct idp_ticket *t = id ? idp_map_get(&store->tickets, id) : NULL;
    if (t && t->expires_ms <= now_ms) {
        idp_store_ticket_delete(store, t);
        return NULL;
    }
    return t && t->kind == kind ? t : NULL;
}

void idp_store_outbox_add(struct idp_store *store, struct idp_random *rng, int64_t now_ms,
                          json_t *record)
{
    if (!record)
        return;
    char id[48], now[32];
    idp_random_ulid(rng, "email_", now_ms, id, sizeof(id));
    idp_format_iso8601(now_ms, now);
    json_object_set_new(record, "object", json_string("email"));
    json_object_set_new(record, "id", json_string(id));
    json_object_set_new(record, "created_at", json_string(now));
    while (json_array_size(store->outbox) >= IDP_OUTBOX_SIZE)
        json_array_remove(store->outbox, 0);
    json_array_append_new(store->outbox, record);
}

struct idp_membership *idp_user_add_membership(struct idp_user *user, struct idp_random *rng,
                                               const char *org_id, const char *role,
                                               int64_t now_ms)
{
    struct idp_membership *grown =
        realloc(user->memberships, (user->membership_count + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    user->memberships = grown;
    struct idp_membership *m = &grown[user->membership_count];
    memset(m, 0, sizeof(*m));
    m->fields = json_pack("{s:s, s:[s], s:[], s:[], s:[]}", "role", role, "roles", role,
                          "permissions", "entitlements", "feature_flags");
    if (!m->fields)
        return NULL;
    snprintf(m->org_id, sizeof(m->org_id), "%s", org_id);
    idp_random_ulid(rng, "om_", now_ms, m->id, sizeof(m->id));
    m->created_ms = now_ms;
    user->membership_count++;
    return m;
}
