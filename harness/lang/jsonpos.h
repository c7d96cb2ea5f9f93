/* Positions of values in a JSON text, by JSON Pointer path ("/steps/2/advance").
 * jansson parses scenario files but does not keep positions; this index lets
 * every validation error point at file:line:col. */
#ifndef HX_JSONPOS_H
#define HX_JSONPOS_H

#include <stddef.h>

struct hx_jsonpos_entry {
    char *path;
    int line, col;       /* of the value */
    int key_line, key_col; /* of its key in an object, else same as value */
};

struct hx_jsonpos {
    struct hx_jsonpos_entry *entries;
    size_t count, capacity;
};

/* Indexes text (which jansson has already accepted). Never fails on valid
 * JSON; on invalid text indexes what it can. */
void hx_jsonpos_build(struct hx_jsonpos *index, const char *text, size_t len);
void hx_jsonpos_cleanup(struct hx_jsonpos *index);
/* Position of path's value (or its key when want_key). Falls back to the
 * nearest indexed ancestor; 1:1 if none. */
void hx_jsonpos_find(const struct hx_jsonpos *index, const char *path, int want_key, int *line,
                     int *col);

#endif
