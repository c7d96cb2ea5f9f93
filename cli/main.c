/* fakeidp: one executable, one subcommand per job. main only dispatches. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"serve", cli_serve, "run the fake WorkOS server"},
    {"run", cli_run, "run scenario files against a target and report"},
    {"doctor", cli_doctor, "check an app against every known logout cause, with fixes"},
    {"lint", cli_lint, "check scenario files without running them"},
    {"env", cli_env, "print WORKOS_* variables that point an SDK at a running fake"},
    {"exec", cli_exec, "run a command with those variables, on the fake's virtual clock"},
    {"har", cli_har, "turn a browser's HAR capture into a scenario skeleton"},
    {"inspect", cli_inspect, "decode and verify an access token, or unseal a wos-session cookie"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fakeidp <command> [options]\n\n"
            "A fake WorkOS AuthKit identity provider with a virtual clock and faults,\n"
            "and a scenario runner that reproduces \"logged out on refresh\" bugs.\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\noptions:\n  --version  print the version and exit\n  -h, --help this help\n");
    fprintf(out, "\n'fakeidp <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("fakeidp %s\n", FAKEIDP_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fakeidp: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
