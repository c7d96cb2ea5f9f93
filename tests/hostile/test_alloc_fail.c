/* Allocation failures on the core paths: store configuration from a JSON
 * config, iron seal and unseal, JWT encode and decode, settings, scenario
 * load, fault rules. Each path runs with its Nth allocation failing, for N = 1,
 * 2, ... until a run makes fewer than N allocations; every run must either
 * fail cleanly (a status other than OK, with a message) or succeed with a
 * complete, correct result, and never crash. Under the ASan build each path
 * also ends with a leak check.
 *
 * Interposition: fakeidp's and the harness's malloc, calloc, realloc, strdup
 * and strndup are wrapped at link time (-Wl,--wrap=...); jansson allocates
 * through json_set_alloc_funcs and OpenSSL through CRYPTO_set_mem_functions,
 * both pointed at the same counter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "iron.h"
#include "idp_jwt.h"
#include "keys.h"
#include "scenario.h"
#include "settings.h"
#include "store.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#ifndef ALLOC_FAIL_KEY_PATH
#define ALLOC_FAIL_KEY_PATH "/tmp/fakeidp-alloc-fail/signing-key.pem"
#endif
#ifndef SCENARIO_DIR
#define SCENARIO_DIR "scenarios"
#endif

/* --- the failing allocator ----------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static __thread bool armed;
static __thread long allocations, fail_at, injected;

static bool inject(void)
{
    if (!armed)
        return false;
    if (++allocations != fail_at)
        return false;
    injected++;
    return true;
}

void *__wrap_malloc(size_t size)
{
    return inject() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return inject() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return inject() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return inject() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return inject() ? NULL : __real_strndup(s, n);
}

/* jansson 2.14 does not fail cleanly when its text buffers cannot grow: the
 * encoder writes an object without that key (akheron/jansson#655) and the
 * decoder drops that character from a string (lex_save ignores the error),
 * both reporting success. Here json_dumps and json_loadb fail or succeed as a
 * whole, as a fixed jansson would; jansson's other allocations (values,
 * objects, arrays, copies) still fail one by one. */
char *__real_json_dumps(const json_t *json, size_t flags);
char *__wrap_json_dumps(const json_t *json, size_t flags);
json_t *__real_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error);

char *__wrap_json_dumps(const json_t *json, size_t flags)
{
    if (inject())
        return NULL;
    bool was = armed;
    armed = false;
    char *text = __real_json_dumps(json, flags);
    armed = was;
    return text;
}

json_t *__wrap_json_loadb(const char *buffer, size_t buflen, size_t flags, json_error_t *error)
{
    if (inject()) {
        /* What jansson reports when it runs out of memory: no error text. */
        if (error)
            memset(error, 0, sizeof(*error));
        return NULL;
    }
    bool was = armed;
    armed = false;
    json_t *value = __real_json_loadb(buffer, buflen, flags, error);
    armed = was;
    return value;
}

static void *json_alloc(size_t size)
{
    return inject() ? NULL : __real_malloc(size);
}

static void json_release(void *p)
{
    free(p);
}

static void *ossl_alloc(size_t size, const char *file, int line)
{
    (void)file;
    (void)line;
    return inject() ? NULL : __real_malloc(size);
}

static void *ossl_realloc(void *p, size_t size, const char *file, int line)
{
    (void)file;
    (void)line;
    return inject() ? NULL : __real_realloc(p, size);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

static void arm(long n)
{
    allocations = 0;
    injected = 0;
    fail_at = n;
    armed = true;
}

static void disarm(void)
{
    armed = false;
}

/* One run of a path with allocation n failing. Returns the status the call
 * under test gave; the path checks its own result. */
typedef enum idp_status attempt_fn(long n, void *ctx);

static void leak_check(const char *name)
{
#ifdef HAVE_LSAN
    if (__lsan_do_recoverable_leak_check())
        fail_msg("%s: memory leaked on an allocation-failure path (see the report above)", name);
#else
    (void)name;
#endif
}

/* Runs fn for N = 1, 2, ... until it makes fewer than N allocations; that run
 * must succeed. Returns the number of runs. */
static long sweep(const char *name, attempt_fn *fn, void *ctx)
{
    long failed_cleanly = 0, survived = 0;
    for (long n = 1;; n++) {
        enum idp_status st = fn(n, ctx);
        if (!injected) {
            if (st != IDP_OK)
                fail_msg("%s: fails (%s) with no allocation failing", name, idp_status_text(st));
            print_message("%s: %ld allocations, %ld clean failures, %ld runs that coped\n",
                          name, n - 1, failed_cleanly, survived);
            leak_check(name);
            return n;
        }
        if (st == IDP_OK)
            survived++;
        else
            failed_cleanly++;
        if (n > 200000)
            fail_msg("%s: more than 200000 allocations", name);
    }
}

/* A failure must name itself. */
static void check_error(const char *name, long n, enum idp_status st, const struct idp_error *err)
{
    if (st == IDP_OK)
        return;
    if (err->status != st || !err->message[0])
        fail_msg("%s: allocation %ld failing gave status %s but error {%s, \"%s\"}", name, n,
                 idp_status_text(st), idp_status_text(err->status), err->message);
}

/* --- store configuration ----------------------------------------------------------- */

static const char config_text[] =
    "{\"api_keys\":[\"sk_test_a\",\"sk_test_b\"],"
    "\"clients\":[{\"id\":\"client_A\",\"redirect_uris\":[\"http://localhost:3000/*\"],"
    "\"allowed_origins\":[\"http://localhost:3000\"],\"claims\":{\"tier\":\"gold\"}},"
    "{\"id\":\"client_B\"}],"
    "\"organizations\":[{\"id\":\"org_A\",\"name\":\"Acme\"},{\"id\":\"org_B\"}],"
    "\"users\":[{\"email\":\"alice@example.com\",\"first_name\":\"Alice\",\"last_name\":\"E\","
    "\"metadata\":{\"k\":\"v\"},\"claims\":{\"c\":1}},"
    "{\"id\":\"user_bob\",\"email\":\"bob@example.com\",\"memberships\":["
    "{\"organization_id\":\"org_A\",\"role\":\"admin\",\"permissions\":[\"p:r\"]},"
    "{\"organization_id\":\"org_C\",\"roles\":[\"x\",\"y\"],\"feature_flags\":[\"f\"]}]},"
    "{\"email\":\"carol@example.com\",\"impersonator\":{\"email\":\"a@b.c\",\"reason\":\"r\"},"
    "\"authentication_method\":\"SSO\",\"step_up\":\"mfa_challenge\"}]}";

static void check_user(const struct idp_user *u, const char *email)
{
    assert_non_null(u);
    assert_true(json_is_object(u->object));
    assert_string_equal(json_string_value(json_object_get(u->object, "email")), email);
    assert_int_equal(json_object_size(u->object), 14);
    assert_true(json_is_object(u->claims));
    for (size_t i = 0; i < u->membership_count; i++) {
        assert_true(json_is_object(u->memberships[i].fields));
        assert_int_equal(json_object_size(u->memberships[i].fields), 5);
    }
}

static enum idp_status attempt_store(long n, void *ctx)
{
    const json_t *config = ctx;
    struct idp_store store;
    idp_store_init(&store);
    struct idp_error err = {0};
    arm(n);
    enum idp_status st = idp_store_configure(&store, config, 1768478400000LL, &err);
    disarm();
    check_error("store", n, st, &err);
    if (st == IDP_OK) {
        /* Everything the configuration says is there. */
        assert_int_equal(json_array_size(store.api_keys), 2);
        assert_int_equal(store.clients.count, 2);
        const char *ids[] = {"client_A", "client_B"};
        for (int i = 0; i < 2; i++) {
            const struct idp_client *c = idp_store_client(&store, ids[i]);
            assert_non_null(c);
            assert_true(json_is_array(c->redirect_uris) && json_array_size(c->redirect_uris));
            assert_true(json_is_array(c->allowed_origins) && json_array_size(c->allowed_origins));
            assert_true(json_is_array(c->logout_uris) && json_array_size(c->logout_uris));
            assert_true(json_is_object(c->claims));
        }
        assert_int_equal(store.users.count, 3);
        assert_int_equal(store.users_by_email.count, 3);
        check_user(idp_store_user_by_email(&store, "alice@example.com"), "alice@example.com");
        const struct idp_user *bob = idp_store_user(&store, "user_bob");
        check_user(bob, "bob@example.com");
        assert_int_equal(bob->membership_count, 2);
        const struct idp_user *carol = idp_store_user_by_email(&store, "carol@example.com");
        check_user(carol, "carol@example.com");
        assert_true(json_is_object(carol->impersonator));
        assert_int_equal(json_object_size(store.organizations), 3);
        assert_string_equal(store.default_client, "client_A");
    }
    idp_store_cleanup(&store);
    return st;
}

/* The zero configuration: one API key, one client, one user. */
static enum idp_status attempt_store_defaults(long n, void *ctx)
{
    (void)ctx;
    struct idp_store store;
    idp_store_init(&store);
    struct idp_error err = {0};
    arm(n);
    enum idp_status st = idp_store_configure(&store, NULL, 1768478400000LL, &err);
    disarm();
    check_error("store defaults", n, st, &err);
    if (st == IDP_OK) {
        assert_int_equal(json_array_size(store.api_keys), 1);
        const struct idp_client *c = idp_store_client(&store, store.default_client);
        assert_non_null(c);
        assert_int_equal(json_array_size(c->redirect_uris), 6);
        assert_int_equal(json_array_size(c->allowed_origins), 6);
        assert_int_equal(json_array_size(c->logout_uris), 6);
        assert_true(json_is_object(c->claims));
        check_user(idp_store_default_user(&store), "alice@example.com");
    }
    idp_store_cleanup(&store);
    return st;
}

static void test_store_configure(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *config = json_loads(config_text, 0, &jerr);
    assert_non_null(config);
    sweep("store configure", attempt_store, config);
    sweep("store defaults", attempt_store_defaults, NULL);
    json_decref(config);
}

/* --- iron ----------------------------------------------------------------------------- */

#define PASSWORD "alloc-fail-test-password-0123456789abcdef"
#define NOW 1768478400000LL
static const char payload[] = "{\"accessToken\":\"a.b.c\",\"refreshToken\":\"r\",\"user\":{\"id\":\"u\"}}";

static enum idp_status attempt_seal(long n, void *ctx)
{
    (void)ctx;
    struct idp_error err = {0};
    arm(n);
    char *sealed = idp_iron_seal(PASSWORD, (const unsigned char *)payload, strlen(payload), NOW,
                                 3600000, &err);
    disarm();
    enum idp_status st = sealed ? IDP_OK : err.status;
    if (!sealed && (st == IDP_OK || !err.message[0]))
        fail_msg("seal: allocation %ld failing gave no seal and no error", n);
    if (sealed) {
        unsigned char *out = NULL;
        size_t len = 0;
        assert_int_equal(idp_iron_unseal(PASSWORD, sealed, NOW, &out, &len, &err), IDP_OK);
        assert_int_equal(len, strlen(payload));
        assert_memory_equal(out, payload, len);
        free(out);
    }
    free(sealed);
    return st;
}

static enum idp_status attempt_unseal(long n, void *ctx)
{
    const char *sealed = ctx;
    struct idp_error err = {0};
    unsigned char *out = NULL;
    size_t len = 0;
    arm(n);
    enum idp_status st = idp_iron_unseal(PASSWORD, sealed, NOW, &out, &len, &err);
    disarm();
    check_error("unseal", n, st, &err);
    if (st == IDP_OK) {
        assert_int_equal(len, strlen(payload));
        assert_memory_equal(out, payload, len);
    } else {
        assert_null(out);
    }
    free(out);
    return st;
}

static void test_iron(void **state)
{
    (void)state;
    sweep("iron seal", attempt_seal, NULL);
    struct idp_error err = {0};
    char *sealed = idp_iron_seal(PASSWORD, (const unsigned char *)payload, strlen(payload), NOW,
                                 0, &err);
    assert_non_null(sealed);
    sweep("iron unseal", attempt_unseal, sealed);
    free(sealed);
}

/* --- JWT ------------------------------------------------------------------------------ */

static EVP_PKEY *signing_key;

static json_t *claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:[s, s], s:{s:s}}", "iss",
                     "https://api.workos.com/user_management/client_A", "sub", "user_1", "sid",
                     "session_1", "exp", (json_int_t)1768478700, "iat", (json_int_t)1768478400,
                     "permissions", "a", "b", "act", "sub", "admin@example.com");
}

static enum idp_status attempt_encode(long n, void *ctx)
{
    (void)ctx;
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", "k1");
    json_t *payload_json = claims();
    struct idp_error err = {0};
    arm(n);
    char *token = idp_jwt_encode(header, payload_json, IDP_JWT_RS256, signing_key, NULL, 0, &err);
    disarm();
    enum idp_status st = token ? IDP_OK : err.status;
    if (!token && (st == IDP_OK || !err.message[0]))
        fail_msg("jwt encode: allocation %ld failing gave no token and no error", n);
    if (token) {
        struct idp_jwt jwt;
        if (idp_jwt_decode(token, &jwt, &err) != IDP_OK)
            fail_msg("jwt encode: allocation %ld failing gave a token that does not decode (%s): %s",
                     n, err.message, token);
        assert_true(json_equal(jwt.header, header));
        assert_true(json_equal(jwt.payload, payload_json));
        assert_int_equal(idp_jwt_verify_rs256(&jwt, signing_key, &err), IDP_OK);
        idp_jwt_cleanup(&jwt);
    }
    free(token);
    json_decref(header);
    json_decref(payload_json);
    return st;
}

static enum idp_status attempt_decode(long n, void *ctx)
{
    const char *token = ctx;
    struct idp_jwt jwt;
    memset(&jwt, 0, sizeof(jwt));
    struct idp_error err = {0};
    arm(n);
    enum idp_status st = idp_jwt_decode(token, &jwt, &err);
    enum idp_status verified = st == IDP_OK ? idp_jwt_verify_rs256(&jwt, signing_key, &err) : st;
    disarm();
    check_error("jwt decode", n, verified, &err);
    if (st == IDP_OK) {
        json_t *expected = claims();
        if (!json_equal(jwt.payload, expected)) {
            char *got = json_dumps(jwt.payload, JSON_COMPACT);
            fail_msg("jwt decode: allocation %ld failing gave other claims: %s", n, got);
        }
        assert_string_equal(json_string_value(json_object_get(jwt.header, "kid")), "k1");
        json_decref(expected);
        /* A failed verification under memory pressure must not be a forgery
         * verdict on the next try. */
        assert_int_equal(idp_jwt_verify_rs256(&jwt, signing_key, &err), IDP_OK);
        idp_jwt_cleanup(&jwt);
    }
    return verified;
}

static void test_jwt(void **state)
{
    (void)state;
    sweep("jwt encode", attempt_encode, NULL);
    json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", "k1");
    json_t *payload_json = claims();
    struct idp_error err = {0};
    char *token = idp_jwt_encode(header, payload_json, IDP_JWT_RS256, signing_key, NULL, 0, &err);
    assert_non_null(token);
    sweep("jwt decode and verify", attempt_decode, token);
    free(token);
    json_decref(header);
    json_decref(payload_json);
}

/* --- settings -------------------------------------------------------------------------- */

static enum idp_status attempt_settings(long n, void *ctx)
{
    const json_t *obj = ctx;
    struct idp_settings s, defaults;
    idp_settings_defaults(&s);
    idp_settings_defaults(&defaults);
    struct idp_error err = {0};
    arm(n);
    enum idp_status st = idp_settings_apply(&s, obj, &err);
    disarm();
    check_error("settings", n, st, &err);
    if (st == IDP_OK) {
        assert_int_equal(s.access_ttl_ms, 60000);
        assert_int_equal(s.refresh_mode, IDP_REFRESH_STRICT);
        assert_string_equal(s.issuer_url, "https://auth.example.com");
        assert_false(s.refresh_cookie);
        assert_int_equal(s.max_sessions, 5);
    } else {
        assert_memory_equal(&s, &defaults, sizeof(s)); /* unchanged on failure */
    }
    return st;
}

static enum idp_status attempt_settings_json(long n, void *ctx)
{
    (void)ctx;
    struct idp_settings s;
    idp_settings_defaults(&s);
    json_t *whole = idp_settings_to_json(&s);
    assert_non_null(whole);
    size_t all = json_object_size(whole);
    json_decref(whole);
    arm(n);
    json_t *printed = idp_settings_to_json(&s);
    disarm();
    /* No error channel: a printout is complete or absent. */
    if (printed)
        assert_int_equal(json_object_size(printed), all);
    json_decref(printed);
    return printed ? IDP_OK : IDP_NOMEM;
}

static void test_settings(void **state)
{
    (void)state;
    json_t *obj = json_pack("{s:s, s:s, s:s, s:b, s:i, s:s}", "access_ttl", "1m", "refresh_mode",
                            "strict", "issuer_url", "https://auth.example.com", "refresh_cookie",
                            0, "max_sessions", 5, "refresh_grace", "0s");
    assert_non_null(obj);
    sweep("settings apply", attempt_settings, obj);
    sweep("settings print", attempt_settings_json, NULL);
    json_decref(obj);
}

/* --- scenario load ----------------------------------------------------------------------- */

struct scenario_case {
    const char *path;
    json_t *variants; /* {"name": doc} of an unhindered load */
};

static enum idp_status attempt_scenario(long n, void *ctx)
{
    struct scenario_case *c = ctx;
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    arm(n);
    struct hx_scenario *sc = hx_scenario_load(c->path, &err, NULL);
    disarm();
    enum idp_status st = sc ? IDP_OK : err.status;
    if (!sc && (st == IDP_OK || !err.message[0]))
        fail_msg("scenario %s: allocation %ld failing gave no scenario and no error "
                 "(status %s, \"%s\")", c->path, n, idp_status_text(err.status), err.message);
    if (sc) {
        assert_non_null(sc->name);
        assert_int_equal(sc->variant_count, json_object_size(c->variants));
        for (size_t i = 0; i < sc->variant_count; i++) {
            assert_non_null(sc->variants[i].name);
            const json_t *expected = json_object_get(c->variants, sc->variants[i].name);
            if (!json_equal(sc->variants[i].doc, expected))
                fail_msg("scenario %s: allocation %ld failing changed variant %s", c->path, n,
                         sc->variants[i].name);
        }
        hx_scenario_free(&sc);
    }
    return st;
}

static void test_scenario_load(void **state)
{
    (void)state;
    const char *files[] = {SCENARIO_DIR "/healthy-baseline.json",
                           SCENARIO_DIR "/f17-client-mismatch.json"};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        struct idp_error err;
        struct hx_scenario *sc = hx_scenario_load(files[f], &err, NULL);
        if (!sc)
            fail_msg("%s: %s", files[f], err.message);
        struct scenario_case c = {files[f], json_object()};
        for (size_t i = 0; i < sc->variant_count; i++)
            json_object_set(c.variants, sc->variants[i].name, sc->variants[i].doc);
        hx_scenario_free(&sc);
        sweep(files[f], attempt_scenario, &c);
        json_decref(c.variants);
    }
}

/* --- fault rules ---------------------------------------------------------------------------- */

static enum idp_status attempt_faults(long n, void *ctx)
{
    const json_t *rules = ctx;
    struct idp_faults faults;
    idp_faults_init(&faults);
    struct idp_error err = {0};
    arm(n);
    enum idp_status st = idp_faults_configure(&faults, rules, NOW, &err);
    disarm();
    check_error("faults", n, st, &err);
    json_t *listed = idp_faults_json(&faults);
    if (st == IDP_OK)
        assert_int_equal(json_array_size(json_object_get(listed, "faults")),
                         json_array_size(rules));
    json_decref(listed);
    idp_faults_cleanup(&faults);
    return st;
}

static void test_faults_configure(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *rules = json_loads(
        "[{\"route\":\"authenticate\",\"grant_type\":\"refresh_token\",\"status\":503,\"count\":1},"
        "{\"route\":\"jwks\",\"action\":\"latency\",\"delay\":\"200ms\",\"probability\":0.5},"
        "{\"route\":\"authenticate\",\"status\":429,\"retry_after\":\"2s\",\"phase\":\"after\","
        "\"between\":[\"1m\",\"5m\"]}]",
        0, &jerr);
    assert_non_null(rules);
    struct idp_faults probe;
    idp_faults_init(&probe);
    struct idp_error err = {0};
    enum idp_status st = idp_faults_configure(&probe, rules, NOW, &err);
    idp_faults_cleanup(&probe);
    if (st != IDP_OK)
        fail_msg("the fault rules of this test are invalid: %s", err.message);
    sweep("faults configure", attempt_faults, rules);
    json_decref(rules);
}

static int load_key(void **state)
{
    (void)state;
    struct idp_error err = {0};
    signing_key = idp_pem_load_or_generate(ALLOC_FAIL_KEY_PATH, &err);
    if (!signing_key) {
        print_error("signing key: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int free_key(void **state)
{
    (void)state;
    EVP_PKEY_free(signing_key);
    signing_key = NULL;
    return 0;
}

int main(void)
{
    /* Before anything allocates through them. */
    CRYPTO_set_mem_functions(ossl_alloc, ossl_realloc, ossl_free);
    json_set_alloc_funcs(json_alloc, json_release);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_configure),
        cmocka_unit_test(test_iron),
        cmocka_unit_test(test_jwt),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_scenario_load),
        cmocka_unit_test(test_faults_configure),
    };
    return cmocka_run_group_tests_name("allocation failures", tests, load_key, free_key);
}
