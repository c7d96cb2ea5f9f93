/* fakeidp env: the WORKOS_* variables that point an SDK at a fake. */
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "defaults.h"
#include "encoding.h"
#include "store.h"

static void env_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp env [--url URL] [--config FILE] [--redirect-uri URI] [--format sh|dotenv]\n\n"
            "Prints the variables that point the WorkOS SDKs at the fake at URL\n"
            "(default http://127.0.0.1:8787), ready for: eval \"$(fakeidp env)\".\n"
            "The client id and API key come from FILE (or the zero-config defaults).\n"
            "WORKOS_COOKIE_PASSWORD is a fresh random 43-character suggestion.\n");
}

int cli_env(int argc, char **argv)
{
    static const struct option longopts[] = {{"url", required_argument, NULL, 'u'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"redirect-uri", required_argument, NULL, 'r'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *url = IDP_DEFAULT_URL, *config_path = NULL;
    const char *redirect = "http://localhost:3000/callback", *format = "sh";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u': url = optarg; break;
        case 'c': config_path = optarg; break;
        case 'r': redirect = optarg; break;
        case 'f': format = optarg; break;
        case 'h': env_usage(stdout); return 0;
        default: env_usage(stderr); return 2;
        }
    }
    bool https = strncmp(url, "https://", 8) == 0;
    if (!https && strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "fakeidp env: --url must start with http:// or https://, got '%s'\n", url);
        return 2;
    }
    if (strcmp(format, "sh") != 0 && strcmp(format, "dotenv") != 0) {
        fprintf(stderr, "fakeidp env: --format is sh or dotenv\n");
        return 2;
    }
    const char *hostport = url + (https ? 8 : 7);
    char host[256];
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(hostport, "/"), hostport);
    char *colon = host[0] == '[' ? strstr(host, "]:") : strrchr(host, ':');
    const char *port = https ? "443" : "80";
    if (colon) {
        if (host[0] == '[')
            colon++;
        *colon = '\0';
        port = hostport + (colon - host) + 1;
    }
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%.*s", (int)strcspn(port, "/"), port);

    json_t *config = config_path ? cli_load_json_file(config_path) : NULL;
    if (config_path && !config)
        return 2;
    struct idp_store store;
    struct idp_error err;
    idp_store_init(&store);
    if (idp_store_configure(&store, config, 0, &err)) {
        fprintf(stderr, "%s: %s\n", config_path ? config_path : "configuration", err.message);
        idp_store_cleanup(&store);
        json_decref(config);
        return 2;
    }
    unsigned char secret[32];
    RAND_bytes(secret, sizeof(secret));
    char *password = idp_base64url_encode(secret, sizeof(secret));
    const char *prefix = strcmp(format, "sh") == 0 ? "export " : "";
    const char *q = strcmp(format, "sh") == 0 ? "'" : "";
    printf("%sWORKOS_API_HOSTNAME=%s%s%s\n", prefix, q, host, q);
    printf("%sWORKOS_API_PORT=%s%s%s\n", prefix, q, port_text, q);
    printf("%sWORKOS_API_HTTPS=%s%s%s\n", prefix, q, https ? "true" : "false", q);
    printf("%sWORKOS_CLIENT_ID=%s%s%s\n", prefix, q, store.default_client, q);
    printf("%sWORKOS_API_KEY=%s%s%s\n", prefix, q,
           json_string_value(json_array_get(store.api_keys, 0)), q);
    printf("%sWORKOS_REDIRECT_URI=%s%s%s\n", prefix, q, redirect, q);
    printf("%sNEXT_PUBLIC_WORKOS_REDIRECT_URI=%s%s%s\n", prefix, q, redirect, q);
    printf("%sWORKOS_COOKIE_PASSWORD=%s%s%s\n", prefix, q, password ? password : "", q);
    free(password);
    idp_store_cleanup(&store);
    json_decref(config);
    return 0;
}
