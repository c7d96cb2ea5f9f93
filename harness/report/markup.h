/* Text for the reporters (report.c's console, TAP, JUnit and JSON,
 * report_html.c and swimlanes.c). */
#ifndef HX_MARKUP_H
#define HX_MARKUP_H

#include <stddef.h>
#include <stdio.h>

#include "runner.h"

/* Escapes text for XML and HTML (content and quoted attributes). */
void hx_report_escape(FILE *f, const char *text);
/* The fragment ("v-…") the HTML report gives a variant. */
void hx_report_html_anchor(const struct hx_result *r, char *out, size_t size);
/* The command that replays one variant, as every reporter prints it: the
 * run's seed, a filter naming the variant, --repeat and --browser when the
 * run had them, and the variant's file. */
void hx_report_replay_command(const struct hx_results *results, const struct hx_result *r, char *out,
                              size_t size);

#endif
