/* Where a step acts: the locations steps name ("/path" on the target,
 * "app/path" on a named app, or a URL) and the origin of a step's "at".
 * Shared by the step families; calls nothing of them. */
#include "steps_internal.h"

#include <stdio.h>
#include <string.h>

#include "url.h"

bool hx_step_location_ok(const char *text)
{
    if (!text || !text[0])
        return false;
    if (text[0] == '/')
        return true;
    if (strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0) {
        struct hx_url url;
        return hx_url_parse(text, &url);
    }
    size_t name = strspn(text, "abcdefghijklmnopqrstuvwxyz0123456789_-");
    return name > 0 && (text[name] == '\0' || text[name] == '/');
}

/* A location: a path of the target ("/dashboard"), "app/path" on a named
 * app ("stg/dashboard"), or a URL ("https://www.app.test/dashboard"). */
enum idp_status hx_step_location_check(struct hx_check *c, const json_t *v, const char *path)
{
    if (!json_is_string(v) || !hx_step_location_ok(json_string_value(v)))
        return hx_check_fail(c, path, false,
                             "expected a path starting with '/', \"app/path\" or an http(s) URL");
    return IDP_OK;
}

enum idp_status hx_step_location_parse(struct hx_check *c, const json_t *v, const char *path,
                                       struct hx_step *out)
{
    out->as.location = json_string_value(v);
    return hx_step_location_check(c, v, path);
}

/* The origin a step works on: the target's, or its "at" (an app's name or
 * a URL's origin). */
bool hx_step_origin(struct hx_run *run, const struct hx_step *step, char *out, size_t size)
{
    const char *at = step->at;
    char url[1200], why[200];
    struct hx_url parsed;
    if (!at) {
        snprintf(out, size, "%s", run->app_origin);
        return true;
    }
    if (!hx_run_location(run, at, url, sizeof(url), why, sizeof(why)) || !hx_url_parse(url, &parsed)) {
        hx_run_fail(run, "at %s: %s", at, why);
        return false;
    }
    hx_url_origin(&parsed, out, (unsigned)size);
    return true;
}
