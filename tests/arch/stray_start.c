/* call_graph_detects_a_stray_start: starts a CivetWeb server without
 * fakeidp/mg_lifecycle.c (CivetWeb's library not initialised first). */
#include <civetweb.h>

struct mg_context *stray_start(void);

struct mg_context *stray_start(void)
{
    static const char *options[] = {"listening_ports", "127.0.0.1:0", NULL};
    return mg_start(NULL, NULL, options);
}
