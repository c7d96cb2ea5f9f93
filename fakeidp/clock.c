#include "clock.h"

#include <stdio.h>
#include <time.h>

int64_t idp_wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void idp_clock_init(struct idp_clock *clock)
{
    pthread_mutex_init(&clock->lock, NULL);
    clock->offset_ms = 0;
    clock->frozen_at_ms = 0;
    clock->frozen = false;
}

void idp_clock_cleanup(struct idp_clock *clock)
{
    pthread_mutex_destroy(&clock->lock);
}

/* A running clock stops at the end of its range instead of running past it
 * (where expiry sums stop fitting). */
static int64_t now_locked(struct idp_clock *clock)
{
    int64_t now = clock->frozen ? clock->frozen_at_ms : idp_wall_now_ms() + clock->offset_ms;
    return now > IDP_CLOCK_MAX_MS ? IDP_CLOCK_MAX_MS : now;
}

int64_t idp_clock_now_ms(struct idp_clock *clock)
{
    pthread_mutex_lock(&clock->lock);
    int64_t now = now_locked(clock);
    pthread_mutex_unlock(&clock->lock);
    return now;
}

void idp_clock_advance(struct idp_clock *clock, int64_t delta_ms)
{
    pthread_mutex_lock(&clock->lock);
    if (clock->frozen)
        clock->frozen_at_ms += delta_ms;
    else
        clock->offset_ms += delta_ms;
    pthread_mutex_unlock(&clock->lock);
}

void idp_clock_set(struct idp_clock *clock, int64_t now_ms)
{
    pthread_mutex_lock(&clock->lock);
    if (clock->frozen)
        clock->frozen_at_ms = now_ms;
    else
        clock->offset_ms = now_ms - idp_wall_now_ms();
    pthread_mutex_unlock(&clock->lock);
}

void idp_clock_freeze(struct idp_clock *clock, bool frozen)
{
    pthread_mutex_lock(&clock->lock);
    if (frozen && !clock->frozen) {
        clock->frozen_at_ms = now_locked(clock);
        clock->frozen = true;
    } else if (!frozen && clock->frozen) {
        clock->offset_ms = clock->frozen_at_ms - idp_wall_now_ms();
        clock->frozen = false;
    }
    pthread_mutex_unlock(&clock->lock);
}

bool idp_clock_is_frozen(struct idp_clock *clock)
{
    pthread_mutex_lock(&clock->lock);
    bool frozen = clock->frozen;
    pthread_mutex_unlock(&clock->lock);
    return frozen;
}

void idp_format_iso8601(int64_t epoch_ms, char out[32])
{
    /* Years 0000..9999 only; anything outside (IDP_TIME_ALWAYS and
     * IDP_TIME_NEVER among them) is clamped before any arithmetic. */
    if (epoch_ms < -62167219200000LL) {
        snprintf(out, 32, "0000-01-01T00:00:00.000Z");
        return;
    }
    if (epoch_ms > 253402300799999LL) {
        snprintf(out, 32, "9999-12-31T23:59:59.999Z");
        return;
    }
    time_t secs = (time_t)(epoch_ms >= 0 ? epoch_ms / 1000 : (epoch_ms - 999) / 1000);
    int millis = (int)(epoch_ms - (int64_t)secs * 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* Years beyond 9999 cannot be written in this form; clamp. */
    if (tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        snprintf(out, 32, "%s", tm.tm_year > 0 ? "9999-12-31T23:59:59.999Z" : "0000-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, millis % 1000);
}
