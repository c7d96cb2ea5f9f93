#include "cookies.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void hx_jar_init(struct hx_jar *jar)
{
    jar->items = NULL;
    jar->count = 0;
}

static void cookie_free(struct hx_cookie *c)
{
    free(c->name);
    free(c->value);
}

void hx_jar_clear(struct hx_jar *jar)
{
    for (size_t i = 0; i < jar->count; i++)
        cookie_free(&jar->items[i]);
    free(jar->items);
    jar->items = NULL;
    jar->count = 0;
}

void hx_jar_cleanup(struct hx_jar *jar)
{
    hx_jar_clear(jar);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec"};

/* Parses an HTTP date ("Thu, 01 Jan 1970 00:00:00 GMT"); false if not. */
static bool parse_http_date(const char *text, int64_t *out_ms)
{
    int day, year, h, m, s;
    char mon[4];
    const char *comma = strchr(text, ',');
    const char *p = comma ? comma + 1 : text;
    if (sscanf(p, " %d %3s %d %d:%d:%d", &day, mon, &year, &h, &m, &s) != 6 &&
        sscanf(p, " %d-%3s-%d %d:%d:%d", &day, mon, &year, &h, &m, &s) != 6)
        return false;
    int month = -1;
    for (int i = 0; i < 12; i++)
        if (strncasecmp(mon, month_names[i], 3) == 0)
            month = i;
    /* RFC 6265 5.1.1: a 2-4 digit year from 1601, and fields in range (a
     * larger year would also overflow the milliseconds below). */
    if (month < 0 || year < 1601 || year > 9999 || day < 1 || day > 31 || h < 0 || h > 23 ||
        m < 0 || m > 59 || s < 0 || s > 59)
        return false;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month, .tm_mday = day,
                    .tm_hour = h, .tm_min = m, .tm_sec = s};
    *out_ms = (int64_t)timegm(&tm) * 1000;
    return true;
}

static bool domain_match(const char *host, const char *domain)
{
    size_t hl = strlen(host), dl = strlen(domain);
    if (hl == dl)
        return strcasecmp(host, domain) == 0;
    return hl > dl && strcasecmp(host + hl - dl, domain) == 0 && host[hl - dl - 1] == '.' &&
           !strchr(host, ':') && strspn(host, "0123456789.") != hl;
}

static bool path_match(const char *request_path, const char *cookie_path)
{
    size_t cl = strlen(cookie_path);
    if (strncmp(request_path, cookie_path, cl) != 0)
        return false;
    return request_path[cl] == '\0' || cookie_path[cl - 1] == '/' || request_path[cl] == '/';
}

static void default_path(const struct hx_url *url, char *out, size_t size)
{
    const char *last = strrchr(url->path, '/');
    if (!last || last == url->path)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%.*s", (int)(last - url->path), url->path);
}

/* Secure cookies need a secure origin; Chromium and Firefox count http on
 * loopback hosts as secure, WebKit does not. */
static bool origin_secure(const struct hx_url *url, const struct hx_cookie_rules *rules)
{
    if (strcmp(url->scheme, "https") == 0)
        return true;
    for (const char *p = rules->secure_hosts; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == strlen(url->host) && strncasecmp(p, url->host, len) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return rules->profile != HX_WEBKIT && hx_url_is_loopback_host(url->host);
}

static bool cross_site(const struct hx_url *url, const struct hx_request_context *ctx)
{
    return ctx && ctx->site_for_cookies && !hx_url_same_site(url, ctx->site_for_cookies);
}

/* Whether a cookie may be sent or set in this context under SameSite and
 * third-party blocking. */
static bool samesite_allows(enum hx_samesite same_site, const struct hx_url *url,
                            const struct hx_request_context *ctx,
                            const struct hx_cookie_rules *rules, bool secure, const char **why)
{
    if (!cross_site(url, ctx))
        return true;
    if (rules->block_third_party && !(ctx && ctx->top_level_navigation)) {
        *why = "third-party cookie blocked";
        return false;
    }
    switch (same_site) {
    case HX_SAMESITE_STRICT:
        *why = "SameSite=Strict on a cross-site request";
        return false;
    case HX_SAMESITE_NONE:
        if (!secure) {
            *why = "SameSite=None without Secure";
            return false;
        }
        return true;
    default: /* Lax, and Lax-by-default */
        if (ctx && ctx->top_level_navigation && ctx->safe_method)
            return true;
        *why = "SameSite=Lax on a cross-site subrequest";
        return false;
    }
}

static void remove_at(struct hx_jar *jar, size_t i)
{
    cookie_free(&jar->items[i]);
    memmove(&jar->items[i], &jar->items[i + 1], (jar->count - i - 1) * sizeof(jar->items[0]));
    jar->count--;
}

enum hx_cookie_change hx_jar_set(struct hx_jar *jar, const char *header, const struct hx_url *url,
                                 const struct hx_request_context *ctx,
                                 const struct hx_cookie_rules *rules, int64_t now_ms,
                                 char *name_out, size_t name_size, char *why, size_t why_size)
{
    enum hx_cookie_change result = HX_COOKIE_REJECTED;
    char *copy = strdup(header ? header : "");
    struct hx_cookie c = {0};
    if (name_out && name_size)
        name_out[0] = '\0';
    if (!copy) {
        snprintf(why, why_size, "out of memory");
        return result;
    }
    char *save = NULL;
    char *pair = strtok_r(copy, ";", &save);
    char *eq = pair ? strchr(pair, '=') : NULL;
    if (!eq) {
        snprintf(why, why_size, "no name=value pair");
        goto out;
    }
    *eq = '\0';
    char *name = trim(pair), *value = trim(eq + 1);
    if (!*name) {
        snprintf(why, why_size, "empty cookie name");
        goto out;
    }
    if (name_out && name_size)
        snprintf(name_out, name_size, "%s", name);
    size_t max = rules->max_bytes ? rules->max_bytes : 4096;
    if (strlen(name) + strlen(value) > max) {
        snprintf(why, why_size, "%s is %zu bytes, over the %zu-byte limit", name,
                 strlen(name) + strlen(value), max);
        goto out;
    }
    c.name = strdup(name);
    c.value = strdup(value);
    c.expires_ms = INT64_MAX;
    c.created_ms = now_ms;
    c.host_only = true;
    snprintf(c.domain, sizeof(c.domain), "%s", url->host);
    default_path(url, c.path, sizeof(c.path));
    bool have_max_age = false;
    for (char *attr = strtok_r(NULL, ";", &save); attr; attr = strtok_r(NULL, ";", &save)) {
        char *aeq = strchr(attr, '=');
        char *aval = "";
        if (aeq) {
            *aeq = '\0';
            aval = trim(aeq + 1);
        }
        char *aname = trim(attr);
        if (strcasecmp(aname, "Secure") == 0) {
            c.secure = true;
        } else if (strcasecmp(aname, "HttpOnly") == 0) {
            c.http_only = true;
        } else if (strcasecmp(aname, "Path") == 0 && aval[0] == '/') {
            snprintf(c.path, sizeof(c.path), "%s", aval);
        } else if (strcasecmp(aname, "Domain") == 0 && *aval) {
            if (*aval == '.')
                aval++;
            if (!domain_match(url->host, aval)) {
                snprintf(why, why_size, "Domain=%s does not cover %s", aval, url->host);
                goto out;
            }
            snprintf(c.domain, sizeof(c.domain), "%s", aval);
            for (char *d = c.domain; *d; d++)
                *d = (char)tolower((unsigned char)*d);
            c.host_only = false;
        } else if (strcasecmp(aname, "Max-Age") == 0) {
            char *end;
            long long secs = strtoll(aval, &end, 10);
            if (*aval && !*end) {
                have_max_age = true;
                c.expires_ms = secs <= 0 ? INT64_MIN
                               : secs > 400LL * 86400 ? now_ms + 400LL * 86400 * 1000
                                                       : now_ms + secs * 1000;
            }
        } else if (strcasecmp(aname, "Expires") == 0 && !have_max_age) {
            int64_t at;
            if (parse_http_date(aval, &at))
                c.expires_ms = at;
        } else if (strcasecmp(aname, "SameSite") == 0) {
            c.same_site = strcasecmp(aval, "strict") == 0 ? HX_SAMESITE_STRICT
                          : strcasecmp(aval, "none") == 0 ? HX_SAMESITE_NONE
                          : strcasecmp(aval, "lax") == 0  ? HX_SAMESITE_LAX
                                                          : HX_SAMESITE_DEFAULT;
        }
    }
    if (c.secure && !origin_secure(url, rules)) {
        snprintf(why, why_size, "Secure cookie %s set over http://%s (%s)", c.name, url->host,
                 rules->profile == HX_WEBKIT ? "WebKit accepts Secure only over https"
                                             : "not a loopback host");
        goto out;
    }
    if (c.same_site == HX_SAMESITE_NONE && !c.secure) {
        snprintf(why, why_size, "SameSite=None cookie %s without Secure", c.name);
        goto out;
    }
    const char *blocked = NULL;
    if (!samesite_allows(c.same_site, url, ctx, rules, c.secure, &blocked)) {
        snprintf(why, why_size, "%s: %s", c.name, blocked);
        goto out;
    }
    /* Replace an existing cookie with the same name, domain and path. */
    for (size_t i = 0; i < jar->count; i++) {
        struct hx_cookie *o = &jar->items[i];
        if (strcmp(o->name, c.name) == 0 && strcasecmp(o->domain, c.domain) == 0 &&
            strcmp(o->path, c.path) == 0) {
            c.created_ms = o->created_ms;
            remove_at(jar, i);
            break;
        }
    }
    if (c.expires_ms <= now_ms) {
        snprintf(why, why_size, "%s deleted", c.name);
        result = HX_COOKIE_DELETED;
        goto out;
    }
    struct hx_cookie *grown = realloc(jar->items, (jar->count + 1) * sizeof(*grown));
    if (!grown) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    jar->items = grown;
    snprintf(why, why_size, "%s set (%zu bytes%s%s%s)", c.name, strlen(c.name) + strlen(c.value),
             c.secure ? ", Secure" : "", c.http_only ? ", HttpOnly" : "",
             c.host_only ? "" : ", Domain");
    jar->items[jar->count++] = c;
    memset(&c, 0, sizeof(c));
    result = HX_COOKIE_SET;
out:
    cookie_free(&c);
    free(copy);
    return result;
}

static bool visible(const struct hx_cookie *c, const struct hx_url *url, int64_t now_ms)
{
    if (c->expires_ms <= now_ms)
        return false;
    if (c->host_only ? strcasecmp(c->domain, url->host) != 0 : !domain_match(url->host, c->domain))
        return false;
    return path_match(url->path, c->path);
}

char *hx_jar_header(const struct hx_jar *jar, const struct hx_url *url,
                    const struct hx_request_context *ctx, const struct hx_cookie_rules *rules,
                    int64_t now_ms)
{
    size_t cap = 1, len = 0;
    for (size_t i = 0; i < jar->count; i++)
        cap += strlen(jar->items[i].name) + strlen(jar->items[i].value) + 3;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    /* Longer paths first, then older cookies first (RFC 6265 5.4). */
    const struct hx_cookie **order = malloc((jar->count + 1) * sizeof(*order));
    size_t n = 0;
    for (size_t i = 0; order && i < jar->count; i++) {
        const struct hx_cookie *c = &jar->items[i];
        const char *why;
        if (!visible(c, url, now_ms) || (c->secure && !origin_secure(url, rules)) ||
            (ctx && ctx->from_script && c->http_only) ||
            !samesite_allows(c->same_site, url, ctx, rules, c->secure, &why))
            continue;
        size_t j = n++;
        while (j > 0 && (strlen(order[j - 1]->path) < strlen(c->path) ||
                         (strlen(order[j - 1]->path) == strlen(c->path) &&
                          order[j - 1]->created_ms > c->created_ms))) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = c;
    }
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s=%s", len ? "; " : "", order[i]->name,
                                order[i]->value);
    free(order);
    return out;
}

const struct hx_cookie *hx_jar_find(const struct hx_jar *jar, const char *name,
                                    const struct hx_url *url, int64_t now_ms)
{
    for (size_t i = 0; i < jar->count; i++)
        if (strcmp(jar->items[i].name, name) == 0 && (!url || visible(&jar->items[i], url, now_ms)) &&
            jar->items[i].expires_ms > now_ms)
            return &jar->items[i];
    return NULL;
}

size_t hx_jar_count(const struct hx_jar *jar, const char *name, int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < jar->count; i++)
        n += strcmp(jar->items[i].name, name) == 0 && jar->items[i].expires_ms > now_ms;
    return n;
}

void hx_jar_remove_all(struct hx_jar *jar, const char *name)
{
    for (size_t i = jar->count; i-- > 0;)
        if (strcmp(jar->items[i].name, name) == 0)
            remove_at(jar, i);
}
