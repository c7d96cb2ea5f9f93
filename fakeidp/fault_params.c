/* The parameter readers of the fault actions (fault_actions.c, fault_wire.c,
 * fault_barrier.c): their values were checked when the rule was read, so a
 * reader only falls back when a parameter is absent. */
#include "fault_internal.h"

#include "duration.h"

#define YEAR_MS (86400000LL * 365)

int64_t idp_fault_param_duration(const json_t *params, const char *name, int64_t fallback)
{
    const json_t *v = json_object_get(params, name);
    int64_t ms;
    if (json_is_string(v) && idp_duration_parse(json_string_value(v), &ms) && ms < YEAR_MS)
        return ms;
    /* A bare number is seconds, as in every other duration of fakeidp. */
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 86400LL * 365)
        return json_integer_value(v) * 1000;
    return fallback;
}

long idp_fault_param_integer(const json_t *params, const char *name, long fallback)
{
    const json_t *v = json_object_get(params, name);
    return json_is_integer(v) ? (long)json_integer_value(v) : fallback;
}
