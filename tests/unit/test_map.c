/* The string-keyed map (map.h): put / get / replace / remove, iteration that
 * visits every entry exactly once, growth to many keys, copied keys and
 * borrowed values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define MANY 20000

static int setup_map(void **state)
{
    struct idp_map *map = malloc(sizeof(*map));
    if (!map)
        return -1;
    idp_map_init(map);
    *state = map;
    return 0;
}

static int teardown_map(void **state)
{
    idp_map_cleanup(*state, NULL);
    free(*state);
    return 0;
}

static int a = 1, b = 2, c = 3;

/* --- positive --------------------------------------------------------------- */

static void test_put_then_get_returns_value(void **state)
{
    struct idp_map *map = *state;
    assert_true(idp_map_put(map, "alpha", &a));
    assert_true(idp_map_put(map, "beta", &b));
    assert_ptr_equal(idp_map_get(map, "alpha"), &a);
    assert_ptr_equal(idp_map_get(map, "beta"), &b);
    assert_int_equal(map->count, 2);
}

static void test_put_existing_key_replaces_value(void **state)
{
    struct idp_map *map = *state;
    assert_true(idp_map_put(map, "k", &a));
    assert_true(idp_map_put(map, "k", &b));
    assert_ptr_equal(idp_map_get(map, "k"), &b);
    assert_int_equal(map->count, 1);
}

static void test_remove_returns_value_and_forgets_key(void **state)
{
    struct idp_map *map = *state;
    idp_map_put(map, "k", &a);
    idp_map_put(map, "other", &b);
    assert_ptr_equal(idp_map_remove(map, "k"), &a);
    assert_null(idp_map_get(map, "k"));
    assert_ptr_equal(idp_map_get(map, "other"), &b);
    assert_int_equal(map->count, 1);
}

static void test_removed_key_can_be_added_again(void **state)
{
    struct idp_map *map = *state;
    idp_map_put(map, "k", &a);
    idp_map_remove(map, "k");
    assert_true(idp_map_put(map, "k", &c));
    assert_ptr_equal(idp_map_get(map, "k"), &c);
    assert_int_equal(map->count, 1);
}

static void test_map_copies_keys(void **state)
{
    struct idp_map *map = *state;
    char key[16];
    snprintf(key, sizeof(key), "mutable");
    idp_map_put(map, key, &a);
    snprintf(key, sizeof(key), "changed");
    assert_ptr_equal(idp_map_get(map, "mutable"), &a);
    assert_null(idp_map_get(map, "changed"));
}

static void test_empty_string_is_a_valid_key(void **state)
{
    struct idp_map *map = *state;
    assert_true(idp_map_put(map, "", &a));
    assert_ptr_equal(idp_map_get(map, ""), &a);
    assert_ptr_equal(idp_map_remove(map, ""), &a);
    assert_int_equal(map->count, 0);
}

static void test_many_keys_survive_growth(void **state)
{
    struct idp_map *map = *state;
    static int values[MANY];
    char key[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_true(idp_map_put(map, key, &values[i]));
    }
    assert_int_equal(map->count, MANY);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        if (idp_map_get(map, key) != &values[i])
            fail_msg("%s lost after growth", key);
    }
    /* Remove every other key; the rest stay reachable. */
    for (int i = 0; i < MANY; i += 2) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_ptr_equal(idp_map_remove(map, key), &values[i]);
    }
    assert_int_equal(map->count, MANY / 2);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof(key), "key-%d", i);
        assert_ptr_equal(idp_map_get(map, key), i % 2 ? &values[i] : NULL);
    }
}

static void test_iteration_visits_every_entry_once(void **state)
{
    struct idp_map *map = *state;
    enum { N = 1000 };
    static int values[N];
    static int seen[N];
    memset(seen, 0, sizeof(seen));
    char key[32];
    for (int i = 0; i < N; i++) {
        values[i] = i;
        snprintf(key, sizeof(key), "iter-%d", i);
        idp_map_put(map, key, &values[i]);
    }
    size_t bucket = 0, visited = 0;
    for (struct idp_map_entry *e = idp_map_next(map, &bucket, NULL); e;
         e = idp_map_next(map, &bucket, e)) {
        int i = *(int *)e->value;
        snprintf(key, sizeof(key), "iter-%d", i);
        assert_string_equal(e->key, key);
        seen[i]++;
        visited++;
    }
    assert_int_equal(visited, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
}

static int freed;
static void count_free(void *value)
{
    (void)value;
    freed++;
}

static void test_cleanup_frees_each_value_once(void **state)
{
    struct idp_map *map = *state;
    freed = 0;
    idp_map_put(map, "a", &a);
    idp_map_put(map, "b", &b);
    idp_map_put(map, "b", &c); /* replaced: b's value is not the map's any more */
    idp_map_put(map, "c", &c);
    idp_map_remove(map, "a");
    idp_map_cleanup(map, count_free);
    assert_int_equal(freed, 2);
    idp_map_init(map); /* teardown cleans up again */
}

/* --- negative --------------------------------------------------------------- */

static void test_get_on_empty_map_is_null(void **state)
{
    struct idp_map *map = *state;
    assert_null(idp_map_get(map, "anything"));
    assert_null(idp_map_get(map, ""));
}

static void test_get_missing_key_is_null(void **state)
{
    struct idp_map *map = *state;
    idp_map_put(map, "present", &a);
    assert_null(idp_map_get(map, "absent"));
    assert_null(idp_map_get(map, "presen"));
    assert_null(idp_map_get(map, "present "));
}

static void test_keys_are_case_sensitive(void **state)
{
    struct idp_map *map = *state;
    idp_map_put(map, "Key", &a);
    assert_null(idp_map_get(map, "key"));
    assert_null(idp_map_get(map, "KEY"));
}

static void test_remove_missing_key_changes_nothing(void **state)
{
    struct idp_map *map = *state;
    assert_null(idp_map_remove(map, "nothing")); /* empty map */
    idp_map_put(map, "present", &a);
    assert_null(idp_map_remove(map, "absent"));
    assert_int_equal(map->count, 1);
    assert_ptr_equal(idp_map_get(map, "present"), &a);
}

static void test_remove_twice_returns_null_the_second_time(void **state)
{
    struct idp_map *map = *state;
    idp_map_put(map, "k", &a);
    assert_ptr_equal(idp_map_remove(map, "k"), &a);
    assert_null(idp_map_remove(map, "k"));
    assert_int_equal(map->count, 0);
}

static void test_iteration_of_empty_map_yields_nothing(void **state)
{
    struct idp_map *map = *state;
    size_t bucket = 0;
    assert_null(idp_map_next(map, &bucket, NULL));
    /* ...also after entries were added and removed again. */
    idp_map_put(map, "k", &a);
    idp_map_remove(map, "k");
    bucket = 0;
    assert_null(idp_map_next(map, &bucket, NULL));
}

static void test_replace_does_not_duplicate_in_iteration(void **state)
{
    struct idp_map *map = *state;
    for (int round = 0; round < 50; round++)
        idp_map_put(map, "same", round % 2 ? &a : &b);
    size_t bucket = 0, visited = 0;
    for (struct idp_map_entry *e = idp_map_next(map, &bucket, NULL); e;
         e = idp_map_next(map, &bucket, e))
        visited++;
    assert_int_equal(visited, 1);
}

static void test_removed_keys_stay_gone_after_growth(void **state)
{
    struct idp_map *map = *state;
    static int values[200];
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "early-%d", i);
        idp_map_put(map, key, &values[i]);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "early-%d", i);
        idp_map_remove(map, key);
    }
    for (int i = 10; i < 200; i++) { /* forces several growths */
        snprintf(key, sizeof(key), "late-%d", i);
        idp_map_put(map, key, &values[i]);
    }
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "early-%d", i);
        assert_null(idp_map_get(map, key));
    }
    assert_int_equal(map->count, 190);
}

static void test_cleanup_without_free_value_leaves_values_alone(void **state)
{
    struct idp_map *map = *state;
    int local = 42;
    idp_map_put(map, "stack-value", &local);
    idp_map_cleanup(map, NULL); /* must not free a value it does not own */
    assert_int_equal(local, 42);
    idp_map_init(map);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_map, teardown_map)
    const struct CMUnitTest tests[] = {
        T(test_put_then_get_returns_value),
        T(test_put_existing_key_replaces_value),
        T(test_remove_returns_value_and_forgets_key),
        T(test_removed_key_can_be_added_again),
        T(test_map_copies_keys),
        T(test_empty_string_is_a_valid_key),
        T(test_many_keys_survive_growth),
        T(test_iteration_visits_every_entry_once),
        T(test_cleanup_frees_each_value_once),
        T(test_get_on_empty_map_is_null),
        T(test_get_missing_key_is_null),
        T(test_keys_are_case_sensitive),
        T(test_remove_missing_key_changes_nothing),
        T(test_remove_twice_returns_null_the_second_time),
        T(test_iteration_of_empty_map_yields_nothing),
        T(test_replace_does_not_duplicate_in_iteration),
        T(test_removed_keys_stay_gone_after_growth),
        T(test_cleanup_without_free_value_leaves_values_alone),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
