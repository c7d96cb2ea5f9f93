/* A recording world for HAR fixtures: fakeidp and the reference app, in
 * one process on loopback, sharing one clock, the way a scenario's variant
 * runs them, but driven from outside: a real browser (tests/har/record.js,
 * headless Chromium over the DevTools protocol) browses the app while the
 * recorder adds faults through fakeidp's admin API. The clock runs in real
 * time (a browser's capture has real timestamps); the recorder shortens
 * the access-token lifetime instead of moving time.
 *
 * usage: har_world IDP_CONFIG_JSON [APP_KNOBS_JSON]
 * Prints "idp URL" and "app URL" lines, then serves until stdin closes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "refapp.h"
#include "server.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: har_world IDP_CONFIG_JSON [APP_KNOBS_JSON]\n");
        return 2;
    }
    json_error_t jerr;
    json_t *config = json_loads(argv[1], 0, &jerr);
    json_t *knobs = argc > 2 ? json_loads(argv[2], 0, &jerr) : json_object();
    if (!json_is_object(config) || !json_is_object(knobs)) {
        fprintf(stderr, "har_world: bad JSON: %s\n", jerr.text);
        return 2;
    }
    json_t *patterns = json_pack("[s,s]", "http://localhost:*", "http://127.0.0.1:*");
    json_object_set_new(config, "clients",
                        json_pack("[{s:O, s:O, s:O}]", "redirect_uris", patterns, "allowed_origins",
                                  patterns, "logout_uris", patterns));
    json_decref(patterns);
    struct idp_error err = {0};
    char cache[1024];
    idp_default_key_cache_path(cache, sizeof(cache));
    EVP_PKEY *key = idp_pem_load_or_generate(cache, &err);
    if (!key) {
        fprintf(stderr, "har_world: %s\n", err.message);
        return 2;
    }
    struct idp_clock clock;
    idp_clock_init(&clock);
    struct idp_server_options so = {.config = config, .key = key, .clock = &clock, .seed = 1,
                                    .threads = 16};
    struct idp_server *idp = idp_server_start(&so, &err);
    if (!idp) {
        fprintf(stderr, "har_world: fakeidp: %s\n", err.message);
        return 2;
    }
    char client_id[96], api_key[128], public_url[128];
    idp_server_credentials(idp, client_id, sizeof(client_id), api_key, sizeof(api_key));
    snprintf(public_url, sizeof(public_url), "http://127.0.0.1:%d", idp_server_port(idp));
    struct hx_timeline timeline;
    hx_timeline_init(&timeline, idp_clock_now_ms(&clock));
    struct hx_app_config ac = {.public_host = "localhost", .idp_url = idp_server_url(idp),
                               .idp_public_url = public_url, .client_id = client_id,
                               .api_key = api_key, .clock = &clock, .timeline = &timeline};
    hx_app_knobs_defaults(&ac.knobs);
    if (hx_app_knobs_apply(&ac.knobs, knobs, NULL, &err)) {
        fprintf(stderr, "har_world: app knobs: %s\n", err.message);
        return 2;
    }
    struct hx_app *app = hx_app_start(&ac, &err);
    if (!app) {
        fprintf(stderr, "har_world: app: %s\n", err.message);
        return 2;
    }
    printf("idp %s\napp %s\n", idp_server_url(idp), hx_app_origin(app));
    fflush(stdout);
    char line[256];
    while (fgets(line, sizeof(line), stdin))
        ;
    char *text = hx_timeline_text(&timeline, "  ");
    fprintf(stderr, "%s", text ? text : "");
    free(text);
    hx_app_stop(&app);
    idp_server_stop(&idp);
    hx_timeline_cleanup(&timeline);
    EVP_PKEY_free(key);
    json_decref(config);
    json_decref(knobs);
    return 0;
}
