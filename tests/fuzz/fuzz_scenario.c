/* The scenario loader: the input is written to a file and loaded with
 * hx_scenario_load (JSON parsing, the position index, validation of every
 * section, variant expansion), then freed. A failure must come with a
 * message and a position inside the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "scenario.h"

static char path[4096];

static void remove_file(void)
{
    if (path[0])
        unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof(path), "%s/fuzz-scenario-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_scenario: mkstemp");
        abort();
    }
    close(fd);
    atexit(remove_file);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    struct idp_error err;
    memset(&err, 0, sizeof(err));
    struct hx_scenario *sc = hx_scenario_load(path, &err, NULL);
    if (sc) {
        if (!sc->name || !sc->variant_count)
            abort();
        for (size_t i = 0; i < sc->variant_count; i++)
            if (!sc->variants[i].name || !json_is_object(sc->variants[i].doc))
                abort();
        hx_scenario_free(&sc);
        if (sc)
            abort();
    } else if (err.status == IDP_OK || !err.message[0] || err.line < 0 || err.col < 0) {
        fprintf(stderr, "fuzz: a load failure without an error (status %d, %d:%d \"%s\")\n",
                err.status, err.line, err.col, err.message);
        abort();
    }
    return 0;
}
