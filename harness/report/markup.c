/* Text for the reporters: escaping, the fragment the HTML report gives a
 * variant (which the JUnit report links to), and the replay command. */
#include "markup.h"

#include <stdbool.h>
#include <stdio.h>

/* An id usable in a URL fragment: "v-" and the name with anything but
 * [A-Za-z0-9-_] replaced. */
void hx_report_html_anchor(const struct hx_result *r, char *out, size_t size)
{
    char name[600];
    if (r->repeat_index)
        snprintf(name, sizeof(name), "%s--%s--%d", r->scenario->name, r->variant->name,
                 r->repeat_index + 1);
    else
        snprintf(name, sizeof(name), "%s--%s", r->scenario->name, r->variant->name);
    size_t n = 0;
    n += (size_t)snprintf(out, size, "v-");
    for (const char *p = name; *p && n + 1 < size; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        out[n++] = (char)(ok ? c : '_');
    }
    out[n < size ? n : size - 1] = '\0';
}

/* Text for XML and HTML, in content and in quoted attributes: the markup
 * characters as entities, other control characters (but newline and tab) as
 * numeric references ('?' for all but CR, which XML cannot hold raw). */
void hx_report_escape(FILE *f, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
        switch (*p) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if (*p < 0x20 && *p != '\n' && *p != '\t')
                fprintf(f, "&#x%02x;", *p == '\r' ? 0x0d : 0x3f);
            else
                fputc(*p, f);
        }
    }
}

void hx_report_replay_command(const struct hx_results *results, const struct hx_result *r, char *out,
                              size_t size)
{
    snprintf(out, size, "fakeidp run --seed %llu --filter '%s/%s'%s%s%s %s",
             (unsigned long long)results->seed, r->scenario->name, r->variant->name,
             r->repeat_index ? " --repeat N" : "", results->browser_engine ? " --browser " : "",
             results->browser_engine ? results->browser_engine : "", r->scenario->file);
}
