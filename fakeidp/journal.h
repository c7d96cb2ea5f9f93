/* The request journal: one entry per request the server answered, in a
 * bounded ring (oldest entries are dropped first). Secrets never enter it:
 * refresh tokens and codes appear only as a short hash, so "the same refresh
 * token was presented twice" is visible without the token. Not thread-safe:
 * the server calls it with its lock held. */
#ifndef IDP_JOURNAL_H
#define IDP_JOURNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct idp_journal_entry {
    uint64_t seq;
    int64_t virtual_ms;
    int64_t wall_ms;
    double duration_ms;
    char method[8];
    char path[160];
    char route[24];      /* authorize, authenticate, jwks, logout, ... */
    char grant_type[64]; /* authorization_code, refresh_token, a urn:workos:… grant, or "" */
    char client_id[64];
    char session_id[64];
    char user_id[64];
    char token_hash[16]; /* hash of the code or refresh token presented */
    char outcome[48];    /* ok, rotated, replayed, invalid_grant, ... */
    char fault[48];      /* id of the fault that fired, or "" */
    char request_id[48];
    int status;
};

/* An entry as the ring keeps it: the numbers, and the text fields packed
 * back to back, each as long as it is (journal.c). */
struct idp_journal_record;

struct idp_journal {
    struct idp_journal_record **entries; /* ring of records, NULL where out of memory */
    size_t capacity;
    size_t count;
    uint64_t next_seq;
};

void idp_journal_init(struct idp_journal *journal, size_t capacity);
void idp_journal_cleanup(struct idp_journal *journal);
void idp_journal_clear(struct idp_journal *journal);
/* Changes the capacity, keeping the newest entries that fit and the
 * sequence numbers. False (and nothing changed) when out of memory. */
bool idp_journal_resize(struct idp_journal *journal, size_t capacity);
/* Copies entry in (its text fields only as long as they are), assigning its
 * sequence number (returned). */
uint64_t idp_journal_add(struct idp_journal *journal, struct idp_journal_entry *entry);
/* {"entries":[…],"next":N,"dropped":N} with entries of seq >= since. */
json_t *idp_journal_json(const struct idp_journal *journal, uint64_t since);
json_t *idp_journal_entry_json(const struct idp_journal_entry *entry);
/* A short, stable, non-reversible tag for a secret (8 hex chars). */
void idp_journal_hash(const char *secret, char out[16]);

#endif
