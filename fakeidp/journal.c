#include "journal.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

void idp_journal_init(struct idp_journal *journal, size_t capacity)
{
    journal->capacity = capacity ? capacity : 1;
    journal->entries = calloc(journal->capacity, sizeof(*journal->entries));
    if (!journal->entries)
        journal->capacity = 0;
    journal->count = 0;
    journal->next_seq = 1;
}

void idp_journal_cleanup(struct idp_journal *journal)
{
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
    struct idp_journal_entry *entries = calloc(capacity, sizeof(*entries));
    if (!entries)
        return false;
    size_t keep = journal->count < capacity ? journal->count : capacity;
    for (uint64_t seq = journal->next_seq - keep; seq < journal->next_seq; seq++)
        entries[(seq - 1) % capacity] = journal->entries[(seq - 1) % journal->capacity];
    free(journal->entries);
    journal->entries = entries;
    journal->capacity = capacity;
    journal->count = keep;
    return true;
}

void idp_journal_clear(struct idp_journal *journal)
{
    journal->count = 0;
}

uint64_t idp_journal_add(struct idp_journal *journal, struct idp_journal_entry *entry)
{
    entry->seq = journal->next_seq++;
    if (!journal->capacity)
        return entry->seq;
    journal->entries[(entry->seq - 1) % journal->capacity] = *entry;
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
    for (uint64_t seq = first > since ? first : since; seq < journal->next_seq; seq++)
        json_array_append_new(
            entries, idp_journal_entry_json(&journal->entries[(seq - 1) % journal->capacity]));
    return json_pack("{s:o, s:I, s:I}", "entries", entries, "next",
                     (json_int_t)journal->next_seq, "dropped", (json_int_t)(first - 1));
}

void idp_journal_hash(const char *secret, char out[16])
{
    unsigned char digest[32];
    EVP_Digest(secret, strlen(secret), digest, NULL, EVP_sha256(), NULL);
    snprintf(out, 16, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
}
