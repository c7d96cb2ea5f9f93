/* iron_tool: the C iron seal on the command line, for the npm interop test.
 *
 *   iron_tool seal PASSWORD         payload on stdin -> seal and '\n' on stdout
 *   iron_tool unseal PASSWORD SEAL  payload bytes, exactly, on stdout
 *
 * Seals carry no expiration (ttl 0). On failure the error message goes to
 * stderr and the exit status is 1; usage errors exit 2. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "iron.h"

/* Larger than anything the interop test sends; bounds the stdin read. */
#define MAX_PAYLOAD ((size_t)1 << 20)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads all of stdin into a malloc'd buffer; NULL if too large or on error. */
static unsigned char *read_stdin(size_t *out_len)
{
    unsigned char *buf = malloc(MAX_PAYLOAD + 1);
    if (!buf)
        return NULL;
    size_t n = fread(buf, 1, MAX_PAYLOAD + 1, stdin);
    if (ferror(stdin) || n > MAX_PAYLOAD) {
        free(buf);
        return NULL;
    }
    *out_len = n;
    return buf;
}

static int do_seal(const char *password)
{
    struct idp_error err = {0};
    size_t len = 0;
    unsigned char *data = read_stdin(&len);
    if (!data) {
        fprintf(stderr, "cannot read payload from stdin\n");
        return 1;
    }
    char *sealed = idp_iron_seal(password, data, len, now_ms(), 0, &err);
    free(data);
    if (!sealed) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    printf("%s\n", sealed);
    free(sealed);
    return 0;
}

static int do_unseal(const char *password, const char *sealed)
{
    struct idp_error err = {0};
    unsigned char *out = NULL;
    size_t len = 0;
    if (idp_iron_unseal(password, sealed, now_ms(), &out, &len, &err) !=
        IDP_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int rc = fwrite(out, 1, len, stdout) == len ? 0 : 1;
    free(out);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "seal") == 0)
        return do_seal(argv[2]);
    if (argc == 4 && strcmp(argv[1], "unseal") == 0)
        return do_unseal(argv[2], argv[3]);
    fprintf(stderr, "usage: %s seal PASSWORD < payload\n"
                    "       %s unseal PASSWORD SEAL\n",
            argv[0], argv[0]);
    return 2;
}
