/* Servers started at once by several threads (what `fakeidp run -j N` does
 * when its workers start their worlds): CivetWeb's library initialisation
 * runs once, and every server answers.
 *
 * CivetWeb initialises its library inside the first mg_start unless
 * mg_init_library ran before, and that code is not thread-safe: a second
 * thread can re-initialise the global mutex the first one holds (glibc
 * aborts in pthread_mutex_lock: "__owner == 0"; seen in CI about once in
 * 2,000 concurrent starts). The window is made wide here: CivetWeb's
 * pthread_key_create, which its initialisation calls with that mutex held,
 * is interposed and made slow, so every thread that enters the
 * initialisation is counted. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "test_server.h"

#define STARTERS 4

static atomic_int civetweb_inits;

/* ThreadSanitizer's runtime calls pthread_key_create before it can run
 * instrumented code such as the interposer: there the starts still race
 * (for TSan to see), uncounted. */
#if defined(__SANITIZE_THREAD__)
#define COUNTED 0
#else
#define COUNTED 1

/* Whether code at address belongs to libcivetweb. */
static bool in_civetweb(const void *address)
{
    Dl_info info;
    return dladdr(address, &info) && info.dli_fname && strstr(info.dli_fname, "civetweb");
}

/* glibc's own name for it: no dlsym, which a sanitizer's runtime may call
 * this before it can answer. */
int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *));

int pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
int pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    if (in_civetweb(__builtin_return_address(0))) {
        atomic_fetch_add(&civetweb_inits, 1);
        struct timespec pause = {0, 100L * 1000 * 1000};
        nanosleep(&pause, NULL); /* long enough for the other starters to arrive */
    }
    return __pthread_key_create(key, destructor);
}
#endif

static void check_inits(int expected)
{
    if (COUNTED)
        assert_int_equal(atomic_load(&civetweb_inits), expected);
}

struct starter {
    pthread_barrier_t *go;
    struct idp_clock clock;
    struct idp_server *server;
    char error[256];
};

static void *start_one(void *arg)
{
    struct starter *s = arg;
    struct idp_server_options options = {
        .key = ts_signing_key(), .clock = &s->clock, .seed = 7, .threads = 2};
    struct idp_error err = {0};
    pthread_barrier_wait(s->go);
    s->server = idp_server_start(&options, &err);
    if (!s->server)
        snprintf(s->error, sizeof(s->error), "%s", err.message);
    return NULL;
}

static void test_concurrent_starts_initialise_civetweb_once(void **state)
{
    (void)state;
    ts_signing_key(); /* loaded (or generated) before the race */
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, STARTERS);
    struct starter starters[STARTERS];
    pthread_t threads[STARTERS];
    memset(starters, 0, sizeof(starters));
    for (int i = 0; i < STARTERS; i++) {
        starters[i].go = &go;
        idp_clock_init(&starters[i].clock);
        assert_int_equal(pthread_create(&threads[i], NULL, start_one, &starters[i]), 0);
    }
    for (int i = 0; i < STARTERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&go);
    check_inits(1);

    struct hx_http_client *http = hx_http_client_new();
    assert_non_null(http);
    for (int i = 0; i < STARTERS; i++) {
        if (!starters[i].server)
            fail_msg("server %d did not start: %s", i, starters[i].error);
        char client_id[128], api_key[128], url[400];
        idp_server_credentials(starters[i].server, client_id, sizeof(client_id), api_key,
                               sizeof(api_key));
        snprintf(url, sizeof(url), "%s/sso/jwks/%s", idp_server_url(starters[i].server), client_id);
        struct hx_http_response resp = {0};
        assert_true(hx_http_request(http, "GET", url, NULL, NULL, 0, TS_TIMEOUT_MS, &resp));
        assert_int_equal(resp.status, 200);
        json_t *jwks = ts_json(&resp);
        assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
        json_decref(jwks);
        hx_http_response_cleanup(&resp);
    }
    hx_http_client_free(&http);
    for (int i = 0; i < STARTERS; i++) {
        idp_server_stop(&starters[i].server);
        idp_clock_cleanup(&starters[i].clock);
    }
    /* A start after the first ones does not initialise again. */
    struct starter late = {.go = NULL};
    idp_clock_init(&late.clock);
    struct idp_server_options options = {.key = ts_signing_key(), .clock = &late.clock, .threads = 2};
    struct idp_error err = {0};
    late.server = idp_server_start(&options, &err);
    assert_non_null(late.server);
    check_inits(1);
    idp_server_stop(&late.server);
    idp_clock_cleanup(&late.clock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_starts_initialise_civetweb_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
