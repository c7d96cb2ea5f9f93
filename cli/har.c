/* fakeidp har: turn a browser's HAR capture into a scenario skeleton.
 * Exit status: 0 written, 2 usage error, unreadable file or no auth
 * traffic in the capture. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "har.h"

static void har_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp har FILE.har [--app-host HOST] [-o SCENARIO.json] [--name NAME]\n\n"
            "Reads a HAR 1.2 capture (Chromium, Firefox or Safari devtools: \"Save all as HAR\")\n"
            "and writes a scenario that replays its auth-relevant requests against the reference\n"
            "app: sign-in, page loads and API calls in order, overlapping requests as parallel\n"
            "steps, pauses as advance steps, Set-Cookie sizes and attributes as notes, the point\n"
            "where the session was lost, and an expectation that the session survives.\n"
            "Cookie values, tokens, codes, query strings, bodies and passwords are never copied.\n\n"
            "  --app-host HOST   the app's host name (default: the host of /callback, or the one\n"
            "                    that sets cookies)\n"
            "  -o FILE           write the scenario to FILE (default: standard output)\n"
            "  --name NAME       the scenario's name (default: har-<file name>)\n\n"
            "exit status: 0 written, 2 usage error, unreadable file or no auth traffic\n");
}

int cli_har(int argc, char **argv)
{
    const char *path = NULL, *app_host = NULL, *out_path = NULL, *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            har_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--app-host") == 0 && i + 1 < argc) {
            app_host = argv[++i];
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out_path = argv[++i];
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else if (argv[i][0] == '-' || path) {
            har_usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        har_usage(stderr);
        return 2;
    }
    json_t *har = cli_load_json_file(path);
    if (!har)
        return 2;
    char default_name[300];
    if (!name) {
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t len = strlen(base);
        if (len > 4 && strcmp(base + len - 4, ".har") == 0)
            len -= 4;
        snprintf(default_name, sizeof(default_name), "har-%.*s", (int)(len < 200 ? len : 200), base);
        name = default_name;
    }
    struct hx_har_summary sum;
    struct idp_error err = {0};
    json_t *scenario = hx_har_scenario(har, app_host, name, &sum, &err);
    json_decref(har);
    if (!scenario) {
        fprintf(stderr, "fakeidp har: %s: %s\n", path, err.message);
        return 2;
    }
    int rc = out_path ? json_dump_file(scenario, out_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                      : json_dumpf(scenario, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!out_path)
        fputc('\n', stdout);
    json_decref(scenario);
    if (rc != 0) {
        fprintf(stderr, "fakeidp har: cannot write %s\n", out_path ? out_path : "standard output");
        return 2;
    }
    fprintf(stderr,
            "fakeidp har: %zu requests: %zu auth-relevant (app %s and the IdP) kept, %zu others "
            "summarised\n"
            "fakeidp har: redacted (replaced by placeholders, never written): %zu cookie values, "
            "%zu query parameters, %zu request bodies, %zu response bodies, %zu Authorization "
            "headers; the user is "
            "fakeidp's default user\n"
            "fakeidp har: %s\n",
            sum.entries, sum.auth, sum.app_host, sum.other, sum.cookie_values, sum.url_secrets,
            sum.bodies, sum.response_bodies, sum.auth_headers,
            sum.lost[0] ? sum.lost : "the capture shows no lost session");
    if (sum.no_cookies)
        fprintf(stderr, "fakeidp har: warning: %s\n", HX_HAR_NO_COOKIES);
    return 0;
}
