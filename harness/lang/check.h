/* Validation context shared by the scenario loader and the step and
 * expectation tables: every error carries file:line:col from the JSON
 * position index. */
#ifndef HX_CHECK_H
#define HX_CHECK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "jsonpos.h"

/* Validation context shared with the step and expectation tables. */
struct hx_check {
    const char *file;
    const struct hx_jsonpos *positions;
    struct idp_error *err; /* the first error */
    json_t *messages;      /* every error as "file:line:col: message", or NULL */
    size_t count;          /* errors so far */
};

#define HX_CHECK_MAX_MESSAGES 100

/* Fails at the JSON pointer path (at its key when at_key). */
enum idp_status hx_check_fail(struct hx_check *check, const char *path, bool at_key,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Fails with a library error at path plus the error's own JSON pointer
 * (at that key when the pointer is set). */
enum idp_status hx_check_error(struct hx_check *check, const char *path,
                               const struct idp_error *error);
/* Fails at path (at its key) with: unknown <what> "<word>" (did you mean
 * "<closest>"?) (<plural>: <every name>). names is NULL-terminated. */
enum idp_status hx_check_unknown(struct hx_check *check, const char *path, const char *what,
                                 const char *plural, const char *word, const char *const names[]);
/* Checks obj's keys against a NULL-terminated list. */
enum idp_status hx_check_keys(struct hx_check *check, const json_t *obj, const char *path,
                              const char *const allowed[], const char *what);
/* Plain values, each with its one message ("expected true or false"). The
 * signature is a step's or an expectation's validator: table rows name
 * these directly. */
enum idp_status hx_check_true(struct hx_check *check, const json_t *value, const char *path);
enum idp_status hx_check_boolean(struct hx_check *check, const json_t *value, const char *path);
enum idp_status hx_check_integer(struct hx_check *check, const json_t *value, const char *path);
enum idp_status hx_check_string(struct hx_check *check, const json_t *value, const char *path);
/* A string or an array of strings. */
enum idp_status hx_check_strings(struct hx_check *check, const json_t *value, const char *path);
enum idp_status hx_check_duration(struct hx_check *check, const json_t *value, const char *path);
/* The same, keeping the duration in *ms. */
enum idp_status hx_check_duration_ms(struct hx_check *check, const json_t *value, const char *path,
                                     int64_t *ms);
/* Applies a count expectation: an integer, or {"min":a,"max":b}. */
enum idp_status hx_check_count(struct hx_check *check, const json_t *value, const char *path);
/* An object whose members (from allowed) are all counts. */
enum idp_status hx_check_counts(struct hx_check *check, const json_t *obj, const char *path,
                                const char *const allowed[], const char *what);
/* Whether actual meets a count that passed hx_check_count; want gets the
 * count as a reader writes it ("1", "2..4", ">= 1"). */
bool hx_count_holds(const json_t *spec, long long actual, char *want, size_t size);

#endif
