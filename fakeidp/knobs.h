/* A knob table: named, typed fields of a struct, applied from a JSON object
 * and printed back. The server's settings, the reference app's knobs and the
 * browser profile all use it, so every tunable is one row in one table and
 * every error names the knob. */
#ifndef IDP_KNOBS_H
#define IDP_KNOBS_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

enum idp_knob_kind {
    IDP_KNOB_DURATION,        /* int64_t ms: "300s", "5m", or whole seconds */
    IDP_KNOB_SIGNED_DURATION, /* int64_t ms, may be "-2m" */
    IDP_KNOB_INTEGER,         /* int64_t >= 0 */
    IDP_KNOB_BOOLEAN,         /* bool */
    IDP_KNOB_TEXT,            /* char[size] */
    IDP_KNOB_CHOICE,          /* int index into choices */
};

struct idp_knob {
    const char *name;
    enum idp_knob_kind kind;
    size_t offset;
    size_t size;                /* TEXT capacity */
    const char *const *choices; /* CHOICE names, NULL-terminated */
};

/* Applies every member of obj to base (a struct the table describes).
 * Unknown names and wrong types fail with a message naming the knob (and
 * *bad_key, if given, points at the offending member name inside obj); on
 * failure base is unchanged. what names the table in messages ("setting"). */
enum idp_status idp_knobs_apply(const struct idp_knob *table, size_t count, void *base,
                                size_t base_size, const json_t *obj, const char *what,
                                const char **bad_key, struct idp_error *err);

/* The table's knob names, in order (a new JSON array). */
json_t *idp_knobs_names(const struct idp_knob *table, size_t count);

/* Every knob's current value as a JSON object (new reference). */
json_t *idp_knobs_to_json(const struct idp_knob *table, size_t count, const void *base);

#endif
