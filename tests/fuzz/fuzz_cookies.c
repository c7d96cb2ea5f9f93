/* The browser model's cookie jar: each input line is a Set-Cookie header
 * applied with hx_jar_set under a URL, context and browser profile chosen by
 * the input's first byte; then the Cookie header for several URLs and
 * contexts (hx_jar_header), lookups and counts. */
#include <stdlib.h>
#include <string.h>

#include "cookies.h"
#include "fuzz.h"

static const char *const urls[] = {
    "http://localhost:3000/callback", "https://app.example.test/a/b/c?x=1",
    "http://127.0.0.1:8787/user_management/authenticate", "https://idp.example.test/",
    "http://app.test/", "https://sub.app.example.test/a", "http://[::1]:9/x",
    "https://example.test"};
#define URL_COUNT (sizeof(urls) / sizeof(urls[0]))

static struct hx_url parsed[URL_COUNT];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < URL_COUNT; i++)
        if (!hx_url_parse(urls[i], &parsed[i]))
            abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned sel = data[0];
    char *text = fuzz_text(data + 1, size - 1);
    struct hx_cookie_rules rules = {
        .profile = (enum hx_profile)(sel % 3),
        .block_third_party = (sel & 4) != 0,
        .max_bytes = (sel & 8) ? 64 : 0,
        .secure_hosts = (sel & 16) ? "app.test,localhost" : NULL,
    };
    const struct hx_url *url = &parsed[(sel >> 5) % URL_COUNT];
    struct hx_request_context ctx = {
        .site_for_cookies = (sel & 32) ? &parsed[1] : NULL,
        .top_level_navigation = (sel & 64) != 0,
        .safe_method = (sel & 128) != 0,
    };
    int64_t now = 1768478400000LL;
    struct hx_jar jar;
    hx_jar_init(&jar);
    char *save = NULL;
    size_t lines = 0;
    for (char *line = strtok_r(text, "\n", &save); line && lines < 64;
         line = strtok_r(NULL, "\n", &save), lines++) {
        char name[128], why[256];
        enum hx_cookie_change change =
            hx_jar_set(&jar, line, url, (lines & 1) ? &ctx : NULL, &rules, now, name,
                       sizeof(name), why, sizeof(why));
        if (change != HX_COOKIE_SET && change != HX_COOKIE_DELETED &&
            change != HX_COOKIE_REJECTED)
            abort();
        if (!memchr(why, '\0', sizeof(why)) || !memchr(name, '\0', sizeof(name)))
            abort();
        now += 1000;
    }
    for (size_t i = 0; i < URL_COUNT; i++) {
        struct hx_request_context contexts[3] = {
            {0},
            {.site_for_cookies = &parsed[(i + 1) % URL_COUNT], .top_level_navigation = true,
             .safe_method = true},
            {.site_for_cookies = &parsed[(i + 3) % URL_COUNT], .from_script = true}};
        for (int c = 0; c < 3; c++) {
            char *header = hx_jar_header(&jar, &parsed[i], c ? &contexts[c] : NULL, &rules, now);
            if (!header)
                abort();
            free(header);
        }
    }
    for (size_t i = 0; i < jar.count; i++) {
        const char *name = jar.items[i].name;
        if (!name || !jar.items[i].value)
            abort();
        (void)hx_jar_find(&jar, name, url, now);
        (void)hx_jar_find(&jar, name, NULL, now + 86400000LL);
        if (hx_jar_count(&jar, name, now) > jar.count)
            abort();
    }
    if (jar.count) {
        char *first = strdup(jar.items[0].name);
        if (!first)
            abort();
        hx_jar_remove_all(&jar, first);
        if (hx_jar_count(&jar, first, INT64_MIN) != 0)
            abort();
        free(first);
    }
    hx_jar_cleanup(&jar);
    free(text);
    return 0;
}
