#include <stdio.h>

#include "commands.h"

int cli_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "fakeidp run: the scenario runner is not built yet\n");
    return 2;
}

int cli_lint(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "fakeidp lint: the scenario runner is not built yet\n");
    return 2;
}
