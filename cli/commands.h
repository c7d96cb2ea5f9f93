#ifndef FAKEIDP_CLI_COMMANDS_H
#define FAKEIDP_CLI_COMMANDS_H

#include <jansson.h>

#include "error.h"

/* Each returns the process exit status: 0 success, 1 a failed check, 2 usage
 * or input errors. */
int cli_serve(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_lint(int argc, char **argv);
int cli_env(int argc, char **argv);
int cli_inspect(int argc, char **argv);

/* Loads a JSON configuration file; NULL with a "file:line:col: message"
 * printed to stderr when it cannot be read or parsed. */
json_t *cli_load_json_file(const char *path);

#endif
