/* fakeidp inspect: decode an access token (and verify it against a JWKS), or
 * unseal an iron wos-session cookie with its password. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "commands.h"
#include "http_client.h"
#include "iron.h"
#include "idp_jwt.h"

#include <civetweb.h>

static void inspect_usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp inspect [TOKEN|-] [--jwks URL|FILE]\n"
            "       fakeidp inspect --cookie SEAL --password PASSWORD\n\n"
            "TOKEN: prints the header and claims with readable times; with --jwks, checks\n"
            "the RS256 signature against the key set (exit 1 if it does not verify).\n"
            "TOKEN may be an Authorization header value (\"Bearer eyJ…\"); '-' or no TOKEN\n"
            "reads it from standard input.\n"
            "A fake's key set is at <url>/sso/jwks/<client_id>.\n"
            "--cookie: opens an iron Fe26.2 seal (the wos-session cookie) and prints its\n"
            "JSON; an access token inside is decoded too.\n");
}

/* The key set from a URL or a file; NULL after saying why on stderr (no
 * answer and the transport's reason, a status other than 200 with the start
 * of its body, a body that is not JSON, or JSON without a "keys" array). */
static json_t *load_jwks(const char *source)
{
    json_t *jwks = NULL;
    if (strncmp(source, "http://", 7) == 0 || strncmp(source, "https://", 8) == 0) {
        struct hx_http_client *client = hx_http_client_new();
        struct hx_http_response resp = {0};
        json_error_t jerr;
        if (!client)
            fprintf(stderr, "fakeidp inspect: cannot fetch %s: out of memory\n", source);
        else if (!hx_http_request(client, "GET", source, NULL, NULL, 0, 5000, &resp) ||
                 !resp.status)
            fprintf(stderr, "fakeidp inspect: cannot fetch %s: %s\n", source,
                    resp.error[0] ? resp.error : "no answer");
        else if (resp.status != 200)
            fprintf(stderr, "fakeidp inspect: cannot fetch %s: it answered %ld: %.200s\n",
                    source, resp.status, resp.body ? resp.body : "");
        else if (!(jwks = json_loadb(resp.body, resp.body_len, 0, &jerr)))
            fprintf(stderr, "fakeidp inspect: %s did not answer JSON: %s\n", source, jerr.text);
        hx_http_response_cleanup(&resp);
        hx_http_client_free(&client);
    } else {
        jwks = cli_load_json_file(source);
    }
    if (jwks && !json_is_array(json_object_get(jwks, "keys"))) {
        fprintf(stderr, "fakeidp inspect: %s is not a key set (no \"keys\" array)\n", source);
        json_decref(jwks);
        jwks = NULL;
    }
    return jwks;
}

/* The token alone: "Bearer " (or a whole "Authorization: Bearer" line) and
 * surrounding white space are dropped. Points into text, which it trims. */
static char *bare_token(char *text)
{
    text += strspn(text, " \t\r\n");
    if (strncasecmp(text, "Authorization:", 14) == 0)
        text += 14 + strspn(text + 14, " \t");
    if (strncasecmp(text, "Bearer", 6) == 0 && (text[6] == ' ' || text[6] == '\t'))
        text += 6 + strspn(text + 6, " \t");
    size_t len = strlen(text);
    while (len && strchr(" \t\r\n", text[len - 1]))
        text[--len] = '\0';
    return text;
}

/* Reads standard input (at most 1 MiB): a malloc'd string, or NULL. */
static char *read_stdin(void)
{
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf)
        return NULL;
    size_t n;
    while (len < cap && (n = fread(buf + len, 1, cap - len, stdin)) > 0)
        len += n;
    buf[len] = '\0';
    return buf;
}

static void add_time(json_t *times, const json_t *claims, const char *name, int64_t now_s)
{
    const json_t *v = json_object_get(claims, name);
    if (!json_is_integer(v))
        return;
    char iso[32];
    idp_format_iso8601(json_integer_value(v) * 1000, iso);
    json_object_set_new(times, name, json_string(iso));
    if (strcmp(name, "exp") == 0)
        json_object_set_new(times, "expires_in_s", json_integer(json_integer_value(v) - now_s));
}

/* Decodes (and maybe verifies) a token into a JSON report; returns 1 when a
 * verification was asked for and failed. */
static int report_token(const char *token, const json_t *jwks, json_t **out)
{
    struct idp_jwt jwt;
    struct idp_error err;
    if (idp_jwt_decode(token, &jwt, &err)) {
        *out = json_pack("{s:s}", "error", err.message);
        return 1;
    }
    json_t *times = json_object();
    int64_t now_s = (int64_t)time(NULL);
    add_time(times, jwt.payload, "iat", now_s);
    add_time(times, jwt.payload, "exp", now_s);
    add_time(times, jwt.payload, "nbf", now_s);
    json_t *report = json_pack("{s:O, s:O, s:o}", "header", jwt.header, "claims", jwt.payload,
                               "times", times);
    int status = 0;
    if (jwks) {
        const char *kid = json_string_value(json_object_get(jwt.header, "kid"));
        const json_t *match = NULL;
        size_t i;
        json_t *k;
        json_array_foreach(json_object_get(jwks, "keys"), i, k) {
            const char *kkid = json_string_value(json_object_get(k, "kid"));
            if (kid && kkid && strcmp(kid, kkid) == 0)
                match = k;
        }
        const char *verdict = "valid";
        char reason[600];
        EVP_PKEY *key = match ? idp_jwk_public_key(match, &err) : NULL;
        if (!match) {
            snprintf(reason, sizeof(reason), "no key with kid %s in the key set", kid ? kid : "(none)");
            verdict = reason;
        } else if (!key || idp_jwt_verify_rs256(&jwt, key, &err)) {
            snprintf(reason, sizeof(reason), "%s", err.message);
            verdict = reason;
        }
        EVP_PKEY_free(key);
        status = strcmp(verdict, "valid") != 0;
        json_object_set_new(report, "signature", json_string(verdict));
    } else {
        json_object_set_new(report, "signature", json_string("not checked (pass --jwks)"));
    }
    idp_jwt_cleanup(&jwt);
    *out = report;
    return status;
}

int cli_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {{"jwks", required_argument, NULL, 'j'},
                                             {"cookie", required_argument, NULL, 'c'},
                                             {"password", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *jwks_source = NULL, *cookie = NULL, *password = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': jwks_source = optarg; break;
        case 'c': cookie = optarg; break;
        case 'p': password = optarg; break;
        case 'h': inspect_usage(stdout); return 0;
        default: inspect_usage(stderr); return 2;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "fakeidp inspect: unexpected argument '%s'\n", argv[optind + 1]);
        return 2;
    }
    const char *given = optind < argc ? argv[optind] : NULL;
    if ((given && cookie) || (cookie && !password)) {
        inspect_usage(stderr);
        return 2;
    }
    char *input = NULL, *copy = NULL, *token = NULL;
    if (!cookie) {
        if (!given || strcmp(given, "-") == 0) {
            if (!given && isatty(STDIN_FILENO)) {
                inspect_usage(stderr);
                return 2;
            }
            input = read_stdin();
            token = input ? bare_token(input) : NULL;
        } else {
            copy = strdup(given);
            token = copy ? bare_token(copy) : NULL;
        }
        if (!token || !*token) {
            fprintf(stderr, "fakeidp inspect: no token given%s\n",
                    given && strcmp(given, "-") != 0 ? "" : " on standard input");
            free(input);
            free(copy);
            return 2;
        }
    }
    json_t *report = NULL;
    int status = 0;
    if (cookie) {
        unsigned char *data = NULL;
        size_t len = 0;
        struct idp_error err;
        char *decoded = strdup(cookie);
        if (decoded)
            mg_url_decode(cookie, (int)strlen(cookie), decoded, (int)strlen(cookie) + 1, 0);
        enum idp_status st = idp_iron_unseal(password, decoded ? decoded : cookie,
                                             idp_wall_now_ms(), &data, &len, &err);
        free(decoded);
        if (st) {
            fprintf(stderr, "fakeidp inspect: cannot unseal: %s\n", err.message);
            return 1;
        }
        json_t *payload = json_loadb((const char *)data, len, 0, NULL);
        free(data);
        if (!payload) {
            fprintf(stderr, "fakeidp inspect: the seal opened but holds no JSON\n");
            return 1;
        }
        report = json_pack("{s:o}", "session", payload);
        const char *at = json_string_value(json_object_get(payload, "accessToken"));
        if (at) {
            json_t *token_report;
            report_token(at, NULL, &token_report);
            json_object_set_new(report, "access_token", token_report);
        }
    } else {
        json_t *jwks = jwks_source ? load_jwks(jwks_source) : NULL;
        if (!jwks_source || jwks)
            status = report_token(token, jwks, &report);
        json_decref(jwks);
        free(input);
        free(copy);
        if (jwks_source && !jwks)
            return 2;
    }
    char *text = json_dumps(report, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(report);
    return status;
}
