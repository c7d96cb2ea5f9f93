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

/* What the command line asks for. settings and faults (owned) are the
 * --set and --fault flags, which win over the configuration file. */
struct serve_command {
    struct idp_server_options options;
    const char *config_path, *key_path, *cache_path, *log_format;
    bool no_cache;
    json_t *settings, *faults;
};

/* Reads the options into cmd (whose settings and faults the caller frees,
 * whatever this returns). Returns -1 to go on, else the exit status (0
 * after --help, 2 a usage error). */
static int parse_serve_options(int argc, char **argv, struct serve_command *cmd)
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
    struct idp_server_options *options = &cmd->options;
    struct idp_error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': options->host = optarg; break;
        case 'p':
        case 'T': {
            long long n;
            if (!cli_parse_number("serve", c == 'p' ? "--port" : "--threads", optarg,
                                  c == 'p' ? 0 : 1, c == 'p' ? 65535 : IDP_MAX_THREADS, &n))
                return 2;
            *(c == 'p' ? &options->port : &options->threads) = (int)n;
            break;
        }
        case 'Q':
        case 'I': {
            int64_t ms;
            if (!idp_duration_parse(optarg, &ms) || ms < 1 || ms > 3600000) {
                fprintf(stderr, "fakeidp serve: %s takes a duration from 1ms to 1h, got '%s'\n",
                        c == 'Q' ? "--request-timeout" : "--keep-alive-timeout", optarg);
                return 2;
            }
            *(c == 'Q' ? &options->request_timeout_ms : &options->keep_alive_timeout_ms) = (int)ms;
            break;
        }
        case 'c': cmd->config_path = optarg; break;
        case 'k': cmd->key_path = optarg; break;
        case 'K': cmd->cache_path = optarg; break;
        case 'N': cmd->no_cache = true; break;
        case 's':
            if (add_setting(cmd->settings, optarg))
                return 2;
            break;
        case 'f': {
            json_t *rule = idp_fault_parse_compact(optarg, &err);
            if (!rule) {
                fprintf(stderr, "fakeidp serve: %s\n", err.message);
                return 2;
            }
            json_array_append_new(cmd->faults, rule);
            break;
        }
        case 'S': {
            unsigned long long seed;
            if (!cli_parse_seed("serve", optarg, &seed))
                return 2;
            options->seed = seed;
            break;
        }
        case 't': options->tls_cert = optarg; break;
        case 'R': options->allow_remote = true; break;
        case 'A': options->admin_token = optarg; break;
        case 'L': cmd->log_format = optarg; break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fakeidp serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (cmd->log_format && strcmp(cmd->log_format, "text") != 0 &&
        strcmp(cmd->log_format, "json") != 0) {
        fprintf(stderr, "fakeidp serve: --log-format is text or json\n");
        return 2;
    }
    return -1;
}

/* The configuration: the file's (or an empty one), with the --set and
 * --fault flags on top. NULL when the file cannot be read (said on stderr). */
static json_t *load_config(const struct serve_command *cmd)
{
    json_t *config = cmd->config_path ? cli_load_json_file(cmd->config_path) : json_object();
    if (!config)
        return NULL;
    if (!json_is_object(config)) {
        fprintf(stderr, "%s: the configuration must be a JSON object\n", cmd->config_path);
        json_decref(config);
        return NULL;
    }
    if (json_object_size(cmd->settings)) {
        json_t *merged = json_object_get(config, "settings");
        if (!merged)
            json_object_set_new(config, "settings", merged = json_object());
        json_object_update(merged, cmd->settings);
    }
    if (json_array_size(cmd->faults)) {
        json_t *existing = json_object_get(config, "faults");
        if (!existing)
            json_object_set_new(config, "faults", existing = json_array());
        json_array_extend(existing, cmd->faults);
    }
    return config;
}

/* The signing key: --key, a fresh one (--no-key-cache), or the cached one.
 * rotation_dir gets the folder of the key cache; *cached says whether
 * rotation keys are cached there. */
static EVP_PKEY *load_key(const struct serve_command *cmd, char *rotation_dir, size_t size,
                          bool *cached, struct idp_error *err)
{
    char default_cache[1024];
    idp_default_key_cache_path(default_cache, sizeof(default_cache));
    EVP_PKEY *key;
    if (cmd->key_path)
        key = idp_pem_load(cmd->key_path, err);
    else if (cmd->no_cache)
        key = idp_rsa_generate(err);
    else
        key = idp_pem_load_or_generate(cmd->cache_path ? cmd->cache_path : default_cache, err);
    snprintf(rotation_dir, size, "%s", cmd->cache_path ? cmd->cache_path : default_cache);
    char *slash = strrchr(rotation_dir, '/');
    if (slash)
        *slash = '\0';
    *cached = !cmd->no_cache && slash;
    return key;
}

/* Says "listening on" and waits for SIGINT or SIGTERM. The stop signals
 * are blocked before readiness is announced and awaited with sigsuspend:
 * a signal sent right after "listening on" is not lost. */
static void serve_until_stopped(struct idp_server *server)
{
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
}

int cli_serve(int argc, char **argv)
{
    struct serve_command cmd = {.options = {.port = IDP_DEFAULT_PORT},
                                .settings = json_object(), .faults = json_array()};
    json_t *config = NULL;
    EVP_PKEY *key = NULL;
    struct idp_server *server = NULL;
    struct idp_server_options *options = &cmd.options;
    struct idp_error err = {0};
    char rotation_dir[1024];
    bool cached = false;
    int status = parse_serve_options(argc, argv, &cmd);
    if (status >= 0)
        goto out;
    status = 2;
    if (!(config = load_config(&cmd)))
        goto out;
    if (!(key = load_key(&cmd, rotation_dir, sizeof(rotation_dir), &cached, &err))) {
        fprintf(stderr, "fakeidp serve: %s\n", err.message);
        status = 1;
        goto out;
    }
    options->key = key;
    options->config = config;
    if (cached)
        options->rotation_key_dir = rotation_dir;
    options->log = cmd.log_format ? stderr : NULL;
    options->log_json = cmd.log_format && strcmp(cmd.log_format, "json") == 0;
    server = idp_server_start(options, &err);
    if (!server) {
        char text[1024];
        idp_error_format(&err, text, sizeof(text));
        if (cmd.config_path && err.status == IDP_INVALID)
            fprintf(stderr, "%s: %s\n", cmd.config_path, text);
        else
            fprintf(stderr, "fakeidp serve: %s\n", text);
        status = err.status == IDP_INVALID ? 2 : 1;
        goto out;
    }
    serve_until_stopped(server);
    status = 0;
out:
    idp_server_stop(&server);
    EVP_PKEY_free(key);
    json_decref(config);
    json_decref(cmd.settings);
    json_decref(cmd.faults);
    return status;
}
