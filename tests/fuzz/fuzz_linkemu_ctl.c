/*
 * fuzz_linkemu_ctl.c - the link emulator's control requests, as the
 * control socket receives them: one datagram of text, cut at the first NUL
 * and at LE_CTL_MAX - 1 octets.
 *
 * Every request gets a reply that fits, "ok ..." or "err ...".  A "set"
 * applies all or nothing: when it is accepted the settings are within their
 * limits and the reply shows them; when it is refused they are as before.
 * A reply into a shorter buffer is the same reply cut short.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "linkemu.h"
#include "log.h"

/* Large (histograms, scratch): not on the stack. */
static struct le_link link_state;

/* Settings where every field differs from the default. */
static void start_state(struct le_link *l)
{
    le_params_default(&l->params);
    l->params.delay_ns = 5000000;
    l->params.jitter_ns = 250000;
    l->params.loss_pct = 0.5;
    l->params.reorder_every = 100;
    l->params.dup_every = 77;
    l->params.impair_dirs = 1u << LE_A2B;
    memset(l->dir, 0, sizeof(l->dir));
    l->dir[LE_A2B].st.in = 1000;
    l->dir[LE_B2A].st.out = 999;
    l->dir[LE_A2B].nth = 12;
}

static int same_params(const struct le_params *a, const struct le_params *b)
{
    return a->delay_ns == b->delay_ns && a->jitter_ns == b->jitter_ns &&
           a->loss_pct == b->loss_pct && a->reorder_every == b->reorder_every &&
           a->dup_every == b->dup_every && a->impair_dirs == b->impair_dirs;
}

static void check_params(const struct le_params *p)
{
    char err[256];

    FUZZ_CHECK(p->delay_ns >= 0 && p->delay_ns <= (int64_t)(LE_MAX_DELAY_MS * 1e6));
    FUZZ_CHECK(p->jitter_ns >= 0 && p->jitter_ns <= (int64_t)(LE_MAX_DELAY_MS * 1e6));
    FUZZ_CHECK(le_params_check(p, err, sizeof(err)) == 0);
    FUZZ_CHECK(p->loss_pct >= 0.0 && p->loss_pct <= 100.0);
    FUZZ_CHECK(p->reorder_every <= 1000000000u && p->dup_every <= 1000000000u);
    FUZZ_CHECK(p->impair_dirs >= 1 && p->impair_dirs <= 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int logging;
    char req[LE_CTL_MAX], again[LE_CTL_MAX], reply[LE_CTL_MAX], want[LE_CTL_MAX];
    char *cut;
    struct le_link *l = &link_state;
    struct le_params before;
    size_t len = size < sizeof(req) - 1 ? size : sizeof(req) - 1, short_len;
    int n, m;

    if (!logging) {
        log_init("fuzz_linkemu_ctl", LOG_LEVEL_ERROR); /* no line per setting */
        logging = 1;
    }
    memcpy(req, data, len);
    req[len] = '\0';
    memcpy(again, req, len + 1);
    start_state(l);
    before = l->params;
    n = le_ctl_handle(l, req, reply, sizeof(reply));
    FUZZ_CHECK(n > 0 && n < (int)sizeof(reply) && strlen(reply) == (size_t)n);
    FUZZ_CHECK(strncmp(reply, "ok ", 3) == 0 || strncmp(reply, "err ", 4) == 0);
    if (strncmp(reply, "err ", 4) == 0 || strncmp(again, "set", 3) != 0)
        FUZZ_CHECK(same_params(&l->params, &before));
    if (strncmp(reply, "ok ", 3) == 0 && strncmp(again, "set", 3) == 0) {
        check_params(&l->params);
        le_params_format(&l->params, want, sizeof(want));
        FUZZ_CHECK(strcmp(reply + 3, want) == 0);
    }
    if (strcmp(again, "stats") == 0) {
        le_params_format(&l->params, want, sizeof(want));
        FUZZ_CHECK(strncmp(reply, "ok a2b_in=1000 ", 15) == 0);
        FUZZ_CHECK(strcmp(reply + n - strlen(want), want) == 0);
    }
    if (strcmp(again, "reset") == 0)
        FUZZ_CHECK(l->dir[LE_A2B].st.in == 0 && l->dir[LE_A2B].nth == 0);
    else
        FUZZ_CHECK(l->dir[LE_A2B].st.in == 1000 && l->dir[LE_A2B].nth == 12);

    /* Again from the same state, into a buffer of a length the input picks,
     * allocated to exactly that length so that an overrun shows. */
    short_len = 1 + (size > 0 ? data[size - 1] : 0) % (size_t)(n + 1);
    cut = malloc(short_len);
    if (cut == NULL)
        return 0;
    start_state(l);
    m = le_ctl_handle(l, again, cut, short_len);
    FUZZ_CHECK(m == n);
    FUZZ_CHECK(strlen(cut) == (short_len - 1 < (size_t)n ? short_len - 1 : (size_t)n));
    FUZZ_CHECK(strncmp(cut, reply, short_len - 1) == 0);
    free(cut);
    return 0;
}
