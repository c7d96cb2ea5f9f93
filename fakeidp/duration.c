#include "duration.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static const struct unit {
    const char *name;
    int64_t ms;
} units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
};

bool idp_duration_parse(const char *text, int64_t *out_ms)
{
    if (!text || !*text)
        return false;
    int64_t total = 0;
    const char *p = text;
    bool bare = true;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return false;
        int64_t value = 0;
        while (isdigit((unsigned char)*p)) {
            if (value > (INT64_MAX / 10) - 10)
                return false;
            value = value * 10 + (*p++ - '0');
        }
        const char *unit_start = p;
        while (isalpha((unsigned char)*p))
            p++;
        size_t unit_len = (size_t)(p - unit_start);
        int64_t factor = 1000;
        if (unit_len == 0) {
            if (!bare || *p)
                return false; /* a bare number only on its own */
        } else {
            factor = 0;
            for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (strlen(units[i].name) == unit_len &&
                    strncmp(units[i].name, unit_start, unit_len) == 0)
                    factor = units[i].ms;
            if (!factor)
                return false;
        }
        bare = false;
        if (value > INT64_MAX / factor || total > INT64_MAX - value * factor)
            return false;
        total += value * factor;
    }
    *out_ms = total;
    return true;
}

void idp_duration_format(int64_t ms, char out[32])
{
    if (ms == 0) {
        snprintf(out, 32, "0s");
        return;
    }
    size_t used = 0;
    out[0] = '\0';
    for (int i = (int)(sizeof(units) / sizeof(units[0])) - 2; i >= 0 && ms > 0; i--) {
        if (ms >= units[i].ms) {
            int64_t n = ms / units[i].ms;
            ms -= n * units[i].ms;
            used += (size_t)snprintf(out + used, 32 - used, "%lld%s", (long long)n,
                                     units[i].name);
            if (used >= 32)
                return;
        }
    }
}

bool idp_duration_json(const json_t *value, bool signed_ok, int64_t *out_ms)
{
    if (json_is_integer(value)) {
        json_int_t n = json_integer_value(value);
        if ((n < 0 && !signed_ok) || n > INT64_MAX / 1000 || n < -(INT64_MAX / 1000))
            return false;
        *out_ms = n * 1000;
        return true;
    }
    const char *text = json_string_value(value);
    if (!text)
        return false;
    bool negative = signed_ok && text[0] == '-';
    int64_t ms;
    if (!idp_duration_parse(text + negative, &ms))
        return false;
    *out_ms = negative ? -ms : ms;
    return true;
}
