/* The JSON position index: hx_jsonpos_build over any text (valid or not; the
 * scenario loader only hands it text jansson accepted, but it promises to
 * index what it can of anything), then hx_jsonpos_find for every indexed path,
 * children and parents of them, and a few fixed paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "jsonpos.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void find(const struct hx_jsonpos *ix, const char *path, int want_key)
{
    int line = -1, col = -1;
    hx_jsonpos_find(ix, path, want_key, &line, &col);
    if (line < 1 || col < 1)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    struct hx_jsonpos ix;
    hx_jsonpos_build(&ix, (const char *)data, size);
    static const char *const fixed[] = {"", "/", "/steps", "/steps/0", "/steps/0/advance",
                                        "/a~1b", "/~0", "//", "/0/0/0", NULL};
    for (int i = 0; fixed[i]; i++) {
        find(&ix, fixed[i], 0);
        find(&ix, fixed[i], 1);
    }
    find(&ix, NULL, 0);
    size_t limit = ix.count < 64 ? ix.count : 64;
    for (size_t i = 0; i < limit; i++) {
        const char *p = ix.entries[i].path;
        if (!p || ix.entries[i].line < 1 || ix.entries[i].col < 1)
            abort();
        find(&ix, p, (int)(i & 1));
        char child[256];
        snprintf(child, sizeof(child), "%.200s/x", p);
        find(&ix, child, 1);
    }
    hx_jsonpos_cleanup(&ix);
    return 0;
}
