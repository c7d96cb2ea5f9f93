/* Text for the XML and HTML reporters (report.c's JUnit, report_html.c and
 * swimlanes.c). */
#ifndef HX_MARKUP_H
#define HX_MARKUP_H

#include <stddef.h>
#include <stdio.h>

#include "runner.h"

/* Escapes text for XML and HTML (content and quoted attributes). */
void hx_report_escape(FILE *f, const char *text);
/* The fragment ("v-…") the HTML report gives a variant. */
void hx_report_html_anchor(const struct hx_result *r, char *out, size_t size);

#endif
