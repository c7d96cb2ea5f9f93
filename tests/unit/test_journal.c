/* The request journal (journal.h): a bounded ring that drops the oldest
 * entries, sequence numbers assigned on add, the "since" filter of the JSON
 * view, and the short stable hash used instead of secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "journal.h"

static struct idp_journal_entry entry(const char *path, int status)
{
    struct idp_journal_entry e;
    memset(&e, 0, sizeof(e));
    snprintf(e.method, sizeof(e.method), "POST");
    snprintf(e.path, sizeof(e.path), "%s", path);
    snprintf(e.route, sizeof(e.route), "authenticate");
    e.status = status;
    e.virtual_ms = 1768478400000LL;
    e.wall_ms = 1768478400000LL;
    return e;
}

static void add_n(struct idp_journal *j, int n)
{
    for (int i = 0; i < n; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/req/%d", i + 1);
        struct idp_journal_entry e = entry(path, 200);
        idp_journal_add(j, &e);
    }
}

/* The seq numbers of the JSON view's entries, checked against expected. */
static void expect_seqs(const struct idp_journal *j, uint64_t since,
                        const uint64_t *expected, size_t count)
{
    json_t *view = idp_journal_json(j, since);
    assert_non_null(view);
    json_t *entries = json_object_get(view, "entries");
    assert_true(json_is_array(entries));
    if (json_array_size(entries) != count)
        fail_msg("since %llu: %zu entries, expected %zu", (unsigned long long)since,
                 json_array_size(entries), count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(entries, i), "seq")),
                         expected[i]);
    json_decref(view);
}

static json_int_t view_int(const struct idp_journal *j, const char *key)
{
    json_t *view = idp_journal_json(j, 0);
    json_int_t v = json_integer_value(json_object_get(view, key));
    json_decref(view);
    return v;
}

/* --- positive ------------------------------------------------------------- */

static void test_add_assigns_increasing_seq_from_one(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 10);
    for (uint64_t want = 1; want <= 5; want++) {
        struct idp_journal_entry e = entry("/x", 200);
        e.seq = 999;
        assert_int_equal(idp_journal_add(&j, &e), want);
        assert_int_equal(e.seq, want);
    }
    idp_journal_cleanup(&j);
}

static void test_json_lists_entries_oldest_first(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 10);
    add_n(&j, 3);
    const uint64_t want[] = {1, 2, 3};
    expect_seqs(&j, 0, want, 3);
    json_t *view = idp_journal_json(&j, 0);
    json_t *first = json_array_get(json_object_get(view, "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "path")), "/req/1");
    assert_string_equal(json_string_value(json_object_get(first, "method")), "POST");
    assert_int_equal(json_integer_value(json_object_get(first, "status")), 200);
    assert_int_equal(json_integer_value(json_object_get(view, "next")), 4);
    assert_int_equal(json_integer_value(json_object_get(view, "dropped")), 0);
    json_decref(view);
    idp_journal_cleanup(&j);
}

static void test_ring_drops_oldest_entries_first(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 3);
    add_n(&j, 5);
    const uint64_t want[] = {3, 4, 5};
    expect_seqs(&j, 0, want, 3);
    assert_int_equal(view_int(&j, "dropped"), 2);
    assert_int_equal(view_int(&j, "next"), 6);
    json_t *view = idp_journal_json(&j, 0);
    json_t *first = json_array_get(json_object_get(view, "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "path")), "/req/3");
    json_decref(view);
    idp_journal_cleanup(&j);
}

/* Resizing keeps the newest entries that fit, in order, and the numbering. */
static void test_resize_keeps_the_newest_entries(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 4);
    add_n(&j, 6); /* wrapped: 3 4 5 6 */
    assert_true(idp_journal_resize(&j, 2));
    const uint64_t shrunk[] = {5, 6};
    expect_seqs(&j, 0, shrunk, 2);
    add_n(&j, 1);
    const uint64_t after_add[] = {6, 7};
    expect_seqs(&j, 0, after_add, 2);
    assert_true(idp_journal_resize(&j, 5));
    add_n(&j, 2);
    const uint64_t grown[] = {6, 7, 8, 9};
    expect_seqs(&j, 0, grown, 4);
    assert_int_equal(view_int(&j, "next"), 10);
    add_n(&j, 2); /* the larger ring wraps too */
    const uint64_t wrapped[] = {7, 8, 9, 10, 11};
    expect_seqs(&j, 0, wrapped, 5);
    idp_journal_cleanup(&j);
}

static void test_ring_wraps_many_times(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 4);
    add_n(&j, 1003);
    const uint64_t want[] = {1000, 1001, 1002, 1003};
    expect_seqs(&j, 0, want, 4);
    assert_int_equal(view_int(&j, "dropped"), 999);
    idp_journal_cleanup(&j);
}

static void test_since_returns_entries_at_or_after_seq(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 10);
    add_n(&j, 5);
    const uint64_t want[] = {4, 5};
    expect_seqs(&j, 4, want, 2);
    const uint64_t last[] = {5};
    expect_seqs(&j, 5, last, 1);
    idp_journal_cleanup(&j);
}

static void test_entry_is_copied_on_add(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 4);
    struct idp_journal_entry e = entry("/original", 200);
    idp_journal_add(&j, &e);
    snprintf(e.path, sizeof(e.path), "/changed");
    json_t *view = idp_journal_json(&j, 0);
    json_t *first = json_array_get(json_object_get(view, "entries"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "path")), "/original");
    json_decref(view);
    idp_journal_cleanup(&j);
}

static void test_hash_is_eight_lowercase_hex_characters(void **state)
{
    (void)state;
    const char *secrets[] = {"", "a", "refresh-token-0123456789abcdefghijklmnop",
                             "code with spaces and \xc3\xa9"};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        char out[16];
        memset(out, 'Q', sizeof(out));
        idp_journal_hash(secrets[i], out);
        assert_int_equal(strlen(out), 8);
        assert_int_equal(strspn(out, "0123456789abcdef"), 8);
    }
}

static void test_hash_is_stable_for_the_same_secret(void **state)
{
    (void)state;
    char a[16], b[16];
    char copy[64];
    snprintf(copy, sizeof(copy), "%s", "rt_01HZYXWVUTSRQPONMLKJIHGFED");
    idp_journal_hash("rt_01HZYXWVUTSRQPONMLKJIHGFED", a);
    idp_journal_hash(copy, b);
    assert_string_equal(a, b);
}

/* --- negative ------------------------------------------------------------- */

static void test_empty_journal_lists_nothing(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 10);
    expect_seqs(&j, 0, NULL, 0);
    assert_int_equal(view_int(&j, "next"), 1);
    assert_int_equal(view_int(&j, "dropped"), 0);
    idp_journal_cleanup(&j);
}

static void test_since_past_the_end_lists_nothing(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 10);
    add_n(&j, 3);
    expect_seqs(&j, 4, NULL, 0);
    expect_seqs(&j, 1000000, NULL, 0);
    expect_seqs(&j, UINT64_MAX, NULL, 0);
    idp_journal_cleanup(&j);
}

static void test_since_older_than_the_ring_does_not_resurrect_dropped_entries(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 3);
    add_n(&j, 6);
    const uint64_t want[] = {4, 5, 6};
    expect_seqs(&j, 1, want, 3);
    expect_seqs(&j, 3, want, 3);
    idp_journal_cleanup(&j);
}

static void test_clear_empties_but_never_reuses_seq(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 10);
    add_n(&j, 3);
    idp_journal_clear(&j);
    expect_seqs(&j, 0, NULL, 0);
    struct idp_journal_entry e = entry("/after", 200);
    assert_int_equal(idp_journal_add(&j, &e), 4);
    const uint64_t want[] = {4};
    expect_seqs(&j, 0, want, 1);
    idp_journal_cleanup(&j);
}

static void test_zero_capacity_journal_still_works(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 0);
    add_n(&j, 3);
    json_t *view = idp_journal_json(&j, 0);
    assert_non_null(view);
    assert_true(json_array_size(json_object_get(view, "entries")) <= 1);
    assert_int_equal(json_integer_value(json_object_get(view, "next")), 4);
    json_decref(view);
    idp_journal_cleanup(&j);
}

static void test_hash_differs_between_secrets(void **state)
{
    (void)state;
    char a[16], b[16], c[16];
    idp_journal_hash("refresh-token-A", a);
    idp_journal_hash("refresh-token-B", b);
    idp_journal_hash("refresh-token-A ", c);
    assert_string_not_equal(a, b);
    assert_string_not_equal(a, c);
}

static void test_hash_does_not_reveal_the_secret(void **state)
{
    (void)state;
    char out[16];
    idp_journal_hash("abcdef12", out); /* a secret that is itself 8 hex chars */
    assert_string_not_equal(out, "abcdef12");
    idp_journal_hash("0123456789abcdef0123456789abcdef", out);
    assert_null(strstr("0123456789abcdef0123456789abcdef", out));
}

static void test_entries_never_exceed_capacity(void **state)
{
    (void)state;
    for (size_t capacity = 1; capacity <= 5; capacity++) {
        struct idp_journal j;
        idp_journal_init(&j, capacity);
        add_n(&j, 17);
        json_t *view = idp_journal_json(&j, 0);
        assert_int_equal(json_array_size(json_object_get(view, "entries")), capacity);
        json_decref(view);
        idp_journal_cleanup(&j);
    }
}

/* Entries are kept as long as their fields are: every field, full to its
 * limit or empty, comes back exactly. */
static void test_fields_come_back_exactly_full_or_empty(void **state)
{
    (void)state;
    struct idp_journal j;
    idp_journal_init(&j, 4);
    struct idp_journal_entry e;
    memset(&e, 0, sizeof(e));
#define FILL(name, ch) memset(e.name, ch, sizeof(e.name) - 1)
    FILL(method, 'M'); FILL(path, 'p'); FILL(route, 'r'); FILL(grant_type, 'g');
    FILL(client_id, 'c'); FILL(session_id, 's'); FILL(user_id, 'u'); FILL(token_hash, 'h');
    FILL(outcome, 'o'); FILL(fault, 'f'); FILL(request_id, 'q');
#undef FILL
    e.status = 503;
    e.duration_ms = 1.5;
    idp_journal_add(&j, &e);
    struct idp_journal_entry empty = entry("/x", 200);
    empty.method[0] = '\0';
    idp_journal_add(&j, &empty);
    json_t *view = idp_journal_json(&j, 0);
    json_t *first = json_array_get(json_object_get(view, "entries"), 0);
    json_t *expected = idp_journal_entry_json(&e);
    json_object_del(expected, "seq");
    json_object_del(first, "seq");
    assert_true(json_equal(first, expected));
    json_t *second = json_array_get(json_object_get(view, "entries"), 1);
    assert_string_equal(json_string_value(json_object_get(second, "method")), "");
    assert_true(json_is_null(json_object_get(second, "fault")));
    assert_string_equal(json_string_value(json_object_get(second, "path")), "/x");
    json_decref(expected);
    json_decref(view);
    idp_journal_cleanup(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_assigns_increasing_seq_from_one),
        cmocka_unit_test(test_fields_come_back_exactly_full_or_empty),
        cmocka_unit_test(test_json_lists_entries_oldest_first),
        cmocka_unit_test(test_ring_drops_oldest_entries_first),
        cmocka_unit_test(test_ring_wraps_many_times),
        cmocka_unit_test(test_resize_keeps_the_newest_entries),
        cmocka_unit_test(test_since_returns_entries_at_or_after_seq),
        cmocka_unit_test(test_entry_is_copied_on_add),
        cmocka_unit_test(test_hash_is_eight_lowercase_hex_characters),
        cmocka_unit_test(test_hash_is_stable_for_the_same_secret),
        cmocka_unit_test(test_empty_journal_lists_nothing),
        cmocka_unit_test(test_since_past_the_end_lists_nothing),
        cmocka_unit_test(test_since_older_than_the_ring_does_not_resurrect_dropped_entries),
        cmocka_unit_test(test_clear_empties_but_never_reuses_seq),
        cmocka_unit_test(test_zero_capacity_journal_still_works),
        cmocka_unit_test(test_hash_differs_between_secrets),
        cmocka_unit_test(test_hash_does_not_reveal_the_secret),
        cmocka_unit_test(test_entries_never_exceed_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
