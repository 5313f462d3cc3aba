/*
 * chan.c - the control channel: TLS 1.3 over memory BIOs plus framing.
 *
 * The network side is two memory BIOs: feed() writes what arrived into
 * `in`, take_out() drains what OpenSSL wrote into `out`.  Decrypted octets
 * collect in `rx` until a whole frame is there; encoded frames wait in `tx`
 * until the handshake is done.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proto.h"

struct chan_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

struct proto_chan {
    SSL *ssl;
    BIO *in;
    BIO *out;
    struct chan_buf rx;
    struct chan_buf tx;
    int handshake_done;
    char reason[256];
};

static int buf_append(struct chan_buf *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        uint8_t *np;

        while (cap < b->len + n)
            cap *= 2;
        np = realloc(b->p, cap);
        if (np == NULL)
            return -ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void buf_consume(struct chan_buf *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

/* Records the most specific reason OpenSSL has for a failure. */
static void set_tls_reason(struct proto_chan *c, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    long vr = SSL_get_verify_result(c->ssl);
    char detail[200];

    if (vr != X509_V_OK)
        snprintf(detail, sizeof(detail), "certificate: %s",
                 X509_verify_cert_error_string(vr));
    else if (e != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    else
        snprintf(detail, sizeof(detail), "connection closed by peer");
    snprintf(c->reason, sizeof(c->reason), "%s: %s", what, detail);
    ERR_clear_error();
}

static int load_ctx_files(SSL_CTX *ctx, const char *ca, const char *cert, const char *key,
                          char *err, size_t errlen)
{
    const char *what = NULL;
    const char *file = NULL;

    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        what = "cannot load CA certificate", file = ca;
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        what = "cannot load certificate", file = cert;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        what = "cannot load private key", file = key;
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "private key does not match certificate", file = key;
    if (what == NULL)
        return 0;
    snprintf(err, errlen, "%s %s: %s", what, file,
             ERR_reason_error_string(ERR_peek_last_error()));
    ERR_clear_error();
    return -EINVAL;
}

SSL_CTX *proto_chan_ctx_new(int is_server, const char *ca_file, const char *cert_file,
                            const char *key_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(is_server ? TLS_server_method() : TLS_client_method());
    int mode = SSL_VERIFY_PEER;

    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create TLS context");
        return NULL;
    }
    /* Only TLS 1.3: probes and controller are ours, no legacy peers. */
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    if (is_server)
        mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, NULL);
    if (load_ctx_files(ctx, ca_file, cert_file, key_file, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Binds the client to the name or address the controller's certificate must carry. */
static int set_verify_host(SSL *ssl, const char *host)
{
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    struct sockaddr_storage ss;
    socklen_t sl;

    if (proto_addr_parse(host, 1, &ss, &sl) == 0)
        return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : -EINVAL;
    if (SSL_set_tlsext_host_name(ssl, host) != 1)
        return -EINVAL;
    return SSL_set1_host(ssl, host) == 1 ? 0 : -EINVAL;
}

struct proto_chan *proto_chan_new(SSL_CTX *ctx, int is_server, const char *verify_host)
{
    struct proto_chan *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->ssl = SSL_new(ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->in == NULL || c->out == NULL)
        goto fail;
    SSL_set_bio(c->ssl, c->in, c->out); /* the SSL now owns both BIOs */
    if (is_server) {
        SSL_set_accept_state(c->ssl);
    } else {
        SSL_set_connect_state(c->ssl);
        if (verify_host != NULL && set_verify_host(c->ssl, verify_host) < 0)
            goto fail_ssl;
        SSL_do_handshake(c->ssl); /* queues the ClientHello */
    }
    return c;
fail:
    BIO_free(c->in);
    BIO_free(c->out);
fail_ssl:
    SSL_free(c->ssl);
    free(c);
    return NULL;
}

void proto_chan_free(struct proto_chan *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    free(c->rx.p);
    free(c->tx.p);
    free(c);
}

/* Writes queued frames into TLS once the handshake allows it. */
static int flush_tx(struct proto_chan *c)
{
    while (c->handshake_done && c->tx.len > 0) {
        int n = SSL_write(c->ssl, c->tx.p,
                          c->tx.len > INT32_MAX ? INT32_MAX : (int)c->tx.len);

        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);

            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
            set_tls_reason(c, "TLS write failed");
            return -EPROTO;
        }
        buf_consume(&c->tx, (size_t)n);
    }
    return 0;
}

static int drive_handshake(struct proto_chan *c)
{
    int rc;

    if (c->handshake_done)
        return 0;
    rc = SSL_do_handshake(c->ssl);
    if (rc == 1) {
        c->handshake_done = 1;
        return 0;
    }
    rc = SSL_get_error(c->ssl, rc);
    if (rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE)
        return 0;
    set_tls_reason(c, "TLS handshake failed");
    return -EPROTO;
}

/* Moves every decrypted octet into rx; a frame larger than allowed stops it. */
static int drain_plaintext(struct proto_chan *c)
{
    uint8_t tmp[16384];

    for (;;) {
        int n = SSL_read(c->ssl, tmp, sizeof(tmp));

        if (n > 0) {
            /* No limit here: a feed is bounded by the read that brought it,
             * and proto_chan_recv() refuses an oversized frame header. */
            if (buf_append(&c->rx, tmp, (size_t)n) < 0) {
                snprintf(c->reason, sizeof(c->reason), "out of memory");
                return -ENOMEM;
            }
            continue;
        }
        n = SSL_get_error(c->ssl, n);
        if (n == SSL_ERROR_WANT_READ || n == SSL_ERROR_WANT_WRITE)
            return 0;
        if (n == SSL_ERROR_ZERO_RETURN) {
            snprintf(c->reason, sizeof(c->reason), "peer closed the TLS session");
            return -ECONNRESET;
        }
        set_tls_reason(c, "TLS read failed");
        return -EPROTO;
    }
}

int proto_chan_feed(struct proto_chan *c, const uint8_t *in, size_t len)
{
    int rc;

    if (len > 0 && BIO_write(c->in, in, (int)len) != (int)len)
        return -ENOMEM;
    rc = drive_handshake(c);
    if (rc == 0 && c->handshake_done)
        rc = drain_plaintext(c);
    if (rc == 0)
        rc = flush_tx(c);
    return rc;
}

int proto_chan_recv(struct proto_chan *c, struct proto_msg *m)
{
    const uint8_t *payload;
    size_t plen;
    long n = proto_frame_parse(c->rx.p, c->rx.len, PROTO_FRAME_MAX, &payload, &plen);
    int rc;

    if (n <= 0) {
        if (n < 0)
            snprintf(c->reason, sizeof(c->reason), "bad frame: %s",
                     proto_strerror((int)n));
        return (int)n;
    }
    rc = proto_msg_decode(payload, plen, m);
    buf_consume(&c->rx, (size_t)n);
    if (rc < 0) {
        snprintf(c->reason, sizeof(c->reason), "malformed message: %s",
                 proto_strerror(rc));
        return rc;
    }
    return 1;
}

int proto_chan_send(struct proto_chan *c, const struct proto_msg *m)
{
    uint8_t *frame;
    size_t len;
    int rc = proto_msg_encode(m, &frame, &len);

    if (rc < 0)
        return rc;
    rc = buf_append(&c->tx, frame, len);
    free(frame);
    if (rc == 0)
        rc = flush_tx(c);
    return rc;
}

int proto_chan_take_out(struct proto_chan *c, uint8_t **out, size_t *len)
{
    size_t pending = BIO_ctrl_pending(c->out);

    *out = NULL;
    *len = 0;
    if (pending == 0)
        return 0;
    *out = malloc(pending);
    if (*out == NULL)
        return -ENOMEM;
    if (BIO_read(c->out, *out, (int)pending) != (int)pending) {
        free(*out);
        *out = NULL;
        return -EIO;
    }
    *len = pending;
    return 0;
}

int proto_chan_ready(const struct proto_chan *c)
{
    return c->handshake_done;
}

int proto_chan_peer_cn(const struct proto_chan *c, char *buf, size_t len)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    int n;

    if (peer == NULL || SSL_get_verify_result(c->ssl) != X509_V_OK)
        return -ENOENT;
    /* First the full length: with a buffer OpenSSL truncates silently, and
     * a long CN must not pass as the id that is its prefix. */
    n = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, NULL, 0);
    if (n < 0)
        return -ENOENT;
    if ((size_t)n >= len)
        return -EBADMSG;
    n = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf,
                                  (int)len);
    if (n < 0 || strlen(buf) != (size_t)n)
        return -EBADMSG; /* an embedded NUL */
    return 0;
}

const char *proto_chan_reason(const struct proto_chan *c)
{
    return c->reason[0] ? c->reason : "no error";
}

size_t proto_chan_backlog(const struct proto_chan *c)
{
    return c->tx.len;
}
