/* Names that users type (routes, actions, steps, settings): the closest
 * known one, for "did you mean" in error messages. */
#ifndef IDP_NAMES_H
#define IDP_NAMES_H

#include <stddef.h>

/* The name of names (NULL-terminated) closest to word by edit distance, if
 * it is close enough to be a likely typo (at most a third of the word's
 * length, and at least one edit allowed); otherwise NULL. */
const char *idp_closest_name(const char *word, const char *const names[]);

/* Writes " (did you mean \"x\"?)" for the closest name, or "" when none is
 * close, into out. */
void idp_did_you_mean(const char *word, const char *const names[], char *out, size_t size);

#endif
