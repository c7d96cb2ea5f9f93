/* Configuration files the commands read (serve, env, inspect, har,
 * doctor). */
#include "commands.h"

#include <stdio.h>

json_t *cli_load_json_file(const char *path)
{
    json_error_t jerr;
    json_t *value = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!value)
        fprintf(stderr, "%s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
    return value;
}
