/* The identity provider's state (store.h): zero-config defaults, a full
 * configuration, rejection of unknown keys / wrong types / duplicates with a
 * path in the message, lookups, redirect-URI patterns, and the memory bounds
 * on codes, sessions and refresh tokens. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../assert_prefix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define NOW 1768478400000LL

static const char FULL_CONFIG[] =
    "{"
    " \"api_keys\": [\"sk_test_one\", \"sk_test_two\"],"
    " \"organizations\": [{\"id\": \"org_acme\", \"name\": \"Acme\"}],"
    " \"clients\": ["
    "  {\"id\": \"client_web\","
    "   \"redirect_uris\": [\"https://app.example.com/callback\", \"https://*.preview.example.com/cb\"],"
    "   \"allowed_origins\": [\"https://app.example.com\"],"
    "   \"logout_uris\": [\"https://app.example.com/bye\"],"
    "   \"claims\": {\"tier\": \"gold\"}},"
    "  {\"id\": \"client_cli\"}"
    " ],"
    " \"users\": ["
    "  {\"id\": \"user_alice\", \"email\": \"Alice@Example.com\", \"first_name\": \"Alice\","
    "   \"last_name\": \"Liddell\","
    "   \"memberships\": ["
    "    {\"organization_id\": \"org_acme\", \"role\": \"admin\", \"permissions\": [\"widgets:write\"]},"
    "    {\"organization_id\": \"org_beta\", \"roles\": [\"viewer\", \"billing\"]}"
    "   ]},"
    "  {\"email\": \"bob@example.com\"}"
    " ]"
    "}";

struct fixture {
    struct idp_store store;
    struct idp_random rng;
};

static int setup_empty(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    idp_store_init(&f->store);
    idp_random_init(&f->rng, 1234);
    *state = f;
    return 0;
}

static int setup_full(void **state)
{
    if (setup_empty(state))
        return -1;
    struct fixture *f = *state;
    json_t *config = json_loads(FULL_CONFIG, 0, NULL);
    struct idp_error err = {0};
    enum idp_status st = config ? idp_store_configure(&f->store, config, NOW, &err) : IDP_PARSE;
    json_decref(config);
    if (st != IDP_OK)
        fprintf(stderr, "FULL_CONFIG rejected: %s\n", err.message);
    return st == IDP_OK ? 0 : -1;
}

static int setup_default(void **state)
{
    if (setup_empty(state))
        return -1;
    struct fixture *f = *state;
    struct idp_error err = {0};
    return idp_store_configure(&f->store, NULL, NOW, &err) == IDP_OK ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    idp_store_cleanup(&f->store);
    idp_random_cleanup(&f->rng);
    free(f);
    return 0;
}

static enum idp_status configure_text(struct idp_store *store, const char *text,
                                      struct idp_error *err)
{
    json_error_t jerr;
    json_t *config = json_loads(text, 0, &jerr);
    if (!config)
        fail_msg("bad test JSON (%s): %s", jerr.text, text);
    enum idp_status st = idp_store_configure(store, config, NOW, err);
    json_decref(config);
    return st;
}

/* Configuring a fresh store with text must fail with a message starting with
 * the path `prefix`. */
static void expect_config_error(const char *text, const char *prefix)
{
    struct idp_store store;
    idp_store_init(&store);
    struct idp_error err = {0};
    enum idp_status st = configure_text(&store, text, &err);
    idp_store_cleanup(&store);
    if (st == IDP_OK)
        fail_msg("accepted: %s", text);
    if (strncmp(err.message, prefix, strlen(prefix)) != 0)
        fail_msg("message \"%s\" does not start with \"%s\"", err.message, prefix);
}

static json_t *field(const struct idp_user *u, const char *name)
{
    return json_object_get(u->object, name);
}

/* --- zero-config ------------------------------------------------------------ */

static void test_zero_config_has_one_api_key_client_and_user(void **state)
{
    struct fixture *f = *state;
    struct idp_store *s = &f->store;
    assert_int_equal(json_array_size(s->api_keys), 1);
    assert_true(idp_store_api_key_valid(s, json_string_value(json_array_get(s->api_keys, 0))));
    assert_int_equal(s->clients.count, 1);
    assert_non_null(idp_store_client(s, s->default_client));
    assert_int_equal(s->users.count, 1);
    struct idp_user *u = idp_store_default_user(s);
    assert_non_null(u);
    assert_non_null(strchr(json_string_value(field(u, "email")), '@'));
    assert_ptr_equal(idp_store_user(s, u->id), u);
}

static void test_empty_object_config_is_zero_config(void **state)
{
    (void)state;
    struct idp_store store;
    idp_store_init(&store);
    struct idp_error err = {0};
    assert_int_equal(configure_text(&store, "{}", &err), IDP_OK);
    assert_int_equal(store.clients.count, 1);
    assert_int_equal(store.users.count, 1);
    assert_int_equal(json_array_size(store.api_keys), 1);
    idp_store_cleanup(&store);
}

static void test_zero_config_client_allows_loopback_redirects_and_origins(void **state)
{
    struct fixture *f = *state;
    struct idp_client *c = idp_store_client(&f->store, f->store.default_client);
    assert_non_null(c);
    assert_true(idp_patterns_match(c->redirect_uris, "http://localhost:3000/callback"));
    assert_true(idp_patterns_match(c->redirect_uris, "http://127.0.0.1:8080/auth/callback"));
    assert_true(idp_patterns_match(c->allowed_origins, "http://localhost:5173"));
}

static void test_zero_config_client_refuses_non_loopback(void **state)
{
    struct fixture *f = *state;
    struct idp_client *c = idp_store_client(&f->store, f->store.default_client);
    assert_false(idp_patterns_match(c->redirect_uris, "https://evil.example.com/callback"));
    assert_false(idp_patterns_match(c->redirect_uris, "http://localhost.evil.com/callback"));
    assert_false(idp_patterns_match(c->redirect_uris, "http://10.0.0.1:3000/callback"));
    assert_false(idp_patterns_match(c->allowed_origins, "https://evil.example.com"));
    assert_false(idp_patterns_match(c->redirect_uris, NULL));
}

/* --- full configuration: positive ---------------------------------------------- */

static void test_full_config_api_keys_replace_the_default(void **state)
{
    struct fixture *f = *state;
    assert_true(idp_store_api_key_valid(&f->store, "sk_test_one"));
    assert_true(idp_store_api_key_valid(&f->store, "sk_test_two"));
    /* The zero-config key is not valid once keys are configured. */
    struct idp_store def;
    idp_store_init(&def);
    struct idp_error err = {0};
    assert_int_equal(idp_store_configure(&def, NULL, NOW, &err), IDP_OK);
    const char *default_key = json_string_value(json_array_get(def.api_keys, 0));
    assert_false(idp_store_api_key_valid(&f->store, default_key));
    idp_store_cleanup(&def);
}

static void test_full_config_clients(void **state)
{
    struct fixture *f = *state;
    struct idp_store *s = &f->store;
    assert_int_equal(s->clients.count, 2);
    assert_string_equal(s->default_client, "client_web"); /* the first one */
    struct idp_client *web = idp_store_client(s, "client_web");
    assert_non_null(web);
    assert_true(idp_patterns_match(web->redirect_uris, "https://app.example.com/callback"));
    assert_true(idp_patterns_match(web->redirect_uris, "https://pr-42.preview.example.com/cb"));
    assert_true(idp_patterns_match(web->allowed_origins, "https://app.example.com"));
    assert_true(idp_patterns_match(web->logout_uris, "https://app.example.com/bye"));
    assert_string_equal(json_string_value(json_object_get(web->claims, "tier")), "gold");
    /* Configured patterns replace the loopback defaults. */
    assert_false(idp_patterns_match(web->redirect_uris, "http://localhost:3000/callback"));
    /* A client without redirect_uris gets the loopback defaults. */
    struct idp_client *cli = idp_store_client(s, "client_cli");
    assert_non_null(cli);
    assert_true(idp_patterns_match(cli->redirect_uris, "http://localhost:9000/cb"));
}

static void test_full_config_users(void **state)
{
    struct fixture *f = *state;
    struct idp_store *s = &f->store;
    assert_int_equal(s->users.count, 2);
    struct idp_user *alice = idp_store_user(s, "user_alice");
    assert_non_null(alice);
    assert_ptr_equal(idp_store_default_user(s), alice);
    assert_string_equal(json_string_value(field(alice, "id")), "user_alice");
    assert_string_equal(json_string_value(field(alice, "object")), "user");
    assert_string_equal(json_string_value(field(alice, "first_name")), "Alice");
    assert_string_equal(json_string_value(field(alice, "last_name")), "Liddell");
    assert_int_equal(alice->membership_count, 2);
    struct idp_user *bob = idp_store_user_by_email(s, "bob@example.com");
    assert_non_null(bob);
    assert_string_not_equal(bob->id, "");
    assert_ptr_equal(idp_store_user(s, bob->id), bob);
    assert_int_equal(bob->membership_count, 0);
}

static void test_full_config_memberships_and_organizations(void **state)
{
    struct fixture *f = *state;
    struct idp_user *alice = idp_store_user(&f->store, "user_alice");
    const struct idp_membership *acme = &alice->memberships[0];
    assert_string_equal(acme->org_id, "org_acme");
    assert_string_equal(json_string_value(json_object_get(acme->fields, "role")), "admin");
    json_t *perms = json_object_get(acme->fields, "permissions");
    assert_int_equal(json_array_size(perms), 1);
    assert_string_equal(json_string_value(json_array_get(perms, 0)), "widgets:write");
    const struct idp_membership *beta = &alice->memberships[1];
    json_t *roles = json_object_get(beta->fields, "roles");
    assert_int_equal(json_array_size(roles), 2);
    assert_string_equal(json_string_value(json_array_get(roles, 1)), "billing");
    /* Configured organization keeps its name; one named only by a membership
     * exists too. */
    json_t *org = json_object_get(f->store.organizations, "org_acme");
    assert_string_equal(json_string_value(json_object_get(org, "name")), "Acme");
    assert_non_null(json_object_get(f->store.organizations, "org_beta"));
}

static void test_user_lookup_by_email_is_case_insensitive(void **state)
{
    struct fixture *f = *state;
    struct idp_user *alice = idp_store_user(&f->store, "user_alice");
    assert_ptr_equal(idp_store_user_by_email(&f->store, "Alice@Example.com"), alice);
    assert_ptr_equal(idp_store_user_by_email(&f->store, "alice@example.com"), alice);
    assert_ptr_equal(idp_store_user_by_email(&f->store, "ALICE@EXAMPLE.COM"), alice);
    struct idp_user *bob = idp_store_user_by_email(&f->store, "BoB@Example.COM");
    assert_non_null(bob);
    assert_ptr_not_equal(bob, alice);
}

static void test_membership_selection(void **state)
{
    struct fixture *f = *state;
    struct idp_user *alice = idp_store_user(&f->store, "user_alice");
    assert_string_equal(idp_user_membership(alice, NULL)->org_id, "org_acme");
    assert_string_equal(idp_user_membership(alice, "")->org_id, "org_acme");
    assert_string_equal(idp_user_membership(alice, "org_acme")->org_id, "org_acme");
    assert_string_equal(idp_user_membership(alice, "org_beta")->org_id, "org_beta");
}

static void test_user_ids_derived_from_email_are_stable(void **state)
{
    struct fixture *f = *state;
    struct idp_user *bob = idp_store_user_by_email(&f->store, "bob@example.com");
    struct idp_store other;
    idp_store_init(&other);
    struct idp_error err = {0};
    assert_int_equal(configure_text(&other, FULL_CONFIG, &err), IDP_OK);
    struct idp_user *bob2 = idp_store_user_by_email(&other, "bob@example.com");
    assert_non_null(bob2);
    assert_string_equal(bob->id, bob2->id);
    idp_store_cleanup(&other);
}

static void test_add_user_after_configuration(void **state)
{
    struct fixture *f = *state;
    json_t *spec = json_pack("{s:s, s:[{s:s}]}", "email", "carol@example.com", "memberships",
                             "organization_id", "org_acme");
    struct idp_error err = {0};
    assert_int_equal(idp_store_add_user(&f->store, spec, NOW, &err), IDP_OK);
    json_decref(spec);
    struct idp_user *carol = idp_store_user_by_email(&f->store, "carol@example.com");
    assert_non_null(carol);
    assert_string_equal(idp_user_membership(carol, NULL)->org_id, "org_acme");
    /* The default user does not change. */
    assert_string_equal(idp_store_default_user(&f->store)->id, "user_alice");
}

/* --- configuration: negative ------------------------------------------------------- */

static void test_unknown_keys_are_rejected_with_their_path(void **state)
{
    (void)state;
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"nickname\":\"al\"}]}",
                        "users[0]: unknown key \"nickname\"");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\","
                        " \"memberships\":[{\"organization_id\":\"org_1\",\"rank\":1}]}]}",
                        "users[0].memberships[0]: unknown key \"rank\"");
    expect_config_error("{\"clients\":[{\"id\":\"c1\"},{\"id\":\"c2\",\"secret\":\"s\"}]}",
                        "clients[1]: unknown key \"secret\"");
    expect_config_error("{\"organizations\":[{\"id\":\"org_1\",\"domain\":\"x.com\"}]}",
                        "organizations[0]: unknown key \"domain\"");
}

static void test_nested_paths_carry_both_indexes(void **state)
{
    (void)state;
    expect_config_error("{\"users\":["
                        " {\"email\":\"a@x.com\"},"
                        " {\"email\":\"b@x.com\", \"memberships\":["
                        "   {\"organization_id\":\"org_1\"},"
                        "   {\"organization_id\":\"org_2\", \"roles\":\"admin\"}]}]}",
                        "users[1].memberships[1].roles: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\","
                        " \"memberships\":[{\"organization_id\":\"org_1\",\"role\":5}]}]}",
                        "users[0].memberships[0].role: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\","
                        " \"memberships\":[{\"organization_id\":\"org_1\",\"permissions\":[1]}]}]}",
                        "users[0].memberships[0].permissions: ");
}

static void test_membership_without_organization_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"memberships\":[{\"role\":\"admin\"}]}]}",
                        "users[0].memberships[0]");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\","
                        " \"memberships\":[{\"organization_id\":\"\"}]}]}",
                        "users[0].memberships[0]");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"memberships\":[\"org_1\"]}]}",
                        "users[0].memberships[0]: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"memberships\":{}}]}",
                        "users[0].memberships: ");
}

static void test_bad_user_fields_are_rejected_with_their_path(void **state)
{
    (void)state;
    expect_config_error("{\"users\":[{\"first_name\":\"No Email\"}]}", "users[0].email: ");
    expect_config_error("{\"users\":[{\"email\":\"not-an-address\"}]}", "users[0].email: ");
    expect_config_error("{\"users\":[{\"email\":5}]}", "users[0].email: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"first_name\":5}]}",
                        "users[0].first_name: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"step_up\":true}]}",
                        "users[0].step_up: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"claims\":[]}]}", "users[0]");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"impersonator\":\"x\"}]}",
                        "users[0]");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\",\"id\":\"\"}]}", "users[0].id: ");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\","
                        " \"id\":\"user_012345678901234567890123456789012345678901234567890123456789\"}]}",
                        "users[0].id: ");
    expect_config_error("{\"users\":[\"a@x.com\"]}", "users[0]: ");
}

static void test_bad_client_fields_are_rejected_with_their_path(void **state)
{
    (void)state;
    expect_config_error("{\"clients\":[{\"id\":\"c1\"},{\"id\":\"c2\","
                        " \"redirect_uris\":\"https://x/cb\"}]}",
                        "clients[1].redirect_uris: ");
    expect_config_error("{\"clients\":[{\"allowed_origins\":[1]}]}",
                        "clients[0].allowed_origins: ");
    expect_config_error("{\"clients\":[{\"claims\":[]}]}", "clients[0].claims: ");
    expect_config_error("{\"clients\":[{\"id\":\"\"}]}", "clients[0].id: ");
    expect_config_error("{\"clients\":[{\"id\":7}]}", "clients[0].id: ");
    expect_config_error("{\"clients\":[\"client_1\"]}", "clients[0]: ");
}

static void test_bad_top_level_types_are_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"api_keys\":\"sk_test_x\"}", "api_keys: ");
    expect_config_error("{\"api_keys\":[\"sk_test_x\", 5]}", "api_keys: ");
    expect_config_error("{\"clients\":{}}", "clients: ");
    expect_config_error("{\"users\":{\"email\":\"a@x.com\"}}", "users: ");
    expect_config_error("{\"organizations\":{}}", "organizations: ");
    expect_config_error("{\"organizations\":[{\"name\":\"No id\"}]}", "organizations[0].id: ");
    expect_config_error("{\"organizations\":[5]}", "organizations[0]: ");
}

static void test_duplicate_ids_are_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"clients\":[{\"id\":\"c1\"},{\"id\":\"c1\"}]}", "clients[1].id: ");
    expect_config_error("{\"users\":[{\"id\":\"user_1\",\"email\":\"a@x.com\"},"
                        " {\"id\":\"user_1\",\"email\":\"b@x.com\"}]}",
                        "users[1]");
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\"},{\"email\":\"a@x.com\"}]}",
                        "users[1]");
}

static void test_add_user_rejects_a_duplicate_at_runtime(void **state)
{
    struct fixture *f = *state;
    json_t *spec = json_pack("{s:s, s:s}", "id", "user_alice", "email", "other@example.com");
    struct idp_error err = {0};
    assert_int_not_equal(idp_store_add_user(&f->store, spec, NOW, &err), IDP_OK);
    json_decref(spec);
    assert_int_equal(f->store.users.count, 2);
    assert_null(idp_store_user_by_email(&f->store, "other@example.com"));
}

/* --- lookups: negative --------------------------------------------------------------- */

static void test_unknown_lookups_return_null(void **state)
{
    struct fixture *f = *state;
    struct idp_store *s = &f->store;
    assert_null(idp_store_client(s, "client_nope"));
    assert_null(idp_store_client(s, NULL));
    assert_null(idp_store_client(s, "CLIENT_WEB"));
    assert_null(idp_store_user(s, "user_nope"));
    assert_null(idp_store_user(s, NULL));
    assert_null(idp_store_user_by_email(s, "carol@example.com"));
    assert_null(idp_store_user_by_email(s, "alice@example.co"));
    assert_null(idp_store_user_by_email(s, "alice@example.com "));
    assert_null(idp_store_user_by_email(s, NULL));
}

static void test_invalid_api_keys_are_refused(void **state)
{
    struct fixture *f = *state;
    assert_false(idp_store_api_key_valid(&f->store, NULL));
    assert_false(idp_store_api_key_valid(&f->store, ""));
    assert_false(idp_store_api_key_valid(&f->store, "sk_test_on"));
    assert_false(idp_store_api_key_valid(&f->store, "sk_test_one "));
    assert_false(idp_store_api_key_valid(&f->store, "SK_TEST_ONE"));
}

static void test_membership_of_other_org_or_memberless_user_is_null(void **state)
{
    struct fixture *f = *state;
    struct idp_user *alice = idp_store_user(&f->store, "user_alice");
    assert_null(idp_user_membership(alice, "org_other"));
    assert_null(idp_user_membership(alice, "ORG_ACME"));
    struct idp_user *bob = idp_store_user_by_email(&f->store, "bob@example.com");
    assert_null(idp_user_membership(bob, NULL));
    assert_null(idp_user_membership(bob, "org_acme"));
}

/* --- patterns ------------------------------------------------------------------------- */

static void test_pattern_wildcards_match(void **state)
{
    (void)state;
    const char *yes[][2] = {
        {"", ""},
        {"abc", "abc"},
        {"*", ""},
        {"*", "anything/at:all?x=1"},
        {"**", "x"},
        {"a*", "a"},
        {"*a", "a"},
        {"a*b", "ab"},
        {"a*b", "aXYZb"},
        {"a*b*c", "a-b-b-c"},
        {"*ab", "aab"},          /* needs backtracking */
        {"a*ab", "aaab"},
        {"*.example.com", "a.b.example.com"},
        {"http://localhost:*", "http://localhost:3000/callback?x=1"},
        {"https://*/cb", "https://host/path/cb"}, /* '*' spans '/' */
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!idp_pattern_match(yes[i][0], yes[i][1]))
            fail_msg("\"%s\" should match \"%s\"", yes[i][0], yes[i][1]);
}

static void test_pattern_non_matches(void **state)
{
    (void)state;
    const char *no[][2] = {
        {"", "a"},
        {"abc", "ab"},
        {"abc", "abcd"},
        {"abc", "ABC"},            /* case-sensitive */
        {"a*", ""},
        {"a*a", "a"},              /* both a's are needed */
        {"ab*", "a"},
        {"a*b", "aXbc"},
        {"*b", "abc"},
        {"a?c", "abc"},            /* only '*' is special */
        {"*.example.com", "evil.com"},
        {"*.example.com", "example.com.evil.com"},
        {"https://app.example.com/callback", "https://app.example.com/callback/../x"},
        {"http://localhost:*", "http://localhost/callback"},
        {"http://localhost:*", "https://localhost:3000/cb"},
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (idp_pattern_match(no[i][0], no[i][1]))
            fail_msg("\"%s\" should not match \"%s\"", no[i][0], no[i][1]);
}

static void test_patterns_match_any_of_a_list(void **state)
{
    (void)state;
    json_t *list = json_pack("[s, s]", "https://a.example/cb", "https://b.example/*");
    assert_true(idp_patterns_match(list, "https://a.example/cb"));
    assert_true(idp_patterns_match(list, "https://b.example/anything"));
    assert_false(idp_patterns_match(list, "https://c.example/cb"));
    assert_false(idp_patterns_match(list, NULL));
    json_t *empty = json_array();
    assert_false(idp_patterns_match(empty, "https://a.example/cb"));
    json_decref(list);
    json_decref(empty);
}

/* --- tickets and the outbox ------------------------------------------------------------- */

static void test_tickets_are_found_by_kind_and_expire(void **state)
{
    struct fixture *f = *state;
    struct idp_ticket *magic = idp_store_ticket_new(&f->store, &f->rng, IDP_TICKET_MAGIC_AUTH,
                                                    "magic_auth_", NOW, 1000);
    assert_non_null(magic);
    assert_string_prefix(magic->id, "magic_auth_01");
    assert_int_equal(strlen(magic->code), 6);
    char id[IDP_ID_SIZE];
    snprintf(id, sizeof(id), "%s", magic->id);
    assert_ptr_equal(idp_store_ticket(&f->store, IDP_TICKET_MAGIC_AUTH, id, NOW + 999), magic);
    /* another kind with the same id is not found */
    assert_null(idp_store_ticket(&f->store, IDP_TICKET_PENDING, id, NOW));
    /* expired: forgotten */
    assert_null(idp_store_ticket(&f->store, IDP_TICKET_MAGIC_AUTH, id, NOW + 1000));
    assert_null(idp_store_ticket(&f->store, IDP_TICKET_MAGIC_AUTH, id, NOW));
    struct idp_ticket *pending = idp_store_ticket_new(&f->store, &f->rng, IDP_TICKET_PENDING, "",
                                                      NOW, 1000);
    assert_int_equal(strlen(pending->id), 25);
    assert_string_equal(pending->code, "");
    assert_null(idp_store_ticket(&f->store, IDP_TICKET_PENDING, NULL, NOW));
}

static void test_tickets_are_bounded_oldest_first(void **state)
{
    struct fixture *f = *state;
    struct idp_ticket *first = idp_store_ticket_new(&f->store, &f->rng, IDP_TICKET_PENDING, "",
                                                    NOW, 3600000);
    char id[IDP_ID_SIZE];
    snprintf(id, sizeof(id), "%s", first->id);
    for (int i = 1; i < IDP_MAX_TICKETS; i++)
        assert_non_null(idp_store_ticket_new(&f->store, &f->rng, IDP_TICKET_PENDING, "", NOW,
                                             3600000));
    assert_non_null(idp_store_ticket(&f->store, IDP_TICKET_PENDING, id, NOW));
    assert_non_null(idp_store_ticket_new(&f->store, &f->rng, IDP_TICKET_PENDING, "", NOW,
                                         3600000));
    assert_int_equal(f->store.tickets.count, IDP_MAX_TICKETS);
    assert_null(idp_store_ticket(&f->store, IDP_TICKET_PENDING, id, NOW));
}

static void test_outbox_keeps_the_newest_and_forget_activity_empties_it(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < IDP_OUTBOX_SIZE + 5; i++)
        idp_store_outbox_add(&f->store, &f->rng, NOW, json_pack("{s:i}", "n", i));
    assert_int_equal(json_array_size(f->store.outbox), IDP_OUTBOX_SIZE);
    json_t *oldest = json_array_get(f->store.outbox, 0);
    assert_int_equal(json_integer_value(json_object_get(oldest, "n")), 5);
    assert_string_equal(json_string_value(json_object_get(oldest, "object")), "email");
    idp_store_outbox_add(&f->store, &f->rng, NOW, NULL); /* out of memory upstream: ignored */
    idp_store_forget_activity(&f->store);
    assert_int_equal(json_array_size(f->store.outbox), 0);
    assert_int_equal(f->store.tickets.count, 0);
}

/* --- codes ------------------------------------------------------------------------------ */

static void test_new_code_can_be_found_and_deleted(void **state)
{
    struct fixture *f = *state;
    struct idp_code *code = idp_store_code_new(&f->store, &f->rng, NOW, 600000);
    assert_non_null(code);
    assert_true(strlen(code->code) >= 16);
    assert_int_equal(code->expires_ms, NOW + 600000);
    assert_ptr_equal(idp_store_code(&f->store, code->code), code);
    char copy[IDP_ID_SIZE];
    snprintf(copy, sizeof(copy), "%s", code->code);
    idp_store_code_delete(&f->store, code);
    assert_null(idp_store_code(&f->store, copy));
}

static void test_unknown_codes_are_null(void **state)
{
    struct fixture *f = *state;
    struct idp_code *code = idp_store_code_new(&f->store, &f->rng, NOW, 600000);
    assert_null(idp_store_code(&f->store, NULL));
    assert_null(idp_store_code(&f->store, ""));
    assert_null(idp_store_code(&f->store, "not-a-code"));
    char longer[IDP_ID_SIZE + 2];
    snprintf(longer, sizeof(longer), "%sX", code->code); /* a real code plus one char */
    assert_null(idp_store_code(&f->store, longer));
}

static void test_codes_are_evicted_oldest_first_past_the_limit(void **state)
{
    struct fixture *f = *state;
    char first[IDP_ID_SIZE], second[IDP_ID_SIZE];
    for (int i = 0; i < IDP_MAX_CODES; i++) {
        struct idp_code *c = idp_store_code_new(&f->store, &f->rng, NOW + i, 3600000);
        assert_non_null(c);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", c->code);
        if (i == 1)
            snprintf(second, sizeof(second), "%s", c->code);
    }
    assert_int_equal(f->store.codes.count, IDP_MAX_CODES);
    assert_non_null(idp_store_code(&f->store, first));
    struct idp_code *newest = idp_store_code_new(&f->store, &f->rng, NOW + IDP_MAX_CODES, 3600000);
    assert_non_null(newest);
    assert_int_equal(f->store.codes.count, IDP_MAX_CODES);
    assert_null(idp_store_code(&f->store, first));
    assert_non_null(idp_store_code(&f->store, second));
    assert_ptr_equal(idp_store_code(&f->store, newest->code), newest);
}

static void test_expired_codes_are_dropped_and_live_ones_kept(void **state)
{
    struct fixture *f = *state;
    struct idp_code *a = idp_store_code_new(&f->store, &f->rng, NOW, 1000);
    char a_code[IDP_ID_SIZE];
    snprintf(a_code, sizeof(a_code), "%s", a->code);
    /* Not yet expired: a new code leaves it alone. */
    assert_non_null(idp_store_code_new(&f->store, &f->rng, NOW + 999, 1000));
    assert_non_null(idp_store_code(&f->store, a_code));
    /* Past its expiry it is gone once the store makes another code. */
    assert_non_null(idp_store_code_new(&f->store, &f->rng, NOW + 1001, 1000000));
    assert_null(idp_store_code(&f->store, a_code));
}

/* --- sessions and refresh tokens -------------------------------------------------------- */

static void test_new_session_is_findable_and_listed_newest_first(void **state)
{
    struct fixture *f = *state;
    struct idp_session *a = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    snprintf(a->user_id, sizeof(a->user_id), "user_alice");
    struct idp_session *b = idp_store_session_new(&f->store, &f->rng, NOW + 1, 100);
    snprintf(b->user_id, sizeof(b->user_id), "user_bob");
    assert_int_equal(strncmp(a->id, "session_", 8), 0);
    assert_int_equal(strlen(a->id), 8 + 26);
    assert_string_not_equal(a->id, b->id);
    assert_ptr_equal(idp_store_session(&f->store, a->id), a);
    assert_int_equal(a->created_ms, NOW);

    json_t *all = idp_store_sessions_json(&f->store, NULL);
    json_t *data = json_object_get(all, "data");
    assert_int_equal(json_array_size(data), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "id")), b->id);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 1), "id")), a->id);
    json_decref(all);

    json_t *mine = idp_store_sessions_json(&f->store, "user_alice");
    data = json_object_get(mine, "data");
    assert_int_equal(json_array_size(data), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(data, 0), "id")), a->id);
    json_decref(mine);
}

static void test_sessions_are_evicted_oldest_first_past_max_sessions(void **state)
{
    struct fixture *f = *state;
    char ids[5][IDP_ID_SIZE];
    char first_token[IDP_ID_SIZE];
    for (int i = 0; i < 5; i++) {
        struct idp_session *s = idp_store_session_new(&f->store, &f->rng, NOW + i, 3);
        assert_non_null(s);
        snprintf(ids[i], sizeof(ids[i]), "%s", s->id);
        struct idp_refresh *r = idp_store_refresh_new(&f->store, s, &f->rng, NOW + i);
        assert_non_null(r);
        if (i == 0)
            snprintf(first_token, sizeof(first_token), "%s", r->token);
    }
    assert_int_equal(f->store.sessions.count, 3);
    assert_null(idp_store_session(&f->store, ids[0]));
    assert_null(idp_store_session(&f->store, ids[1]));
    for (int i = 2; i < 5; i++)
        assert_non_null(idp_store_session(&f->store, ids[i]));
    /* The evicted session's refresh tokens went with it. */
    assert_null(idp_store_refresh(&f->store, first_token));
    assert_int_equal(f->store.refresh.count, 3);
}

static void test_refresh_token_belongs_to_its_session(void **state)
{
    struct fixture *f = *state;
    struct idp_session *s = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    snprintf(s->org_id, sizeof(s->org_id), "org_acme");
    struct idp_refresh *r = idp_store_refresh_new(&f->store, s, &f->rng, NOW + 5);
    assert_non_null(r);
    assert_ptr_equal(idp_store_refresh(&f->store, r->token), r);
    assert_string_equal(r->session_id, s->id);
    assert_string_equal(r->org_id, "org_acme");
    assert_int_equal(r->state, IDP_RT_ACTIVE);
    assert_int_equal(r->issued_ms, NOW + 5);
    assert_int_equal(s->token_count, 1);
    assert_ptr_equal(s->tokens[0], r);
}

static void test_session_keeps_only_its_last_tokens(void **state)
{
    struct fixture *f = *state;
    struct idp_session *s = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    char tokens[IDP_SESSION_TOKENS + 3][IDP_ID_SIZE];
    for (int i = 0; i < IDP_SESSION_TOKENS + 3; i++) {
        struct idp_refresh *r = idp_store_refresh_new(&f->store, s, &f->rng, NOW + i);
        assert_non_null(r);
        snprintf(tokens[i], sizeof(tokens[i]), "%s", r->token);
    }
    assert_int_equal(s->token_count, IDP_SESSION_TOKENS);
    /* The three oldest are unknown now; the last IDP_SESSION_TOKENS remain,
     * oldest first. */
    for (int i = 0; i < 3; i++)
        assert_null(idp_store_refresh(&f->store, tokens[i]));
    for (int i = 3; i < IDP_SESSION_TOKENS + 3; i++) {
        struct idp_refresh *r = idp_store_refresh(&f->store, tokens[i]);
        assert_non_null(r);
        assert_ptr_equal(s->tokens[i - 3], r);
    }
    assert_int_equal(f->store.refresh.count, IDP_SESSION_TOKENS);
}

static void test_token_limit_is_per_session(void **state)
{
    struct fixture *f = *state;
    struct idp_session *a = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    struct idp_session *b = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    struct idp_refresh *first_b = idp_store_refresh_new(&f->store, b, &f->rng, NOW);
    char b_token[IDP_ID_SIZE];
    snprintf(b_token, sizeof(b_token), "%s", first_b->token);
    for (int i = 0; i < IDP_SESSION_TOKENS * 2; i++)
        idp_store_refresh_new(&f->store, a, &f->rng, NOW + i);
    /* a's churn does not push out b's only token. */
    assert_non_null(idp_store_refresh(&f->store, b_token));
    assert_int_equal(b->token_count, 1);
}

static void test_unknown_sessions_and_tokens_are_null(void **state)
{
    struct fixture *f = *state;
    struct idp_session *s = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    idp_store_refresh_new(&f->store, s, &f->rng, NOW);
    assert_null(idp_store_session(&f->store, NULL));
    assert_null(idp_store_session(&f->store, "session_01NOPE"));
    assert_null(idp_store_refresh(&f->store, NULL));
    assert_null(idp_store_refresh(&f->store, ""));
    assert_null(idp_store_refresh(&f->store, s->id)); /* a session id is not a token */
}

static void test_ended_session_reports_inactive(void **state)
{
    struct fixture *f = *state;
    struct idp_session *s = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    json_t *before = idp_session_json(s);
    assert_string_equal(json_string_value(json_object_get(before, "status")), "active");
    json_decref(before);
    idp_store_session_end(s, NOW + 1000, "logout");
    json_t *after = idp_session_json(s);
    assert_string_equal(json_string_value(json_object_get(after, "status")), "inactive");
    assert_string_equal(json_string_value(json_object_get(after, "end_reason")), "logout");
    json_decref(after);
}

static void test_forget_activity_keeps_configuration(void **state)
{
    struct fixture *f = *state;
    struct idp_code *c = idp_store_code_new(&f->store, &f->rng, NOW, 600000);
    char code[IDP_ID_SIZE], sid[IDP_ID_SIZE], token[IDP_ID_SIZE];
    snprintf(code, sizeof(code), "%s", c->code);
    struct idp_session *s = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    snprintf(sid, sizeof(sid), "%s", s->id);
    snprintf(token, sizeof(token), "%s", idp_store_refresh_new(&f->store, s, &f->rng, NOW)->token);
    idp_store_forget_activity(&f->store);
    assert_null(idp_store_code(&f->store, code));
    assert_null(idp_store_session(&f->store, sid));
    assert_null(idp_store_refresh(&f->store, token));
    json_t *all = idp_store_sessions_json(&f->store, NULL);
    assert_int_equal(json_array_size(json_object_get(all, "data")), 0);
    json_decref(all);
    assert_non_null(idp_store_client(&f->store, "client_web"));
    assert_non_null(idp_store_user(&f->store, "user_alice"));
    assert_true(idp_store_api_key_valid(&f->store, "sk_test_one"));
    /* The store still works afterwards. */
    assert_non_null(idp_store_session_new(&f->store, &f->rng, NOW, 100));
}

/* --- bugs --------------------------------------------------------------------------------- */

/* Regression (was a bug, now fixed): store.c idp_store_add_user checks duplicate emails with an exact,
 * case-sensitive map lookup, while idp_store_user_by_email is
 * case-insensitive. {"users":[{"email":"dana@example.com"},
 * {"email":"Dana@Example.com"}]} is accepted (IDP_OK); a sign-in as
 * "DANA@EXAMPLE.COM" then resolves to whichever user the hash iteration meets
 * first. Expected: IDP_INVALID "users[1]: ... is defined twice", as for the
 * exact duplicate. */
static void test_duplicate_email_differing_only_in_case_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"users\":[{\"email\":\"dana@example.com\"},"
                        " {\"email\":\"Dana@Example.com\"}]}",
                        "users[1]");
}

/* Regression (was a bug, now fixed): store.c idp_store_configure does not check organization ids for
 * duplicates (clients and users are checked): {"organizations":[{"id":"org_1",
 * "name":"One"},{"id":"org_1","name":"Other"}]} is accepted and the second
 * silently replaces the first. Expected: IDP_INVALID naming
 * "organizations[1].id". */
static void test_duplicate_organization_id_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"organizations\":[{\"id\":\"org_1\",\"name\":\"One\"},"
                        " {\"id\":\"org_1\",\"name\":\"Other\"}]}",
                        "organizations[1].id");
}

/* Regression (was a bug, now fixed): store.c parse_membership / idp_store_add_user accept two memberships
 * of one user in the same organization; idp_user_membership only ever finds
 * the first, so the second (here role "admin") is dead configuration.
 * Expected: IDP_INVALID naming "users[0].memberships[1]". */
static void test_duplicate_membership_organization_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"users\":[{\"email\":\"a@x.com\", \"memberships\":["
                        " {\"organization_id\":\"org_1\"},"
                        " {\"organization_id\":\"org_1\",\"role\":\"admin\"}]}]}",
                        "users[0].memberships[1]");
}

/* Regression (was a bug, now fixed): store.h promises idp_store_configure "Fails on unknown keys or wrong
 * types, naming the path", but store.c user_object copies these user fields
 * without any type check, so each of the configurations below is accepted
 * with IDP_OK (email_verified "yes" silently becomes false, metadata "x" is
 * returned as the user's metadata, ...). Expected: IDP_INVALID with a message
 * starting "users[0].<field>". */
static void test_wrong_types_of_optional_user_fields_are_rejected(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"{\"users\":[{\"email\":\"a@x.com\",\"email_verified\":\"yes\"}]}",
         "users[0].email_verified"},
        {"{\"users\":[{\"email\":\"a@x.com\",\"metadata\":\"x\"}]}", "users[0].metadata"},
        {"{\"users\":[{\"email\":\"a@x.com\",\"locale\":42}]}", "users[0].locale"},
        {"{\"users\":[{\"email\":\"a@x.com\",\"profile_picture_url\":[\"u\"]}]}",
         "users[0].profile_picture_url"},
        {"{\"users\":[{\"email\":\"a@x.com\",\"external_id\":{}}]}", "users[0].external_id"},
    };
    char accepted[512] = "";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct idp_store store;
        idp_store_init(&store);
        struct idp_error err = {0};
        enum idp_status st = configure_text(&store, cases[i][0], &err);
        idp_store_cleanup(&store);
        if (st == IDP_OK || strncmp(err.message, cases[i][1], strlen(cases[i][1])) != 0)
            snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted), " %s",
                     cases[i][1]);
    }
    if (accepted[0])
        fail_msg("wrong types not rejected for:%s", accepted);
}

/* Regression (was a bug, now fixed): store.c idp_store_configure reads organizations[].name with
 * json_string_value and falls back to the id when it is not a string, so
 * {"organizations":[{"id":"org_1","name":42}]} is accepted (IDP_OK) and the
 * organization is named "org_1". Expected: IDP_INVALID naming
 * "organizations[0].name" (store.h: wrong types fail, naming the path). */
static void test_wrong_type_of_organization_name_is_rejected(void **state)
{
    (void)state;
    expect_config_error("{\"organizations\":[{\"id\":\"org_1\",\"name\":42}]}",
                        "organizations[0].name");
}

/* Cached replies leave after their grace window, in any session (not only
 * the one refreshing), oldest first; a reply still in flight stays, and an
 * evicted token takes its reply out of the list. */
static void test_replies_past_the_grace_are_forgotten_in_every_session(void **state)
{
    struct fixture *f = *state;
    struct idp_session *a = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    struct idp_session *b = idp_store_session_new(&f->store, &f->rng, NOW, 100);
    struct idp_refresh *ra = idp_store_refresh_new(&f->store, a, &f->rng, NOW);
    struct idp_refresh *rb = idp_store_refresh_new(&f->store, b, &f->rng, NOW);
    struct idp_refresh *rc = idp_store_refresh_new(&f->store, b, &f->rng, NOW);
    ra->state = rb->state = IDP_RT_ROTATED;
    rc->state = IDP_RT_PENDING; /* in flight */
    ra->rotated_ms = NOW;
    rb->rotated_ms = NOW + 10000;
    rc->rotated_ms = NOW + 10000;
    idp_store_reply_set(&f->store, ra, strdup("{\"a\":1}"));
    idp_store_reply_set(&f->store, rb, strdup("{\"b\":1}"));
    idp_store_reply_set(&f->store, rc, strdup("{\"c\":1}"));
    idp_store_forget_replies(&f->store, NOW + 30000, 30000); /* nothing is past 30 s yet */
    assert_non_null(ra->cached_body);
    idp_store_forget_replies(&f->store, NOW + 30001, 30000);
    assert_null(ra->cached_body);
    assert_non_null(rb->cached_body);
    idp_store_forget_replies(&f->store, NOW + 60000, 30000);
    assert_null(rb->cached_body);
    assert_non_null(rc->cached_body); /* still pending */
    rc->state = IDP_RT_ROTATED;
    /* Replacing a reply moves it to the newest end; eviction unlinks it. */
    idp_store_reply_set(&f->store, rc, strdup("{\"c\":2}"));
    for (int i = 0; i < IDP_SESSION_TOKENS; i++)
        assert_non_null(idp_store_refresh_new(&f->store, b, &f->rng, NOW + 60000));
    assert_null(f->store.replies_oldest); /* rb and rc were evicted from b's ring */
    assert_null(f->store.replies_newest);
}

int main(void)
{
#define EMPTY(f) cmocka_unit_test_setup_teardown(f, setup_empty, teardown)
#define DEFAULT(f) cmocka_unit_test_setup_teardown(f, setup_default, teardown)
#define FULL(f) cmocka_unit_test_setup_teardown(f, setup_full, teardown)
    const struct CMUnitTest tests[] = {
        DEFAULT(test_zero_config_has_one_api_key_client_and_user),
        cmocka_unit_test(test_empty_object_config_is_zero_config),
        DEFAULT(test_zero_config_client_allows_loopback_redirects_and_origins),
        DEFAULT(test_zero_config_client_refuses_non_loopback),
        FULL(test_full_config_api_keys_replace_the_default),
        FULL(test_full_config_clients),
        FULL(test_full_config_users),
        FULL(test_full_config_memberships_and_organizations),
        FULL(test_user_lookup_by_email_is_case_insensitive),
        FULL(test_membership_selection),
        FULL(test_user_ids_derived_from_email_are_stable),
        FULL(test_add_user_after_configuration),
        cmocka_unit_test(test_unknown_keys_are_rejected_with_their_path),
        cmocka_unit_test(test_nested_paths_carry_both_indexes),
        cmocka_unit_test(test_membership_without_organization_is_rejected),
        cmocka_unit_test(test_bad_user_fields_are_rejected_with_their_path),
        cmocka_unit_test(test_bad_client_fields_are_rejected_with_their_path),
        cmocka_unit_test(test_bad_top_level_types_are_rejected),
        cmocka_unit_test(test_duplicate_ids_are_rejected),
        FULL(test_add_user_rejects_a_duplicate_at_runtime),
        FULL(test_unknown_lookups_return_null),
        FULL(test_invalid_api_keys_are_refused),
        FULL(test_membership_of_other_org_or_memberless_user_is_null),
        cmocka_unit_test(test_pattern_wildcards_match),
        cmocka_unit_test(test_pattern_non_matches),
        cmocka_unit_test(test_patterns_match_any_of_a_list),
        EMPTY(test_new_code_can_be_found_and_deleted),
        EMPTY(test_unknown_codes_are_null),
        EMPTY(test_codes_are_evicted_oldest_first_past_the_limit),
        EMPTY(test_tickets_are_found_by_kind_and_expire),
        EMPTY(test_tickets_are_bounded_oldest_first),
        EMPTY(test_outbox_keeps_the_newest_and_forget_activity_empties_it),
        EMPTY(test_expired_codes_are_dropped_and_live_ones_kept),
        EMPTY(test_new_session_is_findable_and_listed_newest_first),
        EMPTY(test_replies_past_the_grace_are_forgotten_in_every_session),
        EMPTY(test_sessions_are_evicted_oldest_first_past_max_sessions),
        EMPTY(test_refresh_token_belongs_to_its_session),
        EMPTY(test_session_keeps_only_its_last_tokens),
        EMPTY(test_token_limit_is_per_session),
        EMPTY(test_unknown_sessions_and_tokens_are_null),
        EMPTY(test_ended_session_reports_inactive),
        FULL(test_forget_activity_keeps_configuration),
        cmocka_unit_test(test_duplicate_email_differing_only_in_case_is_rejected),
        cmocka_unit_test(test_duplicate_organization_id_is_rejected),
        cmocka_unit_test(test_duplicate_membership_organization_is_rejected),
        cmocka_unit_test(test_wrong_types_of_optional_user_fields_are_rejected),
        cmocka_unit_test(test_wrong_type_of_organization_name_is_rejected),
    };
#undef EMPTY
#undef DEFAULT
#undef FULL
    return cmocka_run_group_tests(tests, NULL, NULL);
}
