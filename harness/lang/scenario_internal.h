/* What the pieces of the scenario loader share: scenario.c reads a file,
 * checks the document section by section and expands the variants;
 * scenario_sections.c checks the sections that configure a variant, and
 * scenario_crosscheck.c the merged variants. Neither calls back into
 * scenario.c, nor into the step and expectation tables. */
#ifndef HX_SCENARIO_INTERNAL_H
#define HX_SCENARIO_INTERNAL_H

#include <jansson.h>

#include "check.h"
#include "scenario.h"

/* scenario_sections.c: one section at path ("/idp", "/variants/v/target");
 * the same signature as the step and expectation tables' validators. */
enum idp_status hx_section_check_idp(struct hx_check *check, const json_t *idp, const char *path);
enum idp_status hx_section_check_target(struct hx_check *check, const json_t *target,
                                        const char *path);
enum idp_status hx_section_check_browser(struct hx_check *check, const json_t *browser,
                                         const char *path);
enum idp_status hx_section_check_apps(struct hx_check *check, const json_t *apps,
                                      const char *path);
enum idp_status hx_section_check_backends(struct hx_check *check, const json_t *backends,
                                          const char *path);

/* scenario_crosscheck.c: the checks of a merged variant (doc). steps_path
 * is the JSON pointer of its steps ("/steps", or "/variants/v/steps" when
 * the variant has steps of its own); variant its name, or NULL for the base
 * or a file without variants; own the variant's own section (NULL for the
 * base), so that errors point where the file says the thing. Errors are
 * recorded in check. */
/* The users sign_in and spa_sign_in steps name exist at the fake. */
void hx_crosscheck_users(struct hx_check *check, const json_t *doc, const char *steps_path);
/* Locations and instances, host names served by one app only, client ids
 * fakeidp knows, the app "expect.app" names. */
void hx_crosscheck_world(struct hx_check *check, const json_t *doc, const char *steps_path,
                         const char *variant);
/* Backends: each served by a reference app it names (or the target), not
 * named as an app, and every one a step or an expectation names declared. */
void hx_crosscheck_backends(struct hx_check *check, const json_t *doc, const json_t *own,
                            const char *variant);

#endif
