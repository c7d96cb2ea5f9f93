/* URLs as the browser model needs them: scheme, host, port, path, query, and
 * the schemeful "site" (scheme and registrable domain, from the public suffix list through
 * libpsl) that SameSite and third-party cookie rules compare. */
#ifndef HX_URL_H
#define HX_URL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct hx_url {
    char scheme[8];  /* http or https */
    char host[256];  /* lowercase, no brackets */
    int port;
    char path[1024]; /* starts with '/' */
    char query[2048];
};

/* An application/x-www-form-urlencoded body from a JSON object of strings
 * (malloc'd; NULL when out of memory). */
char *hx_form_encode(const json_t *fields);

/* Parses an absolute URL; false for anything else. */
bool hx_url_parse(const char *text, struct hx_url *out);
/* Resolves a Location (absolute, or absolute-path) against base. */
bool hx_url_resolve(const struct hx_url *base, const char *location, struct hx_url *out);
/* "http://host:port" */
void hx_url_origin(const struct hx_url *url, char *out, unsigned size);
/* "http://host:port/path?query" */
void hx_url_format(const struct hx_url *url, char *out, size_t size);
/* The schemeful site: scheme and registrable domain ("https://app.example.test" ->
 * "https://example.test"); an IP address or a host that is itself a public
 * suffix (localhost) is its own site. http and https are different sites. */
void hx_url_site(const struct hx_url *url, char *out, unsigned size);
bool hx_url_same_site(const struct hx_url *a, const struct hx_url *b);
/* A public suffix ("test", "github.io", "localhost"): no Domain cookie for it. */
bool hx_url_is_public_suffix(const char *host);
/* An IPv4 or IPv6 address literal. */
bool hx_url_is_ip(const char *host);
/* localhost, *.localhost, 127.0.0.0/8 and ::1: browsers treat http there as
 * potentially trustworthy (Chromium and Firefox; not WebKit for cookies). */
bool hx_url_is_loopback_host(const char *host);

#endif
