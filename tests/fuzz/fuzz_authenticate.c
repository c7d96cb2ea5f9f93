/* POST /user_management/authenticate: the body parsers (idp_parse_form for
 * form bodies, jansson for JSON, as dispatch.c picks by Content-Type) and the
 * handler behind them, on an in-memory server with a pending code (@CODE@,
 * verifier FUZZ_VERIFIER), an active refresh token (@RT@) and a rotated one
 * (@OLDRT@). Input: optional "Header: value" lines and a blank line, then the
 * body. Every answer must be a JSON success or a WorkOS-shaped 4xx. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_server();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = fuzz_text(data, size);

    /* The form parser alone, over the whole input with its NULs. */
    json_t *form = idp_parse_form((const char *)data, size);
    if (!json_is_object(form))
        abort();
    const char *key;
    json_t *value;
    json_object_foreach(form, key, value) {
        if (!json_is_string(value))
            abort();
    }
    json_decref(form);

    struct fuzz_tokens tokens;
    fuzz_server_reset(&tokens);
    char *raw = fuzz_substitute(text, &tokens);
    fuzz_request("POST", idp_route_authenticate, NULL, raw);
    free(raw);
    free(text);
    return 0;
}
