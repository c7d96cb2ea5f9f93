/* The virtual clock. Every expiry decision and timestamp in fakeidp, the
 * reference app and the browser model reads one of these, so "wait six
 * minutes" costs no wall time. Running, it follows the wall clock plus an
 * offset; frozen, it stands still until advanced or set. Thread-safe. */
#ifndef IDP_CLOCK_H
#define IDP_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* 9999-12-31T23:59:59.999Z: the latest virtual time; a running clock stops
 * there. */
#define IDP_CLOCK_MAX_MS 253402300799999LL

struct idp_clock {
    pthread_mutex_t lock;
    int64_t offset_ms;    /* virtual = wall + offset while running */
    int64_t frozen_at_ms; /* virtual time while frozen */
    bool frozen;
};

void idp_clock_init(struct idp_clock *clock);
void idp_clock_cleanup(struct idp_clock *clock);

/* Milliseconds since the Unix epoch, virtual. */
int64_t idp_clock_now_ms(struct idp_clock *clock);
/* Moves virtual time forward (or back, for a negative delta). */
void idp_clock_advance(struct idp_clock *clock, int64_t delta_ms);
/* Sets virtual time to an absolute instant; the frozen state is kept. */
void idp_clock_set(struct idp_clock *clock, int64_t now_ms);
/* Freezing keeps the current virtual instant; unfreezing resumes from it. */
void idp_clock_freeze(struct idp_clock *clock, bool frozen);
bool idp_clock_is_frozen(struct idp_clock *clock);

/* The real wall clock, for journal entries and latency faults. */
int64_t idp_wall_now_ms(void);

/* Formats epoch ms as "2026-01-15T12:00:00.000Z" into out (>= 25 bytes). */
void idp_format_iso8601(int64_t epoch_ms, char out[32]);

#endif
