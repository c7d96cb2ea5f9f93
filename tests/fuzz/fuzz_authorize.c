/* GET /user_management/authorize: the query parser (idp_parse_form, as
 * dispatch.c runs it on the query string) and the handler behind it, on an
 * in-memory server. Input: the query string. Every answer must be a redirect
 * with a Location or a WorkOS-shaped 4xx. */
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
    char *query = fuzz_text(data, size);
    json_t *params = idp_parse_form(query, strlen(query));
    if (!json_is_object(params))
        abort();
    json_decref(params);

    fuzz_server_reset(NULL);
    fuzz_request("GET", idp_route_authorize, query, "");
    /* The same parameters as a form POST body (POST /user_management/authorize). */
    size_t len = strlen(query);
    char *post = malloc(len + 64);
    if (!post)
        abort();
    memcpy(post, "Content-Type: application/x-www-form-urlencoded\n\n", 50);
    memcpy(post + 50, query, len + 1);
    fuzz_request("POST", idp_route_authorize, NULL, post);
    free(post);
    free(query);
    return 0;
}
