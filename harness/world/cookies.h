/* A cookie jar after RFC 6265bis as Chromium applies it (checked case by case
 * against real headless Chromium by tests/browser), with the differences
 * between browser profiles that cause real logouts: the 4096-byte limit,
 * Secure cookies over http (allowed from localhost by Chromium and Firefox,
 * not WebKit), schemeful SameSite on cross-site requests (Lax-allowing-unsafe
 * for young default cookies), third-party blocking, __Secure-/__Host-
 * prefixes, Secure cookies an http response cannot overwrite, Domain against
 * the public suffix list, Path matching, Expires/Max-Age (capped at 400 days)
 * and deletion. Every accept/reject decision comes with a reason, so a
 * scenario's timeline can say why a cookie vanished. */
#ifndef HX_COOKIES_H
#define HX_COOKIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "url.h"

enum hx_samesite { HX_SAMESITE_DEFAULT, HX_SAMESITE_LAX, HX_SAMESITE_STRICT, HX_SAMESITE_NONE };

enum hx_profile { HX_CHROMIUM, HX_FIREFOX, HX_WEBKIT };

struct hx_cookie_rules {
    enum hx_profile profile;
    bool block_third_party; /* cookies in cross-site subrequests are dropped */
    size_t max_bytes;       /* name + value; 4096 in every engine */
    const char *secure_hosts; /* comma-separated hosts counted as https, or NULL */
};

struct hx_cookie {
    char *name;
    char *value;
    char domain[256];
    bool host_only;
    char path[1025]; /* a Path attribute over 1024 bytes is ignored */
    bool secure;
    bool http_only;
    enum hx_samesite same_site;
    int64_t expires_ms; /* INT64_MAX: a session cookie */
    int64_t created_ms;
};

struct hx_jar {
    struct hx_cookie *items;
    size_t count;
};

/* The context of a request, for SameSite and third-party rules. For a
 * top-level navigation site_for_cookies is its initiator (the page that
 * started it, the same for every hop of its redirect chain; NULL for a typed
 * URL); for a subrequest or a frame, the top-level page. */
struct hx_request_context {
    const struct hx_url *site_for_cookies; /* NULL: same-site */
    bool top_level_navigation;
    bool safe_method; /* GET or HEAD */
    bool from_script; /* document.cookie access (HttpOnly cookies invisible) */
};

void hx_jar_init(struct hx_jar *jar);
void hx_jar_cleanup(struct hx_jar *jar);
void hx_jar_clear(struct hx_jar *jar);

enum hx_cookie_change { HX_COOKIE_SET, HX_COOKIE_DELETED, HX_COOKIE_REJECTED };

/* Applies one Set-Cookie header received from url. Returns what happened and
 * writes a reason ("exceeds 4096 bytes", "Secure cookie from an insecure
 * origin", ...) or a description into why. name_out gets the cookie name. */
enum hx_cookie_change hx_jar_set(struct hx_jar *jar, const char *header, const struct hx_url *url,
                                 const struct hx_request_context *ctx,
                                 const struct hx_cookie_rules *rules, int64_t now_ms,
                                 char *name_out, size_t name_size, char *why, size_t why_size);

/* The Cookie header for a request to url (malloc'd, possibly empty; a cookie
 * with an empty name is sent as its value alone). */
char *hx_jar_header(const struct hx_jar *jar, const struct hx_url *url,
                    const struct hx_request_context *ctx, const struct hx_cookie_rules *rules,
                    int64_t now_ms);

/* A cookie by name visible for url (ignoring context), or NULL. */
const struct hx_cookie *hx_jar_find(const struct hx_jar *jar, const char *name,
                                    const struct hx_url *url, int64_t now_ms);
/* How long a cookie without SameSite may still be sent on a cross-site
 * top-level POST after it was created (Chromium's Lax-allowing-unsafe). */
#define HX_LAX_UNSAFE_MS (INT64_C(2) * 60 * 1000)
/* Number of cookies named `name` stored for any domain. */
size_t hx_jar_count(const struct hx_jar *jar, const char *name, int64_t now_ms);
/* Writes (sets or deletes) a cookie as script would (document.cookie). */
void hx_jar_remove_all(struct hx_jar *jar, const char *name);

#endif
