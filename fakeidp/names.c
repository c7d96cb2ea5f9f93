#include "names.h"

#include <stdio.h>
#include <string.h>

/* Levenshtein distance, capped: words longer than 63 bytes are never typos
 * of a short name anyway. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t above = row[j];
            size_t best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best)
                best = above + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

const char *idp_closest_name(const char *word, const char *const names[])
{
    if (!word || !*word)
        return NULL;
    size_t limit = strlen(word) / 3;
    if (limit < 1)
        limit = 1;
    const char *best = NULL;
    size_t best_distance = limit + 1;
    for (size_t i = 0; names[i]; i++) {
        size_t d = distance(word, names[i]);
        if (d < best_distance) {
            best = names[i];
            best_distance = d;
        }
    }
    return best;
}

void idp_did_you_mean(const char *word, const char *const names[], char *out, size_t size)
{
    const char *close = idp_closest_name(word, names);
    if (close)
        snprintf(out, size, " (did you mean \"%s\"?)", close);
    else if (size)
        out[0] = '\0';
}
