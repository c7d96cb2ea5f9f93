/* The zero-configuration defaults that several parts must agree on: the
 * server's credentials and where `fakeidp serve` listens. One place, so the
 * CLI, the store and the runner cannot drift apart. */
#ifndef IDP_DEFAULTS_H
#define IDP_DEFAULTS_H

#define IDP_DEFAULT_API_KEY "sk_test_fakeidp_0000000000000000000000000000"
#define IDP_DEFAULT_CLIENT_ID "client_01FAKE1DPC0000000000000000"
#define IDP_DEFAULT_USER_ID "user_01FAKE1DPA11CE0000000000"
#define IDP_DEFAULT_USER_EMAIL "alice@example.com"
#define IDP_DEFAULT_PORT 8787
#define IDP_DEFAULT_URL "http://127.0.0.1:8787"

#endif
