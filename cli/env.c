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

int cli_env_vars(const char *prog, const char *url, const char *config_path, const char *redirect,
                 json_t *out)
{
    bool https = strncmp(url, "https://", 8) == 0;
    if (!https && strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "%s: --url must start with http:// or https://, got '%s'\n", prog, url);
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
    json_object_set_new(out, "WORKOS_API_HOSTNAME", json_string(host));
    json_object_set_new(out, "WORKOS_API_PORT", json_string(port_text));
    json_object_set_new(out, "WORKOS_API_HTTPS", json_string(https ? "true" : "false"));
    json_object_set_new(out, "WORKOS_CLIENT_ID", json_string(store.default_client));
    json_object_set_new(out, "WORKOS_API_KEY",
                        json_string(json_string_value(json_array_get(store.api_keys, 0))));
    json_object_set_new(out, "WORKOS_REDIRECT_URI", json_string(redirect));
    json_object_set_new(out, "NEXT_PUBLIC_WORKOS_REDIRECT_URI", json_string(redirect));
    json_object_set_new(out, "WORKOS_COOKIE_PASSWORD", json_string(password ? password : ""));
    free(password);
    idp_store_cleanup(&store);
    json_decref(config);
    return 0;
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
    if (strcmp(format, "sh") != 0 && strcmp(format, "dotenv") != 0) {
        fprintf(stderr, "fakeidp env: --format is sh or dotenv\n");
        return 2;
    }
    json_t *vars = json_object();
    int status = vars ? cli_env_vars("fakeidp env", url, config_path, redirect, vars) : 2;
    const char *prefix = strcmp(format, "sh") == 0 ? "export " : "";
    const char *q = strcmp(format, "sh") == 0 ? "'" : "";
    const char *name;
    json_t *value;
    if (!status)
        json_object_foreach(vars, name, value)
            printf("%s%s=%s%s%s\n", prefix, name, q, json_string_value(value), q);
    json_decref(vars);
    return status;
}
