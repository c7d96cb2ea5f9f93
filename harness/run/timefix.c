/* libfakeidp-timefix.so: preloaded in front of libfaketime (0.9.10) for the
 * apps the harness and `fakeidp exec` run on the virtual clock, it repairs
 * the waits that libfaketime breaks (docs/external-apps.md, "Sleeping"):
 *
 *   frozen clock (FAKETIME_DONT_FAKE_MONOTONIC=1): libfaketime converts the
 *     deadline of clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...) as
 *     if the monotonic clock were faked, and the kernel gets a negative time:
 *     EINVAL, so Python >= 3.11's time.sleep raises OSError [Errno 22]. The
 *     monotonic clock is real here, so such a sleep goes to the kernel as is.
 *   ticking clock (monotonic clocks faked): sem_clockwait and
 *     pthread_cond_clockwait, which libfaketime does not wrap, get a deadline
 *     on the faked monotonic clock and wait years (Python's
 *     threading.Event().wait(0.2), Lock.acquire(timeout=...)). The deadline
 *     is moved to the real monotonic clock.
 *
 * Everything else goes on to the next definition (libfaketime, then libc).
 * Not linked with the project's sanitizer flags: it is loaded into apps. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static bool monotonic_is_real(void)
{
    const char *v = getenv("FAKETIME_DONT_FAKE_MONOTONIC");
    if (!v)
        v = getenv("DONT_FAKE_MONOTONIC");
    return v && v[0] == '1';
}

static bool monotonic_family(clockid_t clock)
{
    return clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME || clock == CLOCK_MONOTONIC_RAW ||
           clock == CLOCK_MONOTONIC_COARSE;
}

/* abs on the faked monotonic clock, moved to the real one. */
static struct timespec real_deadline(clockid_t clock, const struct timespec *abs)
{
    struct timespec fake, real, out = *abs;
    if (clock_gettime(clock, &fake) != 0 || syscall(SYS_clock_gettime, clock, &real) != 0)
        return out;
    long long ns = ((long long)abs->tv_sec - fake.tv_sec + real.tv_sec) * 1000000000LL +
                   (abs->tv_nsec - fake.tv_nsec + real.tv_nsec);
    if (ns < 0)
        ns = 0;
    out.tv_sec = (time_t)(ns / 1000000000LL);
    out.tv_nsec = (long)(ns % 1000000000LL);
    return out;
}

EXPORT int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
    if ((flags & TIMER_ABSTIME) && monotonic_family(clock) && monotonic_is_real())
        return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == 0 ? 0 : errno;
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (!next)
        next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(
            RTLD_NEXT, "clock_nanosleep");
    if (!next)
        return syscall(SYS_clock_nanosleep, clock, flags, req, rem) == 0 ? 0 : errno;
    return next(clock, flags, req, rem);
}

EXPORT int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *abs)
{
    static int (*next)(sem_t *, clockid_t, const struct timespec *);
    if (!next)
        next = (int (*)(sem_t *, clockid_t, const struct timespec *))dlsym(RTLD_NEXT, "sem_clockwait");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    if (monotonic_family(clock) && !monotonic_is_real()) {
        struct timespec real = real_deadline(clock, abs);
        return next(sem, clock, &real);
    }
    return next(sem, clock, abs);
}

EXPORT int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock,
                                  const struct timespec *abs)
{
    static int (*next)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);
    if (!next)
        next = (int (*)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *))dlsym(
            RTLD_NEXT, "pthread_cond_clockwait");
    if (!next)
        return ENOSYS;
    if (monotonic_family(clock) && !monotonic_is_real()) {
        struct timespec real = real_deadline(clock, abs);
        return next(cond, mutex, clock, &real);
    }
    return next(cond, mutex, clock, abs);
}
