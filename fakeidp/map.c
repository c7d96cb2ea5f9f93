#include "map.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "random.h"

static size_t hash(const char *key)
{
    return (size_t)idp_hash_text(IDP_HASH_START, key);
}

void idp_map_init(struct idp_map *map)
{
    map->buckets = NULL;
    map->bucket_count = 0;
    map->count = 0;
}

void idp_map_cleanup(struct idp_map *map, void (*free_value)(void *))
{
    for (size_t i = 0; i < map->bucket_count; i++) {
        struct idp_map_entry *e = map->buckets[i];
        while (e) {
            struct idp_map_entry *next = e->next;
            if (free_value)
                free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(map->buckets);
    idp_map_init(map);
}

static struct idp_map_entry **slot(const struct idp_map *map, const char *key)
{
    struct idp_map_entry **p = &map->buckets[hash(key) & (map->bucket_count - 1)];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

void *idp_map_get(const struct idp_map *map, const char *key)
{
    if (!map->count)
        return NULL;
    struct idp_map_entry *e = *slot(map, key);
    return e ? e->value : NULL;
}

static bool grow(struct idp_map *map)
{
    size_t new_count = map->bucket_count ? map->bucket_count * 2 : 16;
    struct idp_map_entry **buckets = calloc(new_count, sizeof(struct idp_map_entry *));
    if (!buckets)
        return false;
    for (size_t i = 0; i < map->bucket_count; i++) {
        struct idp_map_entry *e = map->buckets[i];
        while (e) {
            struct idp_map_entry *next = e->next;
            size_t b = hash(e->key) & (new_count - 1);
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(map->buckets);
    map->buckets = buckets;
    map->bucket_count = new_count;
    return true;
}

bool idp_map_put(struct idp_map *map, const char *key, void *value)
{
    if (map->count + 1 > map->bucket_count * 3 / 4 && !grow(map))
        return false;
    struct idp_map_entry **p = slot(map, key);
    if (*p) {
        (*p)->value = value;
        return true;
    }
    struct idp_map_entry *e = malloc(sizeof(*e));
    char *copy = strdup(key);
    if (!e || !copy) {
        free(e);
        free(copy);
        return false;
    }
    e->key = copy;
    e->value = value;
    e->next = NULL;
    *p = e;
    map->count++;
    return true;
}

void *idp_map_remove(struct idp_map *map, const char *key)
{
    if (!map->count)
        return NULL;
    struct idp_map_entry **p = slot(map, key);
    struct idp_map_entry *e = *p;
    if (!e)
        return NULL;
    void *value = e->value;
    *p = e->next;
    free(e->key);
    free(e);
    map->count--;
    return value;
}

struct idp_map_entry *idp_map_next(const struct idp_map *map, size_t *bucket,
                                   struct idp_map_entry *previous)
{
    if (previous && previous->next)
        return previous->next;
    size_t b = previous ? *bucket + 1 : *bucket;
    for (; b < map->bucket_count; b++) {
        if (map->buckets[b]) {
            *bucket = b;
            return map->buckets[b];
        }
    }
    *bucket = b;
    return NULL;
}
