/* Placeholder until external app start-up lands: starting is refused with a
 * clear error, so scenarios that need it fail loudly instead of silently. */
#include "external.h"

#include <stdlib.h>

struct hx_external {
    int unused;
};

struct hx_external *hx_external_start(const json_t *start, const struct hx_external_env *env,
                                      struct hx_timeline *timeline, struct idp_error *err)
{
    (void)start;
    (void)env;
    (void)timeline;
    idp_fail(err, IDP_INVALID, "starting external apps is not supported yet; start the app yourself "
                               "and give only its url");
    return NULL;
}

void hx_external_set_time(struct hx_external *ext, int64_t virtual_now_ms)
{
    (void)ext;
    (void)virtual_now_ms;
}

void hx_external_stop(struct hx_external **ext)
{
    free(*ext);
    *ext = NULL;
}
