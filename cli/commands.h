#ifndef FAKEIDP_CLI_COMMANDS_H
#define FAKEIDP_CLI_COMMANDS_H

#include <jansson.h>
#include <stdbool.h>

#include "error.h"

/* Each returns the process exit status: 0 success, 1 a failed check, 2 usage
 * or input errors (exec: the command's own status, 3 when the fake cannot
 * be reached). */
int cli_serve(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_lint(int argc, char **argv);
int cli_env(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_exec(int argc, char **argv);
int cli_doctor(int argc, char **argv);

/* Puts the variables that point a WorkOS SDK at the fake at url into out
 * (an object of strings, in print order): WORKOS_API_HOSTNAME, _PORT,
 * _HTTPS, WORKOS_CLIENT_ID and WORKOS_API_KEY (from the configuration file
 * config_path, or the zero-config defaults when NULL), WORKOS_REDIRECT_URI
 * and NEXT_PUBLIC_WORKOS_REDIRECT_URI (redirect), and a fresh random
 * WORKOS_COOKIE_PASSWORD. Returns 0, or 2 with "prog: message" on stderr. */
int cli_env_vars(const char *prog, const char *url, const char *config_path, const char *redirect,
                 json_t *out);
int cli_har(int argc, char **argv);

/* Loads a JSON configuration file (cli/json_file.c); NULL with a
 * "file:line:col: message" printed to stderr when it cannot be read or
 * parsed. */
json_t *cli_load_json_file(const char *path);

/* Strict numbers on the command line (cli/numbers.c): digits only, within
 * [min, max]; otherwise prints "fakeidp COMMAND: OPTION takes …" to stderr
 * and returns false (the caller exits 2). */
bool cli_parse_number(const char *command, const char *option, const char *text,
                      long long min, long long max, long long *out);
/* A 64-bit seed in decimal, as the reports print it. */
bool cli_parse_seed(const char *command, const char *text, unsigned long long *out);

#endif
