/* Human durations: "300s", "5m", "1h30m", "8d", "250ms", or a bare number of
 * seconds. Used by the config file, the admin API and scenario files. */
#ifndef IDP_DURATION_H
#define IDP_DURATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Parses text into milliseconds. Returns false for anything else (empty,
 * unknown unit, overflow, negative). */
bool idp_duration_parse(const char *text, int64_t *out_ms);

/* A duration in a JSON document: a string as above, or a bare whole number
 * of seconds. With signed_ok, a negative number or a string starting with
 * '-' is accepted too. False for anything else (out_ms untouched). */
bool idp_duration_json(const json_t *value, bool signed_ok, int64_t *out_ms);

/* Formats ms as the shortest human form ("5m", "1h30m", "250ms"). */
void idp_duration_format(int64_t ms, char out[32]);

#endif
