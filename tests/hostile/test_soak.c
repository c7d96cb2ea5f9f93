/* A short soak: 8 clients, each on its own connection, sign in and refresh in
 * a loop against one in-process server for a bounded time while a fault
 * answers every 25th refresh with a 503 (the client retries the same token).
 * Afterwards: no client saw an error other than those 503s, every session a
 * client created is listed once, active, with the refreshes that client saw,
 * and the journal (read as the run goes, so its ring never drops an entry)
 * counts exactly the sign-ins, rotations and faults the clients saw. After a
 * second round, with the server's state reset, the heap holds what it held
 * after the first (within 1 MB) and RSS (/proc/self/statm) is within 8 MB
 * (RSS not checked under ASan or TSan, whose shadow memory only grows).
 * Then strict rotation: 100 concurrent replays of one refresh token get
 * exactly one 200, twenty times over. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_server.h"

#define CLIENTS 8
#define ROUND_MS 10000
#define WARMUP_MS 5000
#define REFRESHES_PER_SESSION 5
#define FAULT_EVERY 25
#define RACERS 100
#define RACES 20
/* From the first round to the second, RSS may grow this much, and the bytes
 * the heap holds (a sharper measure of a leak) this much. */
#define RSS_MARGIN_BYTES (8L << 20)
#define HEAP_MARGIN_BYTES (1L << 20)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#if defined(UNDER_ASAN) || defined(UNDER_TSAN)
/* The sanitizer owns the heap. From compiler-rt's
 * sanitizer/allocator_interface.h, which GCC does not ship. */
#define UNDER_SANITIZER 1
size_t __sanitizer_get_current_allocated_bytes(void);
#endif
#ifdef UNDER_ASAN
void __sanitizer_purge_allocator(void);
/* A small quarantine, so ASan's own delayed frees settle within the warm-up
 * round and the heap figure measures the program. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16";
}
#endif

/* The wire tests' configuration, a journal that holds a few seconds of load,
 * and the fault. */
static char *soak_config(void)
{
    static char config[8192];
    snprintf(config, sizeof(config),
             "{\"settings\":{\"journal_size\":20000},"
             "\"faults\":[{\"id\":\"soak-503\",\"route\":\"authenticate\","
             "\"grant_type\":\"refresh_token\",\"status\":503,\"every\":%d}],%s",
             FAULT_EVERY, TS_CONFIG + 1);
    return config;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * sysconf(_SC_PAGESIZE);
}

/* Bytes the heap holds for the program right now. */
static long heap_bytes(void)
{
#ifdef UNDER_SANITIZER
    return (long)__sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return (long)(mi.uordblks + mi.hblkhd);
#endif
}

/* Hands free heap pages back to the system, so RSS measures what is held. */
static void release_free_memory(void)
{
#if defined(UNDER_ASAN)
    __sanitizer_purge_allocator();
#elif !defined(UNDER_SANITIZER)
    malloc_trim(0);
#endif
}

/* --- one client ------------------------------------------------------------------ */

struct session_seen {
    char sid[64];
    unsigned refreshes;
};

struct client {
    struct ts_server *ts;
    double deadline;
    struct hx_http_client *http;
    struct session_seen *sessions;
    size_t session_count, session_cap;
    unsigned sign_ins, refreshes, faults, errors;
    char first_error[512];
};

static void client_error(struct client *c, const char *what, const struct hx_http_response *r)
{
    if (!c->errors++)
        snprintf(c->first_error, sizeof(c->first_error), "%s: status %ld %s %.200s", what,
                 r ? r->status : 0, r ? r->error : "", r && r->body ? r->body : "");
}

/* authorize → code → authenticate on this client's own connection. */
static bool client_sign_in(struct client *c, char *refresh, size_t refresh_size)
{
    struct ts_pkce pkce;
    ts_pkce(&pkce, 43);
    char url[1024];
    snprintf(url, sizeof(url),
             "/user_management/authorize?client_id=%s&redirect_uri=%s&response_type=code"
             "&provider=authkit&state=soak&code_challenge=%s&code_challenge_method=S256",
             TS_CLIENT, "http%3A%2F%2Flocalhost%3A3000%2Fcallback", pkce.challenge);
    struct hx_http_response resp;
    ts_request(c->ts, c->http, "GET", url, NULL, NULL, &resp);
    char location[2048] = "";
    hx_http_header(&resp, "Location", location, sizeof(location));
    long status = resp.status;
    hx_http_response_cleanup(&resp);
    char *code = status == 302 ? ts_query_param(location, "code") : NULL;
    if (!code) {
        client_error(c, "authorize", NULL);
        return false;
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "grant_type", "authorization_code",
                             "client_id", TS_CLIENT, "code", code, "code_verifier", pkce.verifier);
    free(code);
    ts_post_json(c->ts, c->http, "/user_management/authenticate", NULL, body, &resp);
    json_t *pair = resp.status == 200 ? ts_json(&resp) : NULL;
    const char *rt = json_string_value(json_object_get(pair, "refresh_token"));
    json_t *claims = ts_jwt_part(json_string_value(json_object_get(pair, "access_token")), 1);
    const char *sid = json_string_value(json_object_get(claims, "sid"));
    bool ok = rt && sid;
    if (ok) {
        if (c->session_count == c->session_cap) {
            c->session_cap = c->session_cap ? c->session_cap * 2 : 64;
            c->sessions = realloc(c->sessions, c->session_cap * sizeof(*c->sessions));
        }
        struct session_seen *s = &c->sessions[c->session_count++];
        snprintf(s->sid, sizeof(s->sid), "%s", sid);
        s->refreshes = 0;
        snprintf(refresh, refresh_size, "%s", rt);
        c->sign_ins++;
    } else {
        client_error(c, "code exchange", &resp);
    }
    json_decref(claims);
    json_decref(pair);
    hx_http_response_cleanup(&resp);
    return ok;
}

/* One refresh; a configured 503 is retried with the same token. */
static bool client_refresh(struct client *c, char *refresh, size_t refresh_size)
{
    struct session_seen *s = &c->sessions[c->session_count - 1];
    for (int attempt = 0; attempt < 3; attempt++) {
        struct hx_http_response resp;
        ts_refresh(c->ts, c->http, NULL, refresh, NULL, NULL, &resp);
        if (resp.status == 503) {
            c->faults++;
            hx_http_response_cleanup(&resp);
            continue;
        }
        json_t *pair = resp.status == 200 ? ts_json(&resp) : NULL;
        const char *rt = json_string_value(json_object_get(pair, "refresh_token"));
        json_t *claims = ts_jwt_part(json_string_value(json_object_get(pair, "access_token")), 1);
        const char *sid = json_string_value(json_object_get(claims, "sid"));
        bool ok = rt && sid && strcmp(sid, s->sid) == 0 && strcmp(rt, refresh) != 0;
        if (ok) {
            snprintf(refresh, refresh_size, "%s", rt);
            s->refreshes++;
            c->refreshes++;
        } else {
            client_error(c, "refresh", &resp);
        }
        json_decref(claims);
        json_decref(pair);
        hx_http_response_cleanup(&resp);
        return ok;
    }
    client_error(c, "refresh: three 503s in a row", NULL);
    return false;
}

static void *client_run(void *arg)
{
    struct client *c = arg;
    char refresh[128];
    while (ts_wall_ms() < c->deadline && !c->errors) {
        if (!client_sign_in(c, refresh, sizeof(refresh)))
            break;
        for (int i = 0; i < REFRESHES_PER_SESSION && !c->errors; i++)
            if (!client_refresh(c, refresh, sizeof(refresh)))
                break;
    }
    return NULL;
}

/* --- the journal, read as the run goes --------------------------------------------- */

struct monitor {
    struct ts_server *ts;
    atomic_bool stop;
    uint64_t next; /* first sequence number not read yet */
    unsigned code_ok, rotated, faulted, other_authenticate, gaps;
    char first_odd[300];
};

static void monitor_poll(struct monitor *m, struct hx_http_client *http)
{
    char path[128];
    snprintf(path, sizeof(path), "/_fakeidp/journal?since=%llu", (unsigned long long)m->next);
    struct hx_http_response resp;
    ts_request(m->ts, http, "GET", path, NULL, NULL, &resp);
    json_t *body = resp.status == 200 ? ts_json(&resp) : NULL;
    hx_http_response_cleanup(&resp);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(body, "entries"), i, e) {
        uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
        if (seq != m->next)
            m->gaps++;
        m->next = seq + 1;
        if (strcmp(ts_entry_str(e, "route"), "authenticate") != 0)
            continue;
        long status = (long)json_integer_value(json_object_get(e, "status"));
        const char *grant = ts_entry_str(e, "grant_type");
        if (status == 200 && strcmp(grant, "authorization_code") == 0) {
            m->code_ok++;
        } else if (status == 200 && strcmp(grant, "refresh_token") == 0 &&
                   strcmp(ts_entry_str(e, "outcome"), "rotated") == 0) {
            m->rotated++;
        } else if (status == 503 && strcmp(ts_entry_str(e, "fault"), "soak-503") == 0) {
            m->faulted++;
        } else {
            if (!m->other_authenticate++)
                snprintf(m->first_odd, sizeof(m->first_odd), "%ld %s %s", status, grant,
                         ts_entry_str(e, "outcome"));
        }
    }
    json_decref(body);
}

static void *monitor_run(void *arg)
{
    struct monitor *m = arg;
    struct hx_http_client *http = hx_http_client_new();
    while (!atomic_load(&m->stop)) {
        monitor_poll(m, http);
        ts_sleep_ms(100);
    }
    monitor_poll(m, http); /* what came in last */
    hx_http_client_free(&http);
    return NULL;
}

/* --- a round ----------------------------------------------------------------------- */

/* Runs CLIENTS clients for ms and checks everything; returns requests served. */
static unsigned soak_round(struct ts_server *ts, long ms, bool report)
{
    struct monitor m = {.ts = ts, .next = 1};
    /* The journal starts after what earlier rounds left. */
    json_t *head = ts_admin(ts, "GET", "/_fakeidp/journal?since=999999999999", NULL, 200);
    m.next = (uint64_t)json_integer_value(json_object_get(head, "next"));
    json_decref(head);
    pthread_t monitor_thread;
    assert_int_equal(pthread_create(&monitor_thread, NULL, monitor_run, &m), 0);

    struct client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    double deadline = ts_wall_ms() + (double)ms;
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.ts = ts, .deadline = deadline,
                                     .http = hx_http_client_new()};
        assert_non_null(clients[i].http);
    }
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, client_run, &clients[i]), 0);
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        hx_http_client_free(&clients[i].http);
    }
    atomic_store(&m.stop, true);
    pthread_join(monitor_thread, NULL);

    unsigned sign_ins = 0, refreshes = 0, faults = 0;
    for (int i = 0; i < CLIENTS; i++) {
        if (clients[i].errors)
            fail_msg("client %d: %u errors, the first: %s", i, clients[i].errors,
                     clients[i].first_error);
        sign_ins += clients[i].sign_ins;
        refreshes += clients[i].refreshes;
        faults += clients[i].faults;
    }
    if (report)
        print_message("soak: %d clients, %.1f s: %u sign-ins, %u refreshes, %u 503 faults\n",
                      CLIENTS, (double)ms / 1000, sign_ins, refreshes, faults);
    assert_true(sign_ins >= CLIENTS);
    assert_true(refreshes > 0);

    /* The journal saw exactly what the clients saw. */
    assert_int_equal(m.gaps, 0);
    if (m.other_authenticate)
        fail_msg("%u unexpected authenticate entries, the first: %s", m.other_authenticate,
                 m.first_odd);
    assert_int_equal(m.code_ok, sign_ins);
    assert_int_equal(m.rotated, refreshes);
    assert_int_equal(m.faulted, faults);
    json_t *listing = ts_fault_listing(ts, "soak-503");
    assert_non_null(listing);
    assert_int_equal(json_integer_value(json_object_get(listing, "fired")), faults);
    json_decref(listing);

    /* Every session once, active, with the refreshes its client saw; no other. */
    json_t *all = ts_admin(ts, "GET", "/_fakeidp/sessions", NULL, 200);
    json_t *data = json_object_get(all, "data");
    json_t *by_id = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(data, i, s) {
        const char *id = ts_entry_str(s, "id");
        if (json_object_get(by_id, id))
            fail_msg("session %s is listed twice", id);
        json_object_set(by_id, id, s);
    }
    assert_int_equal(json_array_size(data), sign_ins);
    for (int c = 0; c < CLIENTS; c++) {
        for (size_t k = 0; k < clients[c].session_count; k++) {
            const struct session_seen *seen = &clients[c].sessions[k];
            const json_t *listed = json_object_get(by_id, seen->sid);
            if (!listed)
                fail_msg("session %s of client %d is lost", seen->sid, c);
            assert_string_equal(ts_entry_str(listed, "status"), "active");
            assert_int_equal(json_integer_value(json_object_get(listed, "refresh_count")),
                             seen->refreshes);
            json_object_del(by_id, seen->sid); /* a second client with it would fail */
        }
        free(clients[c].sessions);
    }
    assert_int_equal(json_object_size(by_id), 0);
    json_decref(by_id);
    json_decref(all);
    return sign_ins * 2 + refreshes + faults;
}

/* Forgets every session and code (the configuration stays), waits for the
 * server's workers to go idle and returns free memory to the system. */
static void settle(struct ts_server *ts, long *rss, long *heap)
{
    json_decref(ts_admin(ts, "POST", "/_fakeidp/reset", NULL, 200));
    hx_http_client_free(&ts->http); /* its connection holds a worker and buffers */
    ts->http = hx_http_client_new();
    ts_sleep_ms(300);
    release_free_memory();
    *rss = rss_bytes();
    *heap = heap_bytes();
    if (getenv("SOAK_DEBUG")) {
        FILE *f = fopen("/proc/self/smaps", "r");
        char line[512], mapping[512] = "";
        while (f && fgets(line, sizeof(line), f)) {
            long kb;
            if (strchr(line, '-') && strchr(line, ' ') && line[0] != 'R')
                snprintf(mapping, sizeof(mapping), "%s", line);
            else if (sscanf(line, "Rss: %ld kB", &kb) == 1 && kb > 1024)
                print_message("  %ld kB %s", kb, mapping);
        }
        if (f)
            fclose(f);
    }
}

static void test_soak_parallel_sign_in_and_refresh(void **state)
{
    struct ts_server *ts = TS_START(state, soak_config());
    double start = ts_wall_ms();
    long rss_before, heap_before, rss_after, heap_after;
    /* Round one warms every cache, pool and arena the load touches. */
    soak_round(ts, WARMUP_MS, false);
    settle(ts, &rss_before, &heap_before);
    unsigned served = soak_round(ts, ROUND_MS, true);
    settle(ts, &rss_after, &heap_after);
    print_message("soak: %u requests in %.1f s; RSS %.1f MB before, %.1f MB after; "
                  "heap %.2f MB before, %.2f MB after\n",
                  served, (ts_wall_ms() - start) / 1000, (double)rss_before / 1048576,
                  (double)rss_after / 1048576, (double)heap_before / 1048576,
                  (double)heap_after / 1048576);
    assert_true(rss_before > 0);
    if (heap_after - heap_before > HEAP_MARGIN_BYTES)
        fail_msg("the heap grew by %.2f MB over the soak (margin %.2f MB): a leak",
                 (double)(heap_after - heap_before) / 1048576,
                 (double)HEAP_MARGIN_BYTES / 1048576);
#ifndef UNDER_SANITIZER
    /* Under ASan and TSan, RSS also counts shadow memory, which is never given
     * back; there the exact heap figure above (and LeakSanitizer) do this job. */
    if (rss_after - rss_before > RSS_MARGIN_BYTES)
        fail_msg("RSS grew by %.1f MB over the soak (margin %.1f MB)",
                 (double)(rss_after - rss_before) / 1048576, (double)RSS_MARGIN_BYTES / 1048576);
#endif
}

/* --- strict rotation under concurrent replays --------------------------------------- */

struct racer {
    struct ts_server *ts;
    pthread_barrier_t *barrier;
    struct hx_http_client *http;
    const char *refresh;
    long status;
    char new_refresh[128];
};

static void *racer_run(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->barrier);
    struct hx_http_response resp;
    ts_refresh(r->ts, r->http, NULL, r->refresh, NULL, NULL, &resp);
    /* Hang up at once: an idle kept-alive connection holds one of the
     * server's worker threads, and 100 racers outnumber them. */
    hx_http_client_free(&r->http);
    r->status = resp.status;
    r->new_refresh[0] = '\0';
    if (resp.status == 200) {
        json_t *pair = ts_json(&resp);
        snprintf(r->new_refresh, sizeof(r->new_refresh), "%s",
                 json_string_value(json_object_get(pair, "refresh_token")));
        json_decref(pair);
    } else if (resp.status == 400 && !strstr(resp.body, "\"invalid_grant\"")) {
        r->status = -400; /* a 400 that is not invalid_grant */
    } else if (resp.status != 400) {
        snprintf(r->new_refresh, sizeof(r->new_refresh), "%s %.80s", resp.error,
                 resp.body ? resp.body : "");
    }
    hx_http_response_cleanup(&resp);
    return NULL;
}

static void test_strict_rotation_one_winner_under_100_replays(void **state)
{
    struct ts_server *ts = TS_START(state, TS_CONFIG);
    ts_settings(ts, "{\"refresh_mode\":\"strict\"}");
    static struct racer racers[RACERS];
    pthread_t threads[RACERS];
    for (int race = 0; race < RACES; race++) {
        struct ts_session s;
        ts_sign_in(ts, NULL, &s);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (struct racer){.ts = ts, .barrier = &barrier,
                                       .http = hx_http_client_new(),
                                       .refresh = s.refresh_token};
            assert_non_null(racers[i].http);
        }
        for (int i = 0; i < RACERS; i++)
            assert_int_equal(pthread_create(&threads[i], NULL, racer_run, &racers[i]), 0);
        int winners = 0, refused = 0;
        const char *winner = NULL;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(threads[i], NULL);
            if (racers[i].status == 200) {
                winners++;
                winner = racers[i].new_refresh;
            } else if (racers[i].status == 400) {
                refused++;
            }
        }
        pthread_barrier_destroy(&barrier);
        if (winners != 1 || refused != RACERS - 1) {
            for (int i = 0; i < RACERS; i++)
                if (racers[i].status != 200 && racers[i].status != 400)
                    print_error("racer %d: status %ld: %s\n", i, racers[i].status,
                                racers[i].new_refresh);
            fail_msg("race %d: %d winners and %d invalid_grant of %d replays", race, winners,
                     refused, RACERS);
        }
        /* The winner's new token is the one that works now. */
        struct hx_http_response resp;
        ts_refresh(ts, NULL, NULL, winner, NULL, NULL, &resp);
        assert_int_equal(resp.status, 200);
        hx_http_response_cleanup(&resp);
        ts_refresh(ts, NULL, NULL, s.refresh_token, NULL, NULL, &resp);
        assert_int_equal(resp.status, 400);
        hx_http_response_cleanup(&resp);
        ts_session_cleanup(&s);
    }
    /* One rotated exchange per race in the journal, plus the check after it. */
    json_t *entries = ts_journal(ts);
    size_t i, rotated = 0, already = 0;
    json_t *e;
    json_array_foreach(entries, i, e) {
        if (strcmp(ts_entry_str(e, "grant_type"), "refresh_token") != 0)
            continue;
        rotated += strcmp(ts_entry_str(e, "outcome"), "rotated") == 0;
        already += strcmp(ts_entry_str(e, "outcome"), "already_exchanged") == 0;
    }
    json_decref(entries);
    assert_int_equal(rotated, 2 * RACES);
    assert_int_equal(already, (RACERS - 1) * RACES + RACES);
}

int main(void)
{
#ifndef UNDER_SANITIZER
    /* One malloc arena instead of one per busy thread: RSS then follows what
     * the program holds rather than how 40 threads spread it. */
    mallopt(M_ARENA_MAX, 1);
    /* A fixed mmap threshold: the journal's ring (12 MB) is then mapped fresh
     * on every reset, instead of being carved from the heap and zeroed. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    const struct CMUnitTest tests[] = {
        TS_TEST(test_soak_parallel_sign_in_and_refresh),
        TS_TEST(test_strict_rotation_one_winner_under_100_replays),
    };
    return cmocka_run_group_tests_name("soak", tests, NULL, NULL);
}
