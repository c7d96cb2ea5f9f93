/* A string-keyed hash map of borrowed values. The map copies keys; values are
 * the caller's. Not thread-safe: the server guards its maps with its lock. */
#ifndef IDP_MAP_H
#define IDP_MAP_H

#include <stdbool.h>
#include <stddef.h>

struct idp_map_entry {
    char *key;
    void *value;
    struct idp_map_entry *next;
};

struct idp_map {
    struct idp_map_entry **buckets;
    size_t bucket_count;
    size_t count;
};

void idp_map_init(struct idp_map *map);
/* Frees the map's own memory; free_value (may be NULL) is called per value. */
void idp_map_cleanup(struct idp_map *map, void (*free_value)(void *));
void *idp_map_get(const struct idp_map *map, const char *key);
/* Inserts or replaces; returns false on allocation failure. */
bool idp_map_put(struct idp_map *map, const char *key, void *value);
/* Removes the key and returns its value (NULL if absent). */
void *idp_map_remove(struct idp_map *map, const char *key);

/* Iteration: call with *cursor = 0 until it returns NULL. The map must not be
 * changed during iteration. */
struct idp_map_entry *idp_map_next(const struct idp_map *map, size_t *bucket,
                                   struct idp_map_entry *previous);

#endif
