/* The seeded generator (random.h): the same seed replays the same sequence,
 * ULIDs are prefix + 26 Crockford characters whose first ten encode the
 * millisecond timestamp, and tokens use only the base62 alphabet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "random.h"

#define CROCKFORD "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#define BASE62 "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* --- replay ----------------------------------------------------------------- */

static void test_same_seed_gives_same_u64_sequence(void **state)
{
    (void)state;
    struct idp_random x, y;
    idp_random_init(&x, 42);
    idp_random_init(&y, 42);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(idp_random_u64(&x), idp_random_u64(&y));
    idp_random_cleanup(&x);
    idp_random_cleanup(&y);
}

static void test_same_seed_gives_same_bytes_tokens_and_ulids(void **state)
{
    (void)state;
    struct idp_random x, y;
    idp_random_init(&x, 7);
    idp_random_init(&y, 7);
    unsigned char bx[37], by[37];
    idp_random_bytes(&x, bx, sizeof(bx));
    idp_random_bytes(&y, by, sizeof(by));
    assert_memory_equal(bx, by, sizeof(bx));
    char tx[33], ty[33];
    idp_random_token(&x, tx, 32);
    idp_random_token(&y, ty, 32);
    assert_string_equal(tx, ty);
    char ux[64], uy[64];
    idp_random_ulid(&x, "session_", 1700000000000LL, ux, sizeof(ux));
    idp_random_ulid(&y, "session_", 1700000000000LL, uy, sizeof(uy));
    assert_string_equal(ux, uy);
    assert_true(idp_random_unit(&x) == idp_random_unit(&y));
    idp_random_cleanup(&x);
    idp_random_cleanup(&y);
}

static void test_seed_is_recorded_for_replay(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 12345);
    assert_int_equal(rng.seed, 12345);
    idp_random_cleanup(&rng);
}

static void test_different_seeds_give_different_sequences(void **state)
{
    (void)state;
    struct idp_random x, y;
    idp_random_init(&x, 1);
    idp_random_init(&y, 2);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += idp_random_u64(&x) == idp_random_u64(&y);
    assert_int_equal(same, 0);
    idp_random_cleanup(&x);
    idp_random_cleanup(&y);
}

static void test_seed_zero_picks_a_fresh_nonzero_seed(void **state)
{
    (void)state;
    struct idp_random x, y;
    idp_random_init(&x, 0);
    idp_random_init(&y, 0);
    assert_int_not_equal(x.seed, 0);
    assert_int_not_equal(y.seed, 0);
    /* Two OS-picked seeds coincide with probability 2^-64. */
    assert_int_not_equal(x.seed, y.seed);
    /* ...and the recorded seed replays the sequence. */
    struct idp_random replay;
    idp_random_init(&replay, x.seed);
    for (int i = 0; i < 10; i++)
        assert_int_equal(idp_random_u64(&x), idp_random_u64(&replay));
    idp_random_cleanup(&x);
    idp_random_cleanup(&y);
    idp_random_cleanup(&replay);
}

static void test_sequence_does_not_repeat_quickly(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 99);
    uint64_t first = idp_random_u64(&rng);
    for (int i = 0; i < 10000; i++)
        assert_int_not_equal(idp_random_u64(&rng), first);
    idp_random_cleanup(&rng);
}

/* --- unit / bytes ------------------------------------------------------------- */

static void test_unit_is_in_half_open_interval(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 3);
    double sum = 0, min = 1, max = 0;
    for (int i = 0; i < 100000; i++) {
        double u = idp_random_unit(&rng);
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
        min = u < min ? u : min;
        max = u > max ? u : max;
    }
    assert_true(sum / 100000 > 0.48 && sum / 100000 < 0.52);
    assert_true(min < 0.01 && max > 0.99);
    idp_random_cleanup(&rng);
}

static void test_bytes_fill_exactly_len(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 5);
    for (size_t len = 0; len <= 33; len++) {
        unsigned char buf[48];
        memset(buf, 0xAA, sizeof(buf));
        idp_random_bytes(&rng, buf, len);
        for (size_t i = len; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0xAA);
    }
    idp_random_cleanup(&rng);
}

/* --- ULIDs ---------------------------------------------------------------------- */

static void test_ulid_is_prefix_plus_26_crockford_characters(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 11);
    for (int i = 0; i < 200; i++) {
        char out[64];
        idp_random_ulid(&rng, "user_", 1700000000000LL + i, out, sizeof(out));
        assert_int_equal(strlen(out), strlen("user_") + 26);
        assert_memory_equal(out, "user_", 5);
        assert_int_equal(strspn(out + 5, CROCKFORD), 26);
    }
    idp_random_cleanup(&rng);
}

static void test_ulid_with_empty_prefix(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 11);
    char out[27];
    idp_random_ulid(&rng, "", 1, out, sizeof(out));
    assert_int_equal(strlen(out), 26);
    assert_int_equal(strspn(out, CROCKFORD), 26);
    idp_random_cleanup(&rng);
}

static void test_ulid_timestamp_part_encodes_now(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 11);
    char out[64];
    /* The ULID specification's example: 1469918176385 ms -> "01ARYZ6S41". */
    idp_random_ulid(&rng, "session_", 1469918176385LL, out, sizeof(out));
    assert_memory_equal(out, "session_01ARYZ6S41", 18);
    idp_random_cleanup(&rng);
}

static void test_later_ulids_sort_after_earlier_ones(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 13);
    char prev[64], next[64];
    idp_random_ulid(&rng, "x_", 1700000000000LL, prev, sizeof(prev));
    for (int i = 1; i < 100; i++) {
        idp_random_ulid(&rng, "x_", 1700000000000LL + i * 1000, next, sizeof(next));
        assert_true(strcmp(prev, next) < 0);
        memcpy(prev, next, sizeof(prev));
    }
    idp_random_cleanup(&rng);
}

static void test_ulids_in_the_same_millisecond_differ(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 17);
    char a[64], b[64];
    idp_random_ulid(&rng, "code_", 1700000000000LL, a, sizeof(a));
    idp_random_ulid(&rng, "code_", 1700000000000LL, b, sizeof(b));
    assert_memory_equal(a, b, 5 + 10); /* same timestamp part */
    assert_string_not_equal(a, b);     /* different random part */
    idp_random_cleanup(&rng);
}

static void test_ulid_respects_out_size(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 19);
    char out[40];
    memset(out, 'Q', sizeof(out));
    idp_random_ulid(&rng, "session_", 1700000000000LL, out, 10);
    assert_int_equal(strlen(out), 9);
    assert_int_equal(out[10], 'Q');
    idp_random_cleanup(&rng);
}

/* --- tokens ------------------------------------------------------------------------- */

static void test_token_has_length_and_base62_alphabet(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 23);
    int seen[256] = {0};
    for (int i = 0; i < 400; i++) {
        char tok[41];
        memset(tok, 'Q', sizeof(tok));
        idp_random_token(&rng, tok, 40);
        assert_int_equal(strlen(tok), 40);
        assert_int_equal(strspn(tok, BASE62), 40);
        for (int j = 0; j < 40; j++)
            seen[(unsigned char)tok[j]]++;
    }
    /* 16000 characters: every one of the 62 symbols shows up. */
    for (const char *p = BASE62; *p; p++)
        if (!seen[(unsigned char)*p])
            fail_msg("token alphabet symbol '%c' never produced", *p);
    idp_random_cleanup(&rng);
}

static void test_zero_length_token_is_empty_string(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 29);
    char tok[2] = {'Q', 'Q'};
    idp_random_token(&rng, tok, 0);
    assert_int_equal(tok[0], '\0');
    assert_int_equal(tok[1], 'Q');
    idp_random_cleanup(&rng);
}

static void test_consecutive_tokens_differ(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 31);
    char a[26], b[26];
    idp_random_token(&rng, a, 25);
    idp_random_token(&rng, b, 25);
    assert_string_not_equal(a, b);
    idp_random_cleanup(&rng);
}

static void test_ulid_never_contains_ambiguous_letters(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 37);
    for (int i = 0; i < 500; i++) {
        char out[64];
        idp_random_ulid(&rng, "", 1700000000000LL + i * 7919, out, sizeof(out));
        assert_null(strpbrk(out, "ILOUilou"));
    }
    idp_random_cleanup(&rng);
}

static void test_different_seeds_give_different_tokens_and_ulids(void **state)
{
    (void)state;
    struct idp_random x, y;
    idp_random_init(&x, 41);
    idp_random_init(&y, 43);
    char tx[33], ty[33];
    idp_random_token(&x, tx, 32);
    idp_random_token(&y, ty, 32);
    assert_string_not_equal(tx, ty);
    char ux[64], uy[64];
    idp_random_ulid(&x, "s_", 1700000000000LL, ux, sizeof(ux));
    idp_random_ulid(&y, "s_", 1700000000000LL, uy, sizeof(uy));
    assert_string_not_equal(ux, uy);
    idp_random_cleanup(&x);
    idp_random_cleanup(&y);
}

static void test_consecutive_byte_draws_differ(void **state)
{
    (void)state;
    struct idp_random rng;
    idp_random_init(&rng, 47);
    unsigned char a[16], b[16];
    idp_random_bytes(&rng, a, sizeof(a));
    idp_random_bytes(&rng, b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    idp_random_cleanup(&rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_gives_same_u64_sequence),
        cmocka_unit_test(test_same_seed_gives_same_bytes_tokens_and_ulids),
        cmocka_unit_test(test_seed_is_recorded_for_replay),
        cmocka_unit_test(test_different_seeds_give_different_sequences),
        cmocka_unit_test(test_seed_zero_picks_a_fresh_nonzero_seed),
        cmocka_unit_test(test_sequence_does_not_repeat_quickly),
        cmocka_unit_test(test_unit_is_in_half_open_interval),
        cmocka_unit_test(test_bytes_fill_exactly_len),
        cmocka_unit_test(test_ulid_is_prefix_plus_26_crockford_characters),
        cmocka_unit_test(test_ulid_with_empty_prefix),
        cmocka_unit_test(test_ulid_timestamp_part_encodes_now),
        cmocka_unit_test(test_later_ulids_sort_after_earlier_ones),
        cmocka_unit_test(test_ulids_in_the_same_millisecond_differ),
        cmocka_unit_test(test_ulid_respects_out_size),
        cmocka_unit_test(test_token_has_length_and_base62_alphabet),
        cmocka_unit_test(test_zero_length_token_is_empty_string),
        cmocka_unit_test(test_consecutive_tokens_differ),
        cmocka_unit_test(test_ulid_never_contains_ambiguous_letters),
        cmocka_unit_test(test_different_seeds_give_different_tokens_and_ulids),
        cmocka_unit_test(test_consecutive_byte_draws_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
