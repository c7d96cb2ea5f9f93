/* libfaketime control for a child process: see faketime.h. */
#include "faketime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool hx_faketime_find_lib(char *out, size_t size)
{
    const char *given = getenv("FAKEIDP_LIBFAKETIME");
    if (given && given[0]) {
        snprintf(out, size, "%s", given);
        return access(out, R_OK) == 0;
    }
    static const char *const places[] = {
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/arm-linux-gnueabihf/faketime/libfaketime.so.1",
        "/usr/lib/i386-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib64/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
        NULL};
    for (int i = 0; places[i]; i++)
        if (access(places[i], R_OK) == 0) {
            snprintf(out, size, "%s", places[i]);
            return true;
        }
    return false;
}

/* rename is atomic: the child reads the old or the new file, never half. */
static bool write_rc(const struct hx_faketime *ft, const char *text)
{
    char tmp[sizeof(ft->rc_path) + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", ft->rc_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, ft->rc_path) == 0;
}

bool hx_faketime_open(struct hx_faketime *ft, enum hx_clock_mode mode, const char *lib,
                      int64_t virtual_now_ms)
{
    memset(ft, 0, sizeof(*ft));
    ft->mode = mode;
    if (mode == HX_CLOCK_OFF)
        return true;
    snprintf(ft->lib, sizeof(ft->lib), "%s", lib ? lib : "");
    const char *tmpdir = getenv("TMPDIR");
    /* The owner's pid in the name: a later run removes what a dead one left. */
    snprintf(ft->dir, sizeof(ft->dir), "%s/" HX_FAKETIME_DIR_PREFIX "%ld-XXXXXX",
             tmpdir && tmpdir[0] ? tmpdir : "/tmp", (long)getpid());
    if (!mkdtemp(ft->dir)) {
        ft->dir[0] = '\0';
        return false;
    }
    snprintf(ft->rc_path, sizeof(ft->rc_path), "%s/faketime.rc", ft->dir);
    if (!hx_faketime_set(ft, virtual_now_ms, true)) {
        int e = errno;
        hx_faketime_close(ft);
        errno = e;
        return false;
    }
    return true;
}

bool hx_faketime_set(struct hx_faketime *ft, int64_t virtual_ms, bool allow_back)
{
    char text[64];
    if (ft->mode == HX_CLOCK_OFF)
        return true;
    if (ft->mode == HX_CLOCK_FROZEN) {
        snprintf(text, sizeof(text), "%lld.%03lld\n", (long long)(virtual_ms / 1000),
                 (long long)(virtual_ms % 1000));
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double real = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        double offset = (double)virtual_ms / 1000.0 - real;
        /* Never back: the child's clock is already past the virtual time by
         * the real time since the last step that moved it. */
        if (ft->have_offset && offset < ft->offset_s && !allow_back)
            return true;
        ft->offset_s = offset;
        ft->have_offset = true;
        snprintf(text, sizeof(text), "%+.3f\n", offset);
    }
    return write_rc(ft, text);
}

void hx_faketime_env(const struct hx_faketime *ft, json_t *vars)
{
    json_object_del(vars, "FAKETIME");
    if (ft->mode == HX_CLOCK_OFF)
        return;
    json_object_set_new(vars, "FAKETIME_TIMESTAMP_FILE", json_string(ft->rc_path));
    json_object_set_new(vars, "FAKETIME_NO_CACHE", json_string("1"));
    json_object_set_new(vars, "FAKETIME_FMT", json_string("%s"));
    if (ft->mode == HX_CLOCK_FROZEN)
        json_object_set_new(vars, "FAKETIME_DONT_FAKE_MONOTONIC", json_string("1"));
    else
        json_object_del(vars, "FAKETIME_DONT_FAKE_MONOTONIC");
}

void hx_faketime_preload(const struct hx_faketime *ft, json_t *vars)
{
    if (ft->mode == HX_CLOCK_OFF)
        return;
    const char *old = json_string_value(json_object_get(vars, "LD_PRELOAD"));
    char preload[PATH_MAX * 2];
    snprintf(preload, sizeof(preload), "%s%s%s", ft->lib, old && old[0] ? ":" : "", old ? old : "");
    json_object_set_new(vars, "LD_PRELOAD", json_string(preload));
}

/* ---- removal, async-signal-safe (the runner's signal handler and guard
 * process call these): no stdio, no malloc. ---- */

/* out = a + b + c, cut to size (callers' paths fit: PATH_MAX + 64). */
static void join3(char *out, size_t size, const char *a, const char *b, const char *c)
{
    size_t n = 0;
    const char *parts[] = {a, b, c};
    for (int p = 0; p < 3; p++)
        for (const char *s = parts[p]; s && *s && n + 1 < size; s++)
            out[n++] = *s;
    out[n] = '\0';
}

static void long_text(long v, char *out) /* out holds 24 bytes */
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0 && n < 22);
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    out[n] = '\0';
}

static const char *const dir_files[] = {"faketime.rc", "faketime.rc.tmp", "pid", NULL};

void hx_faketime_remove_dir(const char *dir)
{
    if (!dir || !dir[0])
        return;
    char path[PATH_MAX + 64];
    for (int i = 0; dir_files[i]; i++) {
        join3(path, sizeof(path), dir, "/", dir_files[i]);
        unlink(path);
    }
    rmdir(dir);
}

void hx_faketime_forget_process(pid_t pid)
{
    char path[64], num[24];
    long_text((long)pid, num);
    join3(path, sizeof(path), "/dev/shm/faketime_shm_", num, "");
    unlink(path);
    join3(path, sizeof(path), "/dev/shm/sem.faketime_sem_", num, "");
    unlink(path);
}

void hx_faketime_close(struct hx_faketime *ft)
{
    hx_faketime_remove_dir(ft->dir);
    ft->dir[0] = '\0';
    ft->rc_path[0] = '\0';
}

void hx_faketime_set_pid(const struct hx_faketime *ft, pid_t pid)
{
    if (!ft->dir[0])
        return;
    char path[PATH_MAX + 64];
    join3(path, sizeof(path), ft->dir, "/pid", "");
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%ld\n", (long)pid);
        fclose(f);
    }
}

/* ---- leftovers of runs that did not end normally ---- */

/* True when /proc/PID/environ holds the entry want (NAME=VALUE). */
static bool environ_has(const char *pid, const char *want)
{
    char path[64];
    join3(path, sizeof(path), "/proc/", pid, "/environ");
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = strlen(want), at = 0;
    bool found = false, mismatch = false;
    int c;
    while (!found && (c = getc(f)) != EOF) {
        if (c == '\0') {
            found = !mismatch && at == len;
            at = 0;
            mismatch = false;
        } else if (!mismatch && at < len && c == want[at]) {
            at++;
        } else {
            mismatch = true;
        }
    }
    fclose(f);
    return found;
}

static bool process_alive(long pid)
{
    char path[64], buf[512], num[24];
    long_text(pid, num);
    join3(path, sizeof(path), "/proc/", num, "/stat");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *rest = strrchr(buf, ')');
    return rest && rest[1] == ' ' && rest[2] != 'Z' && rest[2] != 'X';
}

/* Kills every process whose clock file is rc (a leftover app of a dead run)
 * and waits up to 2 s for them to go; returns how many there were. */
static int kill_users(const char *rc)
{
    char want[PATH_MAX + 64];
    join3(want, sizeof(want), "FAKETIME_TIMESTAMP_FILE=", rc, "");
    long pids[256];
    int count = 0;
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    struct dirent *d;
    while ((d = readdir(proc)) && count < 256) {
        if (d->d_name[0] < '1' || d->d_name[0] > '9')
            continue;
        long pid = strtol(d->d_name, NULL, 10);
        if (pid != (long)getpid() && environ_has(d->d_name, want) && kill((pid_t)pid, SIGKILL) == 0)
            pids[count++] = pid;
    }
    closedir(proc);
    for (int tries = 0; tries < 200; tries++) {
        bool any = false;
        for (int i = 0; i < count; i++)
            any = any || process_alive(pids[i]);
        if (!any)
            break;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    return count;
}

static void sweep(void)
{
    const char *tmpdir = getenv("TMPDIR");
    if (!tmpdir || !tmpdir[0])
        tmpdir = "/tmp";
    DIR *dir = opendir(tmpdir);
    if (!dir)
        return;
    size_t plen = strlen(HX_FAKETIME_DIR_PREFIX);
    struct dirent *d;
    while ((d = readdir(dir))) {
        if (strncmp(d->d_name, HX_FAKETIME_DIR_PREFIX, plen) != 0)
            continue;
        char *end;
        long owner = strtol(d->d_name + plen, &end, 10);
        if (owner <= 0 || *end != '-' || owner == (long)getpid())
            continue;
        if (kill((pid_t)owner, 0) == 0 || errno != ESRCH)
            continue; /* its owner lives (or is not ours to judge) */
        char path[PATH_MAX + 64], rc[PATH_MAX + 64];
        join3(path, sizeof(path), tmpdir, "/", d->d_name);
        join3(rc, sizeof(rc), path, "/faketime.rc", "");
        int killed = kill_users(rc);
        char pidfile[PATH_MAX + 64];
        join3(pidfile, sizeof(pidfile), path, "/pid", "");
        FILE *f = fopen(pidfile, "r");
        long app = 0;
        if (f) {
            if (fscanf(f, "%ld", &app) != 1)
                app = 0;
            fclose(f);
        }
        if (app > 0 && !process_alive(app))
            hx_faketime_forget_process((pid_t)app);
        hx_faketime_remove_dir(path);
        fprintf(stderr, "fakeidp: cleaned up after an earlier run (pid %ld) that did not end: "
                        "stopped %d process%s, removed %s\n", owner, killed, killed == 1 ? "" : "es",
                path);
    }
    closedir(dir);
}

static pthread_once_t sweep_once = PTHREAD_ONCE_INIT;

void hx_faketime_sweep(void)
{
    pthread_once(&sweep_once, sweep);
}
