/* An external app's process group: the shell the harness started leads
 * it, and every process the app starts stays in it unless it moves itself
 * (setsid, daemons). Stopping sends stop_signal to the whole group, then
 * SIGKILL, and waits until the group is gone and its zombies are reaped. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "external_internal.h"

#define STOP_GRACE_MS 3000    /* stop_signal, then SIGKILL after this */
#define KILL_WAIT_MS 2000

void external_reap(struct hx_external *ext)
{
    if (ext->pid <= 0)
        return;
    int status;
    pid_t r;
    while ((r = waitpid(-ext->pid, &status, WNOHANG)) > 0)
        if (r == ext->pid) {
            ext->reaped = true;
            ext->wait_status = status;
        }
    if (!ext->reaped && r < 0 && errno == ECHILD) {
        ext->reaped = true;
        ext->wait_status = 0;
    }
}

void external_describe_status(int status, char *out, size_t size)
{
    if (WIFEXITED(status))
        snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(out, size, "status %d", status);
}

/* Counts the group's members: live ones, and zombies that are ours to reap
 * (a zombie leader whose threads are still exiting cannot be reaped yet).
 * Zombies of other parents do not count: a container's PID 1 may never
 * reap what it inherits. */
static void group_members(pid_t pgid, int *alive, int *ours)
{
    *alive = *ours = 0;
    DIR *proc = opendir("/proc");
    if (!proc) {
        *alive = !(kill(-pgid, 0) == -1 && errno == ESRCH);
        return;
    }
    long self = (long)getpid();
    struct dirent *d;
    while ((d = readdir(proc))) {
        if (d->d_name[0] < '0' || d->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        const char *rest = strrchr(buf, ')'); /* comm may hold spaces */
        char state = 0;
        long ppid = 0, pgrp = 0;
        if (!rest || sscanf(rest + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3 || pgrp != pgid)
            continue;
        if (state != 'Z' && state != 'X')
            (*alive)++;
        else if (ppid == self)
            (*ours)++;
    }
    closedir(proc);
}

static bool group_alive(pid_t pgid)
{
    int alive, ours;
    group_members(pgid, &alive, &ours);
    return alive > 0;
}

/* Waits up to ms for the group to end and its zombies to be reaped; true
 * when it has. */
static bool wait_group(struct hx_external *ext, long ms)
{
    int64_t deadline = external_mono_ms() + ms;
    for (;;) {
        external_reap(ext);
        int alive, ours;
        group_members(ext->pid, &alive, &ours);
        if (!alive && !ours)
            return true;
        if (external_mono_ms() >= deadline)
            return !alive;
        external_sleep_ms(alive ? 20 : 5);
    }
}

void external_stop_group(struct hx_external *ext, int sig)
{
    if (ext->pid <= 0)
        return;
    external_reap(ext);
    if (group_alive(ext->pid)) {
        int64_t started = external_mono_ms();
        kill(-ext->pid, sig);
        if (!wait_group(ext, STOP_GRACE_MS)) {
            external_note(ext, "still running %d ms after %s: SIGKILL", STOP_GRACE_MS, strsignal(sig));
            kill(-ext->pid, SIGKILL);
            if (!wait_group(ext, KILL_WAIT_MS))
                external_note(ext, "process group %d survived SIGKILL", (int)ext->pid);
        }
        external_note(ext, "stopped in %lld ms", (long long)(external_mono_ms() - started));
    } else {
        wait_group(ext, 500); /* reap what is left */
    }
    /* The shell itself may be a zombie now. */
    for (int i = 0; i < 100 && !ext->reaped; i++) {
        external_reap(ext);
        if (!ext->reaped)
            external_sleep_ms(10);
    }
    external_reap(ext);
    if (ext->ft.mode != HX_CLOCK_OFF)
        hx_faketime_forget_process(ext->pid);
}
