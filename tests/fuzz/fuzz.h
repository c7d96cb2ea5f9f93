/* Shared by the fuzz targets (tests/fuzz/fuzz_<name>.c): the libFuzzer entry
 * points, a fixed signing key and iron password, and an in-memory fakeidp
 * server (no sockets) whose route handlers the request fuzzers call.
 *
 * Every target is built twice: with clang and -fsanitize=fuzzer (run.sh, for
 * fuzzing), and with the project's compiler against replay_main.c, which runs
 * the committed corpus through LLVMFuzzerTestOneInput as a ctest test. */
#ifndef FUZZ_H
#define FUZZ_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "server_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_IRON_PASSWORD "fakeidp-fuzz-password-0123456789abcdef"
/* 2026-01-15T12:00:00Z, the virtual clock of every fuzzed server. */
#define FUZZ_NOW_MS 1768478400000LL
#define FUZZ_CLIENT "client_01FUZZAPP000000000000000"
#define FUZZ_API_KEY "sk_test_fuzz_0123456789abcdef0123456789abcdef"
#define FUZZ_VERIFIER "fuzz-verifier-0123456789-0123456789-0123456789"
#define FUZZ_KID "fuzz_key_1"

/* A NUL-terminated copy of data (text stops at an embedded NUL). Aborts on
 * allocation failure: the fuzzers do not inject those. */
char *fuzz_text(const uint8_t *data, size_t size);
/* The fixed RSA key (borrowed, loaded once). */
EVP_PKEY *fuzz_key(void);
/* {"keys":[<the fixed key's public JWK, kid FUZZ_KID>]} (borrowed). */
json_t *fuzz_jwks(void);

/* The in-memory server: state reset on every call, with a pending code for
 * FUZZ_VERIFIER, an active refresh token and a rotated one. The request
 * fuzzers write "@CODE@", "@RT@" and "@OLDRT@" and get them substituted. */
struct idp_server *fuzz_server(void);
struct fuzz_tokens {
    char code[IDP_ID_SIZE];
    char refresh[IDP_ID_SIZE];
    char old_refresh[IDP_ID_SIZE];
};
void fuzz_server_reset(struct fuzz_tokens *tokens);
/* Replaces every @CODE@ / @RT@ / @OLDRT@ in text (malloc'd result). */
char *fuzz_substitute(const char *text, const struct fuzz_tokens *tokens);

/* One request through a route handler, as dispatch.c runs it: raw is
 * "Header: value\n"... "\n" body (no blank line: all body, no headers);
 * params come from the query (GET) or the body by Content-Type. A header
 * "X-Fuzz-Settings: {json}" applies settings first. Returns the status. */
int fuzz_request(const char *method, idp_route_fn *handler, const char *query,
                 const char *raw);

#endif
