/* The HTML report's swimlane diagram of one variant (swimlanes.c). */
#ifndef HX_SWIMLANES_H
#define HX_SWIMLANES_H

#include <stdio.h>

#include "runner.h"

/* Writes r's diagram (a grid of divs; the page's style sheet draws it) to f. */
void hx_swimlanes_write(FILE *f, const struct hx_result *r);

#endif
