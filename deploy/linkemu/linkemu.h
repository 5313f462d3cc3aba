/*
 * linkemu.h - ixmesh-linkemu: a user-space wire between two TAP devices that
 * holds every frame for a known one-way delay, for testbeds whose kernel has
 * no tc netem.  main.c describes the usage and the design.
 *
 * Files, and who does I/O:
 *   main.c    arguments, setup, signals and the epoll loop
 *   params.c  the settings, shared by the command line and the control socket
 *   tap.c     creating the TAP devices
 *   frame.c   which frames may be impaired (no I/O)
 *   wheel.c   the frame pool and the timer wheel (no I/O)
 *   link.c    a frame's way through: read, impair, schedule, write
 *   stats.c   counters and the lateness histogram (no I/O)
 *   ctl.c     the control socket: the server and the ctl subcommand
 */
#ifndef IXMESH_LINKEMU_H
#define IXMESH_LINKEMU_H

#include <stddef.h>
#include <stdint.h>

#define LE_FRAME_MAX    2048    /* octets per pool buffer: a 1500 MTU frame fits */
#define LE_POOL_FRAMES  16384   /* frames in flight at most (32 MiB of buffers) */
#define LE_SLOT_SHIFT   16      /* one wheel slot is 2^16 ns = 65.536 us */
#define LE_WHEEL_SLOTS  65536   /* horizon 2^32 ns = 4.29 s */
#define LE_MAX_DELAY_MS 4000.0  /* delay + jitter + slow; leaves room for LE_HOLD_NS */
#define LE_MAX_SLOW_US  100000  /* --slow-us */
#define LE_HOLD_NS      5000000 /* extra delay of a frame held back to reorder it */
#define LE_READ_BATCH   64      /* frames read from one TAP per loop turn */
#define LE_SPIN_US      200     /* default --spin-us */
#define LE_CTL_MAX      2048    /* octets of a control request or reply */
#define LE_NONE         UINT32_MAX

enum le_dir_id { LE_A2B, LE_B2A };

/* ---- params.c ------------------------------------------------------------ */

struct le_params {
    int64_t delay_ns;       /* one-way delay in each direction */
    int64_t jitter_ns;      /* each frame's delay is delay_ns + uniform(-j, +j) */
    double loss_pct;        /* chance that an eligible frame is dropped */
    uint32_t reorder_every; /* 0: off; else every Nth eligible frame is held back */
    uint32_t dup_every;     /* 0: off; else every Nth eligible frame is sent twice */
    unsigned impair_dirs;   /* bit (1 << LE_A2B) and/or bit (1 << LE_B2A) */
    int64_t slow_ns;        /* added to every departure, unseen by the stats */
};

void le_params_default(struct le_params *p);
/*
 * Sets one parameter from its option name without dashes ("delay-ms") and its
 * text.  Returns 0, or -EINVAL with the reason in err and *p unchanged.
 */
int le_params_set(struct le_params *p, const char *name, const char *val, char *err,
                  size_t errlen);
/* Checks what single values cannot: delay + jitter + slow within the horizon. */
int le_params_check(const struct le_params *p, char *err, size_t errlen);
/* "delay_ms=... jitter_ms=... ..." into buf; returns its length. */
int le_params_format(const struct le_params *p, char *buf, size_t len);

/* ---- tap.c --------------------------------------------------------------- */

/*
 * Creates the non-persistent TAP device name and returns its descriptor,
 * non-blocking, in *fd; the caller closes it, and closing it removes the
 * device.  Returns 0 or a negative errno.
 */
int le_tap_open(const char *name, int *fd);

/* ---- frame.c ------------------------------------------------------------- */

/*
 * 1 if an Ethernet frame is one the impairments apply to: IPv4 or IPv6
 * carrying UDP, or an ICMP or ICMPv6 echo request or reply, behind at most
 * one VLAN tag, with its IP header and (but in a later IPv4 fragment) its
 * 8-octet UDP or echo header whole.  Everything else (ARP, neighbour
 * discovery, TCP, truncated frames, ...) is only delayed.
 */
int le_frame_eligible(const uint8_t *p, size_t len);

/* ---- wheel.c ------------------------------------------------------------- */

#define LE_FLAG_HELD 0x01 /* held back LE_HOLD_NS so that later frames overtake it */
#define LE_FLAG_DUP  0x02 /* written twice, back to back */

/* A frame's metadata; its octets are in the pool buffer of the same index. */
struct le_frame {
    uint64_t due_ns;  /* departure on CLOCK_MONOTONIC */
    uint64_t ordinal; /* 0: not eligible; else its rank among its direction's */
    uint32_t next;    /* next in its slot, or LE_NONE */
    uint16_t len;
    uint8_t dir;
    uint8_t flags;
};

struct le_wheel;

/* Allocates the pool and the wheel; free with le_wheel_free().  0 or -ENOMEM. */
int le_wheel_new(struct le_wheel **wp);
void le_wheel_free(struct le_wheel *w);
/* A free frame's index, or LE_NONE when the pool is empty. */
uint32_t le_pool_get(struct le_wheel *w);
void le_pool_put(struct le_wheel *w, uint32_t i);
struct le_frame *le_frame_meta(struct le_wheel *w, uint32_t i);
uint8_t *le_frame_data(struct le_wheel *w, uint32_t i);
/*
 * Puts frame i on the wheel by its due_ns; the wheel owns it until
 * le_wheel_pop() hands it back.  Returns 0, or -ERANGE past the horizon.
 */
int le_wheel_insert(struct le_wheel *w, uint32_t i, uint64_t now_ns);
/* The earliest frame due at or before now_ns, taken off the wheel, or LE_NONE. */
uint32_t le_wheel_pop(struct le_wheel *w, uint64_t now_ns);
/* The earliest due time on the wheel in *due_ns: 0, or -ENOENT when empty. */
int le_wheel_next(const struct le_wheel *w, uint64_t *due_ns);

/* ---- stats.c ------------------------------------------------------------- */

#define LE_HIST_BUCKETS 16384 /* 1 us each; the last one holds everything later */

/* Lateness: when a frame was written minus when it was due. */
struct le_hist {
    uint64_t n;
    uint64_t max_ns;
    uint64_t bucket[LE_HIST_BUCKETS];
};

struct le_dir_stats {
    uint64_t in;         /* frames read */
    uint64_t out;        /* frames written, a duplicate's second copy included */
    uint64_t lost;       /* dropped by --loss-pct */
    uint64_t held;       /* chosen by --reorder-every and held back */
    uint64_t reordered;  /* written after a later eligible frame (RFC 4737 3.3) */
    uint64_t duplicated; /* second copies written */
    uint64_t pool_drops; /* no room: pool empty (or past the horizon) */
    uint64_t tx_drops;   /* write failed: EAGAIN or another error but EIO */
    uint64_t down_drops; /* write failed with EIO: the far TAP is down */
    uint64_t oversize;   /* longer than LE_FRAME_MAX */
    struct le_hist late;
};

void le_hist_add(struct le_hist *h, int64_t ns);
/* The q-quantile (0 < q <= 1) in whole microseconds; 0 when empty. */
uint64_t le_hist_quantile_us(const struct le_hist *h, double q);
/*
 * "a2b_in=... b2a_late_max_us=..." into buf; returns its length as
 * snprintf() does (len or more: truncated).
 */
int le_stats_format(const struct le_dir_stats *a2b, const struct le_dir_stats *b2a,
                    char *buf, size_t len);

/* ---- link.c -------------------------------------------------------------- */

/* Now on CLOCK_MONOTONIC, the clock of every due_ns. */
uint64_t le_now_ns(void);

/* One direction: frames read from fd_in are written to fd_out. */
struct le_dir {
    int fd_in, fd_out;
    uint64_t nth;         /* eligible frames not lost: the N of "every Nth" */
    uint64_t ordinal;     /* eligible frames read */
    uint64_t max_ordinal; /* highest ordinal written */
    uint64_t last_due_ns; /* departure of the last frame not held back */
    struct le_dir_stats st;
};

struct le_link {
    struct le_params params;
    struct le_dir dir[2];
    struct le_wheel *wheel;
    uint64_t rng;
    int timer_fd;
    uint64_t armed_ns;      /* the timer's expiry; 0: disarmed */
    uint64_t spin_ns;       /* poll instead of sleeping this close to a departure */
    uint8_t scratch[65536]; /* the excess of an oversize frame, or a dropped one */
};

/* Takes over fd_a, fd_b and timer_fd; le_link_close() closes them. */
int le_link_init(struct le_link *l, int fd_a, int fd_b, int timer_fd,
                 const struct le_params *p, uint64_t seed, uint64_t spin_ns);
void le_link_close(struct le_link *l);
/* Reads up to LE_READ_BATCH frames that arrived for direction d. */
void le_link_read(struct le_link *l, enum le_dir_id d);
/* Writes every frame that is due, then arms the timer for the next one. */
void le_link_flush(struct le_link *l);
/* The epoll timeout: 0 (poll) within spin_ns of a departure, else -1. */
int le_link_wait_ms(const struct le_link *l);
/* Zeroes the counters, the histograms and the "every Nth" counts. */
void le_link_reset(struct le_link *l);

/* ---- ctl.c --------------------------------------------------------------- */

/*
 * Binds the control socket at path, non-blocking, into *fd; a stale socket
 * file nobody serves is replaced.  Returns 0 or a negative errno.
 */
int le_ctl_listen(const char *path, int *fd);
/* Answers every request waiting on the control socket. */
void le_ctl_serve(struct le_link *l, int fd);
/*
 * Answers one request, NUL-terminated in req, which "set" cuts up in place.
 * The reply lands NUL-terminated in reply, truncated to len octets; returns
 * its length as snprintf() does (len or more: truncated).  No I/O but the
 * log line of a new setting.
 */
int le_ctl_handle(struct le_link *l, char *req, char *reply, size_t len);
/*
 * Sends one request to the emulator at path and waits up to 3 s for the
 * reply, which lands NUL-terminated in reply.  Returns 0 or a negative errno.
 */
int le_ctl_request(const char *path, const char *req, char *reply, size_t len);

#endif
