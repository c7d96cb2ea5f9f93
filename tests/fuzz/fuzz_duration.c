/* idp_duration_parse (config, admin API, scenario files), with a round trip:
 * whatever parses formats back to text that parses to the same value. */
#include <stdio.h>
#include <stdlib.h>

#include "duration.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = fuzz_text(data, size);
    int64_t ms = -1;
    if (idp_duration_parse(text, &ms)) {
        if (ms < 0)
            abort();
        char formatted[32];
        idp_duration_format(ms, formatted);
        int64_t again = -1;
        if (!idp_duration_parse(formatted, &again) || again != ms) {
            fprintf(stderr, "duration %s -> %lld -> %s -> %lld\n", text, (long long)ms,
                    formatted, (long long)again);
            abort();
        }
    }
    free(text);
    return 0;
}
