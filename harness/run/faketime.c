/* libfaketime control for a child process: see faketime.h. */
#include "faketime.h"

#include <errno.h>
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
    snprintf(ft->dir, sizeof(ft->dir), "%s/fakeidp-app-XXXXXX", tmpdir && tmpdir[0] ? tmpdir : "/tmp");
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

void hx_faketime_close(struct hx_faketime *ft)
{
    if (ft->rc_path[0]) {
        char tmp[sizeof(ft->rc_path) + 8];
        snprintf(tmp, sizeof(tmp), "%s.tmp", ft->rc_path);
        unlink(tmp);
        unlink(ft->rc_path);
        ft->rc_path[0] = '\0';
    }
    if (ft->dir[0]) {
        rmdir(ft->dir);
        ft->dir[0] = '\0';
    }
}

void hx_faketime_forget_process(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/dev/shm/faketime_shm_%ld", (long)pid);
    unlink(path);
    snprintf(path, sizeof(path), "/dev/shm/sem.faketime_sem_%ld", (long)pid);
    unlink(path);
}
