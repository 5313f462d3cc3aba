/*
 * method.c - the measurement methods as the scheduler sees them, and what
 * they share: how an attempt's end is recorded and told, and what an errno
 * means as an outcome.
 */
#include <errno.h>
#include <string.h>

#include <uv.h>

#include "log.h"
#include "probe.h"

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

static int stamp_open(struct probe *p)
{
    return p->stamp.fd >= 0 ? 0 : probe_stamp_io_open(p);
}

static void stamp_close(struct probe *p)
{
    probe_stamp_io_close(p);
}

static const struct probe_method_ops stamp_ops = {
    .method = PROTO_METHOD_STAMP,
    .open = stamp_open,
    .close = stamp_close,
    .send = probe_stamp_io_send,
};

static const struct probe_method_ops *const methods[] = {
    &stamp_ops,     &probe_icmp_ops, &probe_tcp_ops,
    &probe_tls_ops, &probe_http_ops, &probe_dns_ops,
};

const struct probe_method_ops *probe_method_ops(uint8_t method)
{
    for (size_t i = 0; i < nitems(methods); i++)
        if (methods[i]->method == method)
            return methods[i];
    return NULL;
}

#define METHOD_RETRY_MS 10000

/*
 * A failed open() (no permission for a raw socket, a CA file that does not
 * load) is tried again at most every METHOD_RETRY_MS: it logs why each
 * time, and a thousand attempts a second must not each log it.
 */
int probe_method_ready(struct probe *p, uint8_t method)
{
    const struct probe_method_ops *ops = probe_method_ops(method);
    int64_t now = probe_mono_ns() / 1000000;
    int rc;

    if (ops == NULL)
        return -ENOSYS;
    if (p->methods_open & (1u << method))
        return 0;
    if (p->method_err[method] != 0 && now < p->method_retry_ms[method])
        return p->method_err[method];
    rc = ops->open != NULL ? ops->open(p) : 0;
    if (rc == 0)
        p->methods_open |= 1u << method;
    p->method_err[method] = rc;
    p->method_retry_ms[method] = now + METHOD_RETRY_MS;
    return rc;
}

void probe_method_close_all(struct probe *p)
{
    for (size_t i = 0; i < nitems(methods); i++) {
        if ((p->methods_open & (1u << methods[i]->method)) && methods[i]->close != NULL)
            methods[i]->close(p);
    }
    p->methods_open = 0;
}

int probe_outcome_of_errno(int err)
{
    switch (err) {
    case 0:
        return PROTO_OUT_OK;
    case UV_ECONNREFUSED:
        return PROTO_OUT_REFUSED;
    case UV_ECONNRESET:
    case UV_EPIPE:
    case UV_ECONNABORTED:
    case UV_EOF:
        return PROTO_OUT_RESET;
    case UV_ETIMEDOUT:
    case UV_ECANCELED:
        return PROTO_OUT_TIMEOUT;
    case UV_EHOSTUNREACH:
    case UV_ENETUNREACH:
    case UV_EHOSTDOWN:
    case UV_ENONET:
        return PROTO_OUT_UNREACHABLE;
    case UV_EAI_NONAME:
    case UV_EAI_AGAIN:
    case UV_EAI_FAIL:
    case UV_EAI_NODATA:
        return PROTO_OUT_RESOLVE;
    default:
        return PROTO_OUT_LOCAL;
    }
}

void probe_sanitize(char *dst, size_t dstlen, const char *src, size_t n)
{
    size_t i;

    if (dstlen == 0)
        return;
    for (i = 0; i < n && i + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)src[i];

        dst[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    dst[i] = '\0';
}

int probe_attempt_report(struct probe *p, struct probe_task *t, uint32_t seq,
                         struct probe_reply *rep)
{
    int rc = probe_attempt_end(t, seq, rep);

    if (rc < 0)
        return rc;
    rep->seq = seq;
    if (rep->outcome != PROTO_OUT_OK)
        log_debug("task %u to %s: %s: %s", t->spec.id, t->spec.target_id,
                  proto_outcome_name((unsigned)rep->outcome), rep->why ? rep->why : "");
    if (p->on_reply != NULL)
        p->on_reply(p, t, rep);
    return 0;
}
