#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "defaults.h"
#include "duration.h"
#include "faults.h"
#include "keys.h"
#include "server.h"
#include "settings.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void serve_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp serve [options]\n\n"
            "Serves the WorkOS AuthKit API (authorize, authenticate with every sign-in\n"
            "grant, JWKS, logout, revoke, users, organizations, memberships, magic auth,\n"
            "email verification, MFA factors) and the admin API under /_fakeidp/ (with\n"
            "the outbox of e-mails). The first line on stdout is\n"
            "'listening on <URL>' once requests are accepted.\n\n"
            "options:\n"
            "  --host HOST          address to bind (default 127.0.0.1)\n"
            "  --port N             port, 0 for an ephemeral one (default 8787)\n"
            "  --config FILE        JSON configuration: settings, clients, users, faults\n"
            "  --key PEM            RSA private key to sign with (stable kid across restarts)\n"
            "  --key-cache PATH     where a generated key is kept and reused (default:\n"
            "                       $FAKEIDP_KEY_CACHE, else $XDG_CACHE_HOME/fakeidp/signing-key.pem,\n"
            "                       else ~/.cache/fakeidp/signing-key.pem)\n"
            "  --no-key-cache       generate a fresh key for this run only\n"
            "  --set NAME=VALUE     a setting, e.g. --set access_ttl=60s --set refresh_mode=strict\n"
            "  --fault SPEC         a fault in compact form, e.g.\n"
            "                       route=authenticate,grant_type=refresh_token,status=503,count=1\n"
            "  --seed N             seed for ids, tokens and probabilistic faults\n"
            "  --tls CERT.pem       serve https with this certificate + key file\n"
            "  --allow-remote       allow a non-loopback --host (admin API then needs a token)\n"
            "  --admin-token TOKEN  require this bearer token on /_fakeidp/\n"
            "  --threads N          worker threads: requests served at once, idle and\n"
            "                       slow connections included (default 128, at most 1024)\n"
            "  --request-timeout D  longest wait for a request's headers and body, and for\n"
            "                       a TLS handshake (default 10s)\n"
            "  --keep-alive-timeout D\n"
            "                       an idle keep-alive connection is closed after D (default 5s)\n"
            "  --log-format FORMAT  text or json request log on stderr (default: none)\n"
            "  -h, --help           this help\n");
}

static int add_setting(json_t *settings, const char *text)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text) {
        fprintf(stderr, "fakeidp serve: --set takes NAME=VALUE, got '%s'\n", text);
        return 2;
    }
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(eq - text), text);
    const char *value = eq + 1;
    json_t *v;
    if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
        v = json_boolean(strcmp(value, "true") == 0);
    else if (*value && strspn(value, "0123456789") == strlen(value) &&
             (strcmp(name, "journal_size") == 0 || strcmp(name, "max_sessions") == 0 ||
              strcmp(name, "max_body_bytes") == 0))
        v = json_integer(strtoll(value, NULL, 10));
    else
        v = json_string(value);
    json_object_set_new(settings, name, v);
    return 0;
}

int cli_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},       {"port", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'},     {"key", required_argument, NULL, 'k'},
        {"key-cache", required_argument, NULL, 'K'},  {"no-key-cache", no_argument, NULL, 'N'},
        {"set", required_argument, NULL, 's'},        {"fault", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'S'},       {"tls", required_argument, NULL, 't'},
        {"allow-remote", no_argument, NULL, 'R'},     {"admin-token", required_argument, NULL, 'A'},
        {"threads", required_argument, NULL, 'T'},    {"log-format", required_argument, NULL, 'L'},
        {"request-timeout", required_argument, NULL, 'Q'},
        {"keep-alive-timeout", required_argument, NULL, 'I'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    struct idp_server_options options = {.port = IDP_DEFAULT_PORT};
    const char *config_path = NULL, *key_path = NULL, *cache_path = NULL, *log_format = NULL;
    bool no_cache = false;
    json_t *settings = json_object(), *faults = json_array();
    int status = 2, c;
    json_t *config = NULL;
    EVP_PKEY *key = NULL;
    struct idp_server *server = NULL;
    struct idp_error err = {0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': options.host = optarg; break;
        case 'p':
        case 'T': {
            long long n;
            if (!cli_parse_number("serve", c == 'p' ? "--port" : "--threads", optarg,
                                  c == 'p' ? 0 : 1, c == 'p' ? 65535 : IDP_MAX_THREADS, &n))
                goto out;
            *(c == 'p' ? &options.port : &options.threads) = (int)n;
            break;
        }
        case 'Q':
        case 'I': {
            int64_t ms;
            if (!idp_duration_parse(optarg, &ms) || ms < 1 || ms > 3600000) {
                fprintf(stderr, "fakeidp serve: %s takes a duration from 1ms to 1h, got '%s'\n",
                        c == 'Q' ? "--request-timeout" : "--keep-alive-timeout", optarg);
                goto out;
            }
            *(c == 'Q' ? &options.request_timeout_ms : &options.keep_alive_timeout_ms) = (int)ms;
            break;
        }
        case 'c': config_path = optarg; break;
        case 'k': key_path = optarg; break;
        case 'K': cache_path = optarg; break;
        case 'N': no_cache = true; break;
        case 's':
            if (add_setting(settings, optarg))
                goto out;
            break;
        case 'f': {
            json_t *rule = idp_fault_parse_compact(optarg, &err);
            if (!rule) {
                fprintf(stderr, "fakeidp serve: %s\n", err.message);
                goto out;
            }
            json_array_append_new(faults, rule);
            break;
        }
        case 'S': {
            unsigned long long seed;
            if (!cli_parse_seed("serve", optarg, &seed))
                goto out;
            options.seed = seed;
            break;
        }
        case 't': options.tls_cert = optarg; break;
        case 'R': options.allow_remote = true; break;
        case 'A': options.admin_token = optarg; break;
        case 'L': log_format = optarg; break;
        case 'h': serve_usage(stdout); status = 0; goto out;
        default: serve_usage(stderr); goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fakeidp serve: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (log_format && strcmp(log_format, "text") != 0 && strcmp(log_format, "json") != 0) {
        fprintf(stderr, "fakeidp serve: --log-format is text or json\n");
        goto out;
    }
    config = config_path ? cli_load_json_file(config_path) : json_object();
    if (!config)
        goto out;
    if (!json_is_object(config)) {
        fprintf(stderr, "%s: the configuration must be a JSON object\n", config_path);
        goto out;
    }
    /* Flags win over the file. */
    if (json_object_size(settings)) {
        json_t *merged = json_object_get(config, "settings");
        if (!merged)
            json_object_set_new(config, "settings", merged = json_object());
        json_object_update(merged, settings);
    }
    if (json_array_size(faults)) {
        json_t *existing = json_object_get(config, "faults");
        if (!existing)
            json_object_set_new(config, "faults", existing = json_array());
        json_array_extend(existing, faults);
    }
    char default_cache[1024];
    idp_default_key_cache_path(default_cache, sizeof(default_cache));
    if (key_path)
        key = idp_pem_load(key_path, &err);
    else if (no_cache)
        key = idp_rsa_generate(&err);
    else
        key = idp_pem_load_or_generate(cache_path ? cache_path : default_cache, &err);
    if (!key) {
        fprintf(stderr, "fakeidp serve: %s\n", err.message);
        status = 1;
        goto out;
    }
    options.key = key;
    options.config = config;
    char rotation_dir[1024];
    snprintf(rotation_dir, sizeof(rotation_dir), "%s", cache_path ? cache_path : default_cache);
    char *slash = strrchr(rotation_dir, '/');
    if (slash)
        *slash = '\0';
    if (!no_cache && slash)
        options.rotation_key_dir = rotation_dir;
    options.log = log_format ? stderr : NULL;
    options.log_json = log_format && strcmp(log_format, "json") == 0;
    server = idp_server_start(&options, &err);
    if (!server) {
        char text[1024];
        idp_error_format(&err, text, sizeof(text));
        if (config_path && err.status == IDP_INVALID)
            fprintf(stderr, "%s: %s\n", config_path, text);
        else
            fprintf(stderr, "fakeidp serve: %s\n", text);
        status = err.status == IDP_INVALID ? 2 : 1;
        goto out;
    }
    /* Block the stop signals before announcing readiness and wait with
     * sigsuspend: a signal sent right after "listening on" is not lost. */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigset_t block, previous;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &previous);
    printf("listening on %s\n", idp_server_url(server));
    fflush(stdout);
    while (!stop_requested)
        sigsuspend(&previous);
    sigprocmask(SIG_SETMASK, &previous, NULL);
    status = 0;
out:
    idp_server_stop(&server);
    EVP_PKEY_free(key);
    json_decref(config);
    json_decref(settings);
    json_decref(faults);
    return status;
}

json_t *cli_load_json_file(const char *path)
{
    json_error_t jerr;
    json_t *value = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!value)
        fprintf(stderr, "%s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
    return value;
}
