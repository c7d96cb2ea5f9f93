#include "journal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* The text fields of an entry, in the order a record packs them. */
#define TEXT_FIELDS(X) X(method) X(path) X(route) X(grant_type) X(client_id) X(session_id) \
    X(user_id) X(token_hash) X(outcome) X(fault) X(request_id)
#define COUNT_FIELD(name) +1 /* NOLINT(bugprone-macro-parentheses): a term of a sum */
enum { TEXT_COUNT = 0 TEXT_FIELDS(COUNT_FIELD) };

struct idp_journal_record {
    uint64_t seq;
    int64_t virtual_ms;
    int64_t wall_ms;
    double duration_ms;
    int status;
    uint16_t length[TEXT_COUNT]; /* of each text field, without its NUL */
    char text[];                 /* the fields, each followed by a NUL */
};

static struct idp_journal_record *record_pack(const struct idp_journal_entry *e)
{
    size_t lengths[TEXT_COUNT], total = 0, i = 0;
#define MEASURE(name) lengths[i] = strnlen(e->name, sizeof(e->name) - 1); total += lengths[i++] + 1;
    TEXT_FIELDS(MEASURE)
#undef MEASURE
    struct idp_journal_record *r = malloc(sizeof(*r) + total);
    if (!r)
        return NULL;
    r->seq = e->seq;
    r->virtual_ms = e->virtual_ms;
    r->wall_ms = e->wall_ms;
    r->duration_ms = e->duration_ms;
    r->status = e->status;
    char *at = r->text;
    i = 0;
#define COPY(name) r->length[i] = (uint16_t)lengths[i]; memcpy(at, e->name, lengths[i]); \
    at[lengths[i]] = '\0'; at += lengths[i++] + 1;
    TEXT_FIELDS(COPY)
#undef COPY
    return r;
}

static void record_unpack(const struct idp_journal_record *r, struct idp_journal_entry *e)
{
    memset(e, 0, sizeof(*e));
    e->seq = r->seq;
    e->virtual_ms = r->virtual_ms;
    e->wall_ms = r->wall_ms;
    e->duration_ms = r->duration_ms;
    e->status = r->status;
    const char *at = r->text;
    size_t i = 0;
#define UNPACK(name) memcpy(e->name, at, r->length[i]); at += r->length[i++] + 1;
    TEXT_FIELDS(UNPACK)
#undef UNPACK
}

void idp_journal_init(struct idp_journal *journal, size_t capacity)
{
    journal->capacity = capacity ? capacity : 1;
    journal->entries = calloc(journal->capacity, sizeof(struct idp_journal_record *));
    if (!journal->entries)
        journal->capacity = 0;
    journal->count = 0;
    journal->next_seq = 1;
}

void idp_journal_clear(struct idp_journal *journal)
{
    for (size_t i = 0; i < journal->capacity; i++) {
        free(journal->entries[i]);
        journal->entries[i] = NULL;
    }
    journal->count = 0;
}

void idp_journal_cleanup(struct idp_journal *journal)
{
    if (journal->entries)
        idp_journal_clear(journal);
    free(journal->entries);
    journal->entries = NULL;
    journal->capacity = journal->count = 0;
}

bool idp_journal_resize(struct idp_journal *journal, size_t capacity)
{
    if (!capacity)
        capacity = 1;
    if (capacity == journal->capacity)
        return true;
    struct idp_journal_record **entries = calloc(capacity, sizeof(struct idp_journal_record *));
    if (!entries)
        return false;
    size_t keep = journal->count < capacity ? journal->count : capacity;
    for (uint64_t seq = journal->next_seq - keep; seq < journal->next_seq; seq++) {
        struct idp_journal_record **slot = &journal->entries[(seq - 1) % journal->capacity];
        entries[(seq - 1) % capacity] = *slot;
        *slot = NULL;
    }
    idp_journal_clear(journal); /* the entries that did not fit */
    free(journal->entries);
    journal->entries = entries;
    journal->capacity = capacity;
    journal->count = keep;
    return true;
}

uint64_t idp_journal_add(struct idp_journal *journal, struct idp_journal_entry *entry)
{
    entry->seq = journal->next_seq++;
    if (!journal->capacity)
        return entry->seq;
    struct idp_journal_record **slot = &journal->entries[(entry->seq - 1) % journal->capacity];
    free(*slot);
    *slot = record_pack(entry); /* NULL (out of memory): the entry is missing */
    if (journal->count < journal->capacity)
        journal->count++;
    return entry->seq;
}

static json_t *text_or_null(const char *s)
{
    return s[0] ? json_string(s) : json_null();
}

json_t *idp_journal_entry_json(const struct idp_journal_entry *e)
{
    char vt[32], wt[32];
    idp_format_iso8601(e->virtual_ms, vt);
    idp_format_iso8601(e->wall_ms, wt);
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
    json_object_set_new(o, "virtual_time", json_string(vt));
    json_object_set_new(o, "virtual_ms", json_integer(e->virtual_ms));
    json_object_set_new(o, "wall_time", json_string(wt));
    json_object_set_new(o, "duration_ms", json_real(e->duration_ms));
    json_object_set_new(o, "method", json_string(e->method));
    json_object_set_new(o, "path", json_string(e->path));
    json_object_set_new(o, "route", json_string(e->route));
    json_object_set_new(o, "grant_type", text_or_null(e->grant_type));
    json_object_set_new(o, "status", json_integer(e->status));
    json_object_set_new(o, "outcome", text_or_null(e->outcome));
    json_object_set_new(o, "client_id", text_or_null(e->client_id));
    json_object_set_new(o, "session_id", text_or_null(e->session_id));
    json_object_set_new(o, "user_id", text_or_null(e->user_id));
    json_object_set_new(o, "token_hash", text_or_null(e->token_hash));
    json_object_set_new(o, "fault", text_or_null(e->fault));
    json_object_set_new(o, "request_id", text_or_null(e->request_id));
    return o;
}

json_t *idp_journal_json(const struct idp_journal *journal, uint64_t since)
{
    json_t *entries = json_array();
    uint64_t first = journal->next_seq - journal->count;
    for (uint64_t seq = first > since ? first : since; seq < journal->next_seq; seq++) {
        const struct idp_journal_record *r = journal->entries[(seq - 1) % journal->capacity];
        if (!r)
            continue;
        struct idp_journal_entry e;
        record_unpack(r, &e);
        json_array_append_new(entries, idp_journal_entry_json(&e));
    }
    return json_pack("{s:o, s:I, s:I}", "entries", entries, "next",
                     (json_int_t)journal->next_seq, "dropped", (json_int_t)(first - 1));
}

void idp_journal_hash(const char *secret, char out[16])
{
    unsigned char digest[32];
    EVP_Digest(secret, strlen(secret), digest, NULL, EVP_sha256(), NULL);
    snprintf(out, 16, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
}
