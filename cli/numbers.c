#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"

bool cli_parse_number(const char *command, const char *option, const char *text,
                      long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    /* Digits only (an optional leading '-' when negatives are allowed):
     * strtoll alone would take " 12", "+12" and "12ab". */
    bool digits = text && (text[0] >= '0' && text[0] <= '9');
    bool negative = text && text[0] == '-' && min < 0 && text[1] >= '0' && text[1] <= '9';
    long long value = digits || negative ? strtoll(text, &end, 10) : 0;
    if ((!digits && !negative) || *end || errno == ERANGE || value < min || value > max) {
        fprintf(stderr, "fakeidp %s: %s takes a whole number from %lld to %lld, got '%s'\n",
                command, option, min, max, text ? text : "");
        return false;
    }
    *out = value;
    return true;
}

bool cli_parse_seed(const char *command, const char *text, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long value = text && text[0] >= '0' && text[0] <= '9'
                                   ? strtoull(text, &end, 10) : 0;
    if (!end || *end || errno == ERANGE) {
        fprintf(stderr, "fakeidp %s: --seed takes a whole number from 0 to %llu, got '%s'\n",
                command, (unsigned long long)-1, text ? text : "");
        return false;
    }
    *out = value;
    return true;
}
