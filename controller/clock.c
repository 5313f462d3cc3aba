/*
 * clock.c - the controller's wall clock, apart from main.c so that the
 * core library (and its tests) link without the executable.
 */
#include <time.h>

#include "controller.h"

int64_t ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
