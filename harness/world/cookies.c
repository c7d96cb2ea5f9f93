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

static int month_index(const char *token)
{
    for (int i = 0; i < 12; i++)
        if (strncasecmp(token, month_names[i], 3) == 0)
            return i;
    return -1;
}

static bool date_delimiter(unsigned char c)
{
    return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) ||
           (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

/* Leading digits of token (at least min, at most max, then a non-digit or
 * the end); -1 if not. */
static int leading_number(const char *token, size_t len, int min, int max)
{
    int n = 0, digits = 0;
    while ((size_t)digits < len && token[digits] >= '0' && token[digits] <= '9' && digits <= max) {
        n = n * 10 + (token[digits] - '0');
        digits++;
    }
    return digits >= min && digits <= max ? n : -1;
}

/* Parses a cookie date by RFC 6265 5.1.1, the tolerant algorithm browsers
 * use: tokens in any order, so "Thu, 01 Jan 1970 00:00:00 GMT", "01-Jan-70",
 * and JavaScript's Date.toString() ("Wed Oct 21 2037 07:28:00 GMT+0000 (...)")
 * all parse; a 2-digit year 70-99 is 19xx and 00-69 is 20xx. */
static bool parse_cookie_date(const char *text, int64_t *out_ms)
{
    int day = -1, month = -1, year = -1, h = -1, m = -1, sec = -1;
    const char *p = text;
    while (*p) {
        while (*p && date_delimiter((unsigned char)*p))
            p++;
        size_t len = 0;
        while (p[len] && !date_delimiter((unsigned char)p[len]))
            len++;
        if (!len)
            break;
        int a, b, c;
        char tail;
        if (h < 0 && sscanf(p, "%2d:%2d:%2d%c", &a, &b, &c, &tail) >= 3 &&
            leading_number(p, len, 1, 2) >= 0) {
            h = a, m = b, sec = c;
        } else if (day < 0 && leading_number(p, len, 1, 2) >= 0) {
            day = leading_number(p, len, 1, 2);
        } else if (month < 0 && len >= 3 && month_index(p) >= 0) {
            month = month_index(p);
        } else if (year < 0 && leading_number(p, len, 2, 4) >= 0) {
            year = leading_number(p, len, 2, 4);
        }
        p += len;
    }
    if (year >= 70 && year <= 99)
        year += 1900;
    else if (year >= 0 && year <= 69)
        year += 2000;
    if (day < 1 || day > 31 || month < 0 || year < 1601 || h < 0 || h > 23 || m > 59 || sec > 59)
        return false;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month, .tm_mday = day,
                    .tm_hour = h, .tm_min = m, .tm_sec = sec};
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

/* Schemeful: http://app.test and https://app.test are different sites. */
static bool cross_site(const struct hx_url *url, const struct hx_request_context *ctx)
{
    return ctx && ctx->site_for_cookies && !hx_url_same_site(url, ctx->site_for_cookies);
}

/* Whether a cookie may be sent (setting = false) or set in this context
 * under SameSite and third-party blocking, as Chromium decides: a top-level
 * navigation may set every cookie (the response is the new top-level page);
 * it sends Strict only when its initiator is same-site, Lax and default
 * cookies on a cross-site GET, and default cookies younger than two minutes
 * on a cross-site POST (Lax-allowing-unsafe). A cross-site subrequest sees
 * only SameSite=None, and nothing when third-party cookies are blocked. */
static bool samesite_allows(const struct hx_cookie *c, const struct hx_url *url,
                            const struct hx_request_context *ctx,
                            const struct hx_cookie_rules *rules, bool setting, int64_t now_ms,
                            const char **why)
{
    if (!cross_site(url, ctx))
        return true;
    bool navigation = ctx->top_level_navigation;
    if (rules->block_third_party && !navigation) {
        *why = "third-party cookie blocked";
        return false;
    }
    if (navigation && setting)
        return true;
    if (c->same_site == HX_SAMESITE_NONE)
        return true;
    if (c->same_site == HX_SAMESITE_STRICT) {
        *why = "SameSite=Strict on a cross-site request";
        return false;
    }
    if (navigation && ctx->safe_method)
        return true; /* Lax, and Lax by default */
    if (navigation && c->same_site == HX_SAMESITE_DEFAULT && now_ms - c->created_ms < HX_LAX_UNSAFE_MS)
        return true;
    *why = navigation ? "SameSite=Lax on a cross-site POST" : "SameSite=Lax on a cross-site subrequest";
    return false;
}

static void remove_at(struct hx_jar *jar, size_t i)
{
    cookie_free(&jar->items[i]);
    memmove(&jar->items[i], &jar->items[i + 1], (jar->count - i - 1) * sizeof(jar->items[0]));
    jar->count--;
}

static bool has_prefix(const char *name, const char *prefix)
{
    return strncasecmp(name, prefix, strlen(prefix)) == 0;
}

/* The Domain attribute against the request host (RFC 6265bis 5.7 steps
 * 9-10, with Chromium's public suffix rule): a Domain equal to the host
 * (localhost, an IP address, a public suffix) gives a host-only cookie; one
 * that does not cover the host, is a public suffix, or is set from an IP
 * address rejects the cookie. */
static bool apply_domain(struct hx_cookie *c, const char *value, const struct hx_url *url,
                         char *why, size_t why_size)
{
    char domain[256];
    snprintf(domain, sizeof(domain), "%s", value[0] == '.' ? value + 1 : value);
    for (char *d = domain; *d; d++)
        *d = (char)tolower((unsigned char)*d);
    if (strcmp(domain, url->host) == 0 &&
        (hx_url_is_ip(url->host) || hx_url_is_public_suffix(domain)))
        return true; /* host-only */
    if (hx_url_is_ip(url->host) || !domain_match(url->host, domain)) {
        snprintf(why, why_size, "Domain=%s does not cover %s", domain, url->host);
        return false;
    }
    if (hx_url_is_public_suffix(domain)) {
        snprintf(why, why_size, "Domain=%s is a public suffix", domain);
        return false;
    }
    snprintf(c->domain, sizeof(c->domain), "%s", domain);
    c->host_only = false;
    return true;
}

/* __Secure- needs Secure from a secure origin; __Host- also no Domain and
 * Path=/. Names compare case-insensitively, and a nameless cookie whose
 * value carries a prefix is refused too (RFC 6265bis 5.7 steps 20-21). */
static const char *prefix_violation(const struct hx_cookie *c, bool secure_origin)
{
    const char *name = c->name[0] ? c->name : c->value;
    bool host = has_prefix(name, "__Host-"), secure = has_prefix(name, "__Secure-");
    if ((host || secure) && !c->name[0])
        return "a nameless cookie whose value starts with a cookie prefix";
    if ((host || secure) && (!c->secure || !secure_origin))
        return host ? "__Host- cookie without Secure from a secure origin"
                    : "__Secure- cookie without Secure from a secure origin";
    if (host && (!c->host_only || strcmp(c->path, "/") != 0))
        return "__Host- cookie with a Domain or a Path other than /";
    return NULL;
}

/* An insecure origin may not set a cookie that would shadow a Secure one of
 * the same name (RFC 6265bis 5.7 step 16, "leave secure cookies alone"). */
static bool shadows_secure(const struct hx_jar *jar, const struct hx_cookie *c, int64_t now_ms)
{
    for (size_t i = 0; i < jar->count; i++) {
        const struct hx_cookie *o = &jar->items[i];
        if (o->secure && o->expires_ms > now_ms && strcmp(o->name, c->name) == 0 &&
            (domain_match(c->domain, o->domain) || domain_match(o->domain, c->domain)) &&
            path_match(c->path, o->path))
            return true;
    }
    return false;
}

/* The attributes after the name-value pair, into c (RFC 6265bis 5.6-5.7):
 * an attribute value over 1024 bytes is ignored; Max-Age wins over Expires
 * wherever it stands, both capped at 400 days. False (why says so) when
 * the Domain rejects the cookie. */
static bool apply_attributes(struct hx_cookie *c, char *attrs, const struct hx_url *url,
                             int64_t now_ms, char *why, size_t why_size)
{
    bool have_max_age = false, have_expires = false;
    int64_t max_age_at = 0, expires_at = 0;
    char *save = NULL;
    for (char *attr = strtok_r(attrs, ";", &save); attr; attr = strtok_r(NULL, ";", &save)) {
        char *aeq = strchr(attr, '=');
        char *aval = "";
        if (aeq) {
            *aeq = '\0';
            aval = trim(aeq + 1);
        }
        char *aname = trim(attr);
        if (strlen(aval) > 1024)
            continue;
        if (strcasecmp(aname, "Secure") == 0) {
            c->secure = true;
        } else if (strcasecmp(aname, "HttpOnly") == 0) {
            c->http_only = true;
        } else if (strcasecmp(aname, "Path") == 0) {
            if (aval[0] == '/')
                snprintf(c->path, sizeof(c->path), "%s", aval);
            else
                default_path(url, c->path, sizeof(c->path));
        } else if (strcasecmp(aname, "Domain") == 0 && *aval) {
            if (!apply_domain(c, aval, url, why, why_size))
                return false;
        } else if (strcasecmp(aname, "Max-Age") == 0) {
            char *end;
            long long secs = strtoll(aval, &end, 10);
            if (*aval && !*end && (isdigit((unsigned char)aval[0]) || aval[0] == '-')) {
                have_max_age = true;
                max_age_at = secs <= 0 ? INT64_MIN
                             : secs > 400LL * 86400 ? now_ms + 400LL * 86400 * 1000
                                                     : now_ms + secs * 1000;
            }
        } else if (strcasecmp(aname, "Expires") == 0) {
            int64_t at;
            if (parse_cookie_date(aval, &at)) {
                have_expires = true;
                expires_at = at <= now_ms ? INT64_MIN : at;
            }
        } else if (strcasecmp(aname, "SameSite") == 0) {
            c->same_site = strcasecmp(aval, "strict") == 0 ? HX_SAMESITE_STRICT
                           : strcasecmp(aval, "none") == 0 ? HX_SAMESITE_NONE
                           : strcasecmp(aval, "lax") == 0  ? HX_SAMESITE_LAX
                                                           : HX_SAMESITE_DEFAULT;
        }
    }
    if (have_max_age)
        c->expires_ms = max_age_at;
    else if (have_expires)
        c->expires_ms = expires_at == INT64_MIN || expires_at - now_ms <= 400LL * 86400 * 1000
                            ? expires_at
                            : now_ms + 400LL * 86400 * 1000;
    return true;
}

/* Whether the browser refuses to store c from url (why says why): Secure
 * over an insecure origin, a cookie prefix broken, SameSite=None without
 * Secure, a cross-site context SameSite forbids, or an insecure origin
 * shadowing a Secure cookie. */
static bool refused(const struct hx_jar *jar, const struct hx_cookie *c, const struct hx_url *url,
                    const struct hx_request_context *ctx, const struct hx_cookie_rules *rules,
                    int64_t now_ms, char *why, size_t why_size)
{
    bool secure_origin = origin_secure(url, rules);
    if (c->secure && !secure_origin) {
        snprintf(why, why_size, "Secure cookie %s set over http://%s (%s)", c->name, url->host,
                 rules->profile == HX_WEBKIT ? "WebKit accepts Secure only over https"
                                             : "not a loopback host");
        return true;
    }
    const char *prefix = prefix_violation(c, secure_origin);
    if (prefix) {
        snprintf(why, why_size, "%s: %s", c->name, prefix);
        return true;
    }
    if (c->same_site == HX_SAMESITE_NONE && !c->secure) {
        snprintf(why, why_size, "SameSite=None cookie %s without Secure", c->name);
        return true;
    }
    const char *blocked = NULL;
    if (!samesite_allows(c, url, ctx, rules, true, now_ms, &blocked)) {
        snprintf(why, why_size, "%s: %s", c->name, blocked);
        return true;
    }
    if (!secure_origin && !c->secure && shadows_secure(jar, c, now_ms)) {
        snprintf(why, why_size, "%s: an http response may not overwrite a Secure cookie", c->name);
        return true;
    }
    return false;
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
    /* The name-value pair: without '=', the whole pair is a nameless value
     * (RFC 6265bis 5.6 step 4); both empty is nothing. */
    char *attrs = copy + strcspn(copy, ";");
    if (*attrs)
        *attrs++ = '\0';
    char *eq = strchr(copy, '=');
    if (eq)
        *eq = '\0';
    char *name = eq ? trim(copy) : "", *value = trim(eq ? eq + 1 : copy);
    if (!*name && !*value) {
        snprintf(why, why_size, "empty cookie name and value");
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
    if (!c.name || !c.value) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    c.expires_ms = INT64_MAX;
    c.created_ms = now_ms;
    c.host_only = true;
    snprintf(c.domain, sizeof(c.domain), "%s", url->host);
    default_path(url, c.path, sizeof(c.path));
    if (!apply_attributes(&c, attrs, url, now_ms, why, why_size) ||
        refused(jar, &c, url, ctx, rules, now_ms, why, why_size))
        goto out;
    /* Replace an existing cookie with the same name, domain and path. */
    for (size_t i = 0; i < jar->count; i++) {
        struct hx_cookie *o = &jar->items[i];
        if (strcmp(o->name, c.name) == 0 && strcasecmp(o->domain, c.domain) == 0 &&
            o->host_only == c.host_only && strcmp(o->path, c.path) == 0) {
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
    const struct hx_cookie **order = malloc((jar->count + 1) * sizeof(const struct hx_cookie *));
    size_t n = 0;
    for (size_t i = 0; order && i < jar->count; i++) {
        const struct hx_cookie *c = &jar->items[i];
        const char *why;
        if (!visible(c, url, now_ms) || (c->secure && !origin_secure(url, rules)) ||
            (ctx && ctx->from_script && c->http_only) ||
            !samesite_allows(c, url, ctx, rules, false, now_ms, &why))
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
        len += (size_t)snprintf(out + len, cap - len, "%s%s%s%s", len ? "; " : "", order[i]->name,
                                order[i]->name[0] ? "=" : "", order[i]->value);
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
