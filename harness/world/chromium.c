/* The Chromium engine's process and its JSON-lines pipe: see chromium.h. */
#include "chromium.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ANSWER_TIMEOUT_MS 90000 /* the driver gives up on a page after 20 s */

struct hx_chromium {
    pthread_mutex_t lock;
    pthread_cond_t answered;
    json_int_t next_id;
    bool reading;    /* one caller reads the pipe for everyone */
    char dead[300];  /* why the driver can answer no more, or "" */
    json_t *answers; /* id -> answer read for a caller still waiting */
    pid_t pid;
    int to_driver;   /* its stdin */
    int from_driver; /* its stdout */
    char *buffer;    /* bytes read past the last line */
    size_t used, size;
};

const char *hx_chromium_driver_dir(void)
{
    const char *given = getenv("FAKEIDP_CHROMIUM_DRIVER");
    if (given && *given)
        return given;
    struct stat st;
#ifdef FAKEIDP_CHROMIUM_SOURCE_DIR
    if (stat(FAKEIDP_CHROMIUM_SOURCE_DIR "/start.sh", &st) == 0)
        return FAKEIDP_CHROMIUM_SOURCE_DIR;
#endif
#ifdef FAKEIDP_CHROMIUM_INSTALL_DIR
    if (stat(FAKEIDP_CHROMIUM_INSTALL_DIR "/start.sh", &st) == 0)
        return FAKEIDP_CHROMIUM_INSTALL_DIR;
#endif
    return NULL;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One line from the driver (malloc'd, without the newline), or NULL at end
 * of file or after the timeout. */
static char *read_line(struct hx_chromium *c, char *why, size_t why_size)
{
    double deadline = now_ms() + ANSWER_TIMEOUT_MS;
    for (;;) {
        char *nl = c->used ? memchr(c->buffer, '\n', c->used) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - c->buffer);
            char *line = malloc(len + 1);
            if (!line) {
                snprintf(why, why_size, "out of memory");
                return NULL;
            }
            memcpy(line, c->buffer, len);
            line[len] = '\0';
            memmove(c->buffer, nl + 1, c->used - len - 1);
            c->used -= len + 1;
            return line;
        }
        if (c->used + 65536 > c->size) {
            size_t size = c->size ? c->size * 2 : 1 << 20;
            char *grown = realloc(c->buffer, size);
            if (!grown) {
                snprintf(why, why_size, "out of memory");
                return NULL;
            }
            c->buffer = grown;
            c->size = size;
        }
        int left = (int)(deadline - now_ms());
        struct pollfd p = {.fd = c->from_driver, .events = POLLIN};
        int ready = left > 0 ? poll(&p, 1, left) : 0;
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0) {
            snprintf(why, why_size, "the Chromium engine did not answer within %d s",
                     ANSWER_TIMEOUT_MS / 1000);
            return NULL;
        }
        ssize_t n = read(c->from_driver, c->buffer + c->used, c->size - c->used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(why, why_size, "the Chromium engine's driver exited");
            return NULL;
        }
        c->used += (size_t)n;
    }
}

json_t *hx_chromium_call(struct hx_chromium *c, const json_t *request, char *why, size_t why_size)
{
    json_t *copy = json_copy((json_t *)request);
    pthread_mutex_lock(&c->lock);
    json_int_t id = ++c->next_id;
    char key[32];
    snprintf(key, sizeof(key), "%lld", (long long)id);
    if (copy)
        json_object_set_new(copy, "id", json_integer(id));
    char *text = copy ? json_dumps(copy, JSON_COMPACT) : NULL;
    json_decref(copy);
    json_t *answer = NULL;
    if (!text)
        snprintf(why, why_size, "out of memory");
    else if (c->dead[0])
        snprintf(why, why_size, "%s", c->dead);
    else if (!write_all(c->to_driver, text, strlen(text)) || !write_all(c->to_driver, "\n", 1))
        snprintf(c->dead, sizeof(c->dead), "the Chromium engine's driver is gone");
    /* Requests of parallel steps are answered in any order: whoever reads
     * files each answer under its id and wakes the others. */
    while (text && !answer && !c->dead[0]) {
        answer = json_object_get(c->answers, key);
        if (answer) {
            json_incref(answer);
            json_object_del(c->answers, key);
            break;
        }
        if (c->reading) {
            pthread_cond_wait(&c->answered, &c->lock);
            continue;
        }
        c->reading = true;
        pthread_mutex_unlock(&c->lock);
        char reason[300] = "";
        char *line = read_line(c, reason, sizeof(reason));
        json_t *parsed = line ? json_loads(line, 0, NULL) : NULL;
        pthread_mutex_lock(&c->lock);
        c->reading = false;
        if (!line)
            snprintf(c->dead, sizeof(c->dead), "%s", reason);
        else if (!parsed)
            snprintf(c->dead, sizeof(c->dead),
                     "the Chromium engine answered something else than JSON: %.200s", line);
        else if (!json_object_get(parsed, "id")) {
            /* start.sh's own complaint (no node, no Chromium): the driver never ran. */
            const char *error = json_string_value(json_object_get(parsed, "error"));
            snprintf(c->dead, sizeof(c->dead), "%s", error ? error : "the Chromium engine answered without an id");
            json_decref(parsed);
        } else {
            char got[32];
            snprintf(got, sizeof(got), "%lld", (long long)json_integer_value(json_object_get(parsed, "id")));
            json_object_set_new(c->answers, got, parsed);
        }
        free(line);
        pthread_cond_broadcast(&c->answered);
    }
    if (!answer && c->dead[0])
        snprintf(why, why_size, "%s", c->dead);
    pthread_mutex_unlock(&c->lock);
    free(text);
    const char *error = json_string_value(json_object_get(answer, "error"));
    if (error && *error && !json_object_get(answer, "status")) {
        /* What the pages said before it failed belongs to the reason. */
        size_t used = (size_t)snprintf(why, why_size, "%s", error), i;
        json_t *note;
        json_array_foreach(json_object_get(answer, "notes"), i, note)
            if (used < why_size)
                used += (size_t)snprintf(why + used, why_size - used, "%s%s", i ? "; " : " (notes: ",
                                         json_string_value(note));
        if (used + 1 < why_size && i)
            snprintf(why + used, why_size - used, ")");
        json_decref(answer);
        return NULL;
    }
    return answer;
}

struct hx_chromium *hx_chromium_start(const json_t *start, char *why, size_t why_size)
{
    const char *dir = hx_chromium_driver_dir();
    if (!dir) {
        snprintf(why, why_size, "the Chromium engine's driver (start.sh, driver.mjs) is not installed; "
                                "set FAKEIDP_CHROMIUM_DRIVER to its folder");
        return NULL;
    }
    struct hx_chromium *c = calloc(1, sizeof(*c));
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (c) {
        c->to_driver = c->from_driver = -1;
        pthread_mutex_init(&c->lock, NULL);
        pthread_cond_init(&c->answered, NULL);
        c->answers = json_object();
    }
    if (!c || pipe(in) || pipe(out)) {
        snprintf(why, why_size, "cannot start the Chromium engine: %s", strerror(errno));
        goto fail;
    }
    char script[1200];
    snprintf(script, sizeof(script), "%s/start.sh", dir);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, in[1]);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    char *argv[] = {"sh", script, NULL};
    int rc = posix_spawnp(&c->pid, "sh", &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    in[0] = out[1] = -1;
    c->to_driver = in[1];
    c->from_driver = out[0];
    if (rc) {
        snprintf(why, why_size, "cannot start the Chromium engine (sh %s): %s", script, strerror(rc));
        c->pid = 0;
        hx_chromium_free(&c);
        return NULL;
    }
    signal(SIGPIPE, SIG_IGN); /* a dead driver is an error answer, not the end of the run */
    json_t *answer = hx_chromium_call(c, start, why, why_size);
    if (!answer) {
        hx_chromium_free(&c);
        return NULL;
    }
    json_decref(answer);
    return c;
fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    if (c) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->answered);
        json_decref(c->answers);
    }
    free(c);
    return NULL;
}

void hx_chromium_free(struct hx_chromium **cp)
{
    struct hx_chromium *c = cp ? *cp : NULL;
    if (!c)
        return;
    *cp = NULL;
    if (c->to_driver >= 0 && c->pid) {
        static const char close_line[] = "{\"op\":\"close\"}\n";
        write_all(c->to_driver, close_line, sizeof(close_line) - 1);
    }
    if (c->to_driver >= 0)
        close(c->to_driver);
    if (c->pid) {
        /* The driver closes Chromium and exits; a stuck one is stopped. */
        int status;
        double deadline = now_ms() + 10000;
        while (waitpid(c->pid, &status, WNOHANG) == 0) {
            if (now_ms() > deadline) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &status, 0);
                break;
            }
            usleep(20000);
        }
    }
    if (c->from_driver >= 0)
        close(c->from_driver);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->answered);
    json_decref(c->answers);
    free(c->buffer);
    free(c);
}
