#include "url.h"

#include <ctype.h>
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool hx_url_parse(const char *text, struct hx_url *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = strstr(text, "://");
    if (!p || p - text >= (long)sizeof(out->scheme))
        return false;
    snprintf(out->scheme, sizeof(out->scheme), "%.*s", (int)(p - text), text);
    for (char *c = out->scheme; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(out->scheme, "http") != 0 && strcmp(out->scheme, "https") != 0)
        return false;
    p += 3;
    const char *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (!host_end)
            return false;
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(host_end - p - 1), p + 1);
        host_end++;
    } else {
        host_end = p + strcspn(p, ":/?#");
        if ((size_t)(host_end - p) >= sizeof(out->host))
            return false;
        snprintf(out->host, sizeof(out->host), "%.*s", (int)(host_end - p), p);
    }
    if (!out->host[0])
        return false;
    for (char *c = out->host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    out->port = strcmp(out->scheme, "https") == 0 ? 443 : 80;
    p = host_end;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port <= 0 || port > 65535)
            return false;
        out->port = (int)port;
        p = end;
    }
    size_t path_len = strcspn(p, "?#");
    if (path_len >= sizeof(out->path))
        return false;
    snprintf(out->path, sizeof(out->path), "%.*s", (int)path_len, p);
    if (!out->path[0])
        strcpy(out->path, "/");
    p += path_len;
    if (*p == '?') {
        size_t q = strcspn(p + 1, "#");
        if (q >= sizeof(out->query))
            return false;
        snprintf(out->query, sizeof(out->query), "%.*s", (int)q, p + 1);
    }
    return out->path[0] == '/';
}

bool hx_url_resolve(const struct hx_url *base, const char *location, struct hx_url *out)
{
    if (strstr(location, "://"))
        return hx_url_parse(location, out);
    if (location[0] != '/')
        return false;
    char origin[400], full[3500];
    hx_url_origin(base, origin, sizeof(origin));
    snprintf(full, sizeof(full), "%s%s", origin, location);
    return hx_url_parse(full, out);
}

void hx_url_origin(const struct hx_url *url, char *out, unsigned size)
{
    bool default_port = (strcmp(url->scheme, "http") == 0 && url->port == 80) ||
                        (strcmp(url->scheme, "https") == 0 && url->port == 443);
    bool v6 = strchr(url->host, ':') != NULL;
    if (default_port)
        snprintf(out, size, v6 ? "%s://[%s]" : "%s://%s", url->scheme, url->host);
    else
        snprintf(out, size, v6 ? "%s://[%s]:%d" : "%s://%s:%d", url->scheme, url->host, url->port);
}

void hx_url_format(const struct hx_url *url, char *out, size_t size)
{
    char origin[400];
    hx_url_origin(url, origin, sizeof(origin));
    snprintf(out, size, "%s%s%s%s", origin, url->path, url->query[0] ? "?" : "", url->query);
}

static bool is_ip(const char *host)
{
    return strchr(host, ':') || strspn(host, "0123456789.") == strlen(host);
}

/* The public suffix list compiled into libpsl (Debian builds it from the
 * publicsuffix package); its implicit "*" rule makes an unknown top-level
 * label such as "test" a public suffix, as in browsers. */
static const char *registrable_domain(const char *host)
{
    const psl_ctx_t *psl = psl_builtin();
    return psl ? psl_registrable_domain(psl, host) : NULL;
}

void hx_url_site(const struct hx_url *url, char *out, unsigned size)
{
    const char *domain = is_ip(url->host) ? NULL : registrable_domain(url->host);
    snprintf(out, size, "%s://%s", url->scheme, domain ? domain : url->host);
}

bool hx_url_same_site(const struct hx_url *a, const struct hx_url *b)
{
    char sa[300], sb[300];
    hx_url_site(a, sa, sizeof(sa));
    hx_url_site(b, sb, sizeof(sb));
    return strcmp(sa, sb) == 0;
}

bool hx_url_is_public_suffix(const char *host)
{
    const psl_ctx_t *psl = psl_builtin();
    return !is_ip(host) && psl && psl_is_public_suffix(psl, host);
}

bool hx_url_is_ip(const char *host)
{
    return is_ip(host);
}

bool hx_url_is_loopback_host(const char *host)
{
    size_t len = strlen(host);
    return strcmp(host, "localhost") == 0 ||
           (len > 10 && strcmp(host + len - 10, ".localhost") == 0) ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static void form_append(char *out, size_t *used, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || strchr("*-._", *p)) {
            out[(*used)++] = (char)*p;
        } else if (*p == ' ') {
            out[(*used)++] = '+';
        } else {
            out[(*used)++] = '%';
            out[(*used)++] = hex[*p >> 4];
            out[(*used)++] = hex[*p & 15];
        }
    }
}

char *hx_form_encode(const json_t *fields)
{
    size_t size = 1;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)fields, key, value)
        size += 3 * (strlen(key) + strlen(json_string_value(value) ? json_string_value(value) : "")) + 2;
    char *out = malloc(size);
    if (!out)
        return NULL;
    size_t used = 0;
    json_object_foreach((json_t *)fields, key, value) {
        if (used)
            out[used++] = '&';
        form_append(out, &used, key);
        out[used++] = '=';
        form_append(out, &used, json_string_value(value) ? json_string_value(value) : "");
    }
    out[used] = '\0';
    return out;
}
