/*
 * tls.c - what the tls and http methods learn from a TLS handshake, and how
 * they set one up: the context, SNI and the name the certificate must
 * carry.  No sockets and no loop: conn_io.c runs the SSL over memory BIOs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "probe.h"

SSL_CTX *probe_tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int ok;

    if (ctx == NULL) {
        snprintf(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    /* Every attempt is a full handshake: no tickets, so no resumption
     * (RFC 8446 4.6.1), and the server sends no post-handshake octets. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file != NULL && ca_file[0] != '\0')
        ok = SSL_CTX_load_verify_locations(ctx, ca_file, NULL);
    else
        ok = SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        unsigned long e = ERR_peek_last_error();

        snprintf(err, errlen, "cannot load CA certificates %s: %s",
                 ca_file != NULL && ca_file[0] != '\0' ? ca_file : "(system store)",
                 e != 0 ? ERR_reason_error_string(e) : "unknown error");
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int probe_tls_prepare(SSL *ssl, const char *host, const char *addr)
{
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

    if (host != NULL && host[0] != '\0') {
        /* RFC 6066 3: SNI is a DNS name; RFC 6125 6.4: so is the match. */
        if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
            return -EINVAL;
        return 0;
    }
    /* No name: the address must be an iPAddress SAN (RFC 5280 4.2.1.6). */
    return X509_VERIFY_PARAM_set1_ip_asc(vp, addr) == 1 ? 0 : -EINVAL;
}

int64_t probe_tls_time(const ASN1_TIME *t)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

void probe_tls_info(SSL *ssl, struct proto_content_info *in)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    X509 *leaf = SSL_get1_peer_certificate(ssl);

    snprintf(in->tls_version, sizeof(in->tls_version), "%s", SSL_get_version(ssl));
    if (c != NULL)
        snprintf(in->tls_cipher, sizeof(in->tls_cipher), "%s", SSL_CIPHER_get_name(c));
    if (leaf != NULL) {
        in->cert_not_after = probe_tls_time(X509_get0_notAfter(leaf));
        X509_free(leaf);
    }
    in->verify_result = (uint32_t)SSL_get_verify_result(ssl) + 1;
}

/*
 * A failed verification shows in the verify result even though the
 * handshake only says "certificate verify failed"; everything else is
 * OpenSSL's reason for the alert or error.
 */
int probe_tls_failure(SSL *ssl, char *why, size_t len)
{
    long vr = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_last_error();
    char detail[160];
    int outcome = PROTO_OUT_TLS;

    if (vr != X509_V_OK) {
        snprintf(detail, sizeof(detail), "certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
        outcome = PROTO_OUT_TLS_VERIFY;
    } else if (e != 0) {
        const char *r = ERR_reason_error_string(e);

        snprintf(detail, sizeof(detail), "TLS handshake failed: %s",
                 r != NULL ? r : "unknown error");
    } else {
        snprintf(detail, sizeof(detail), "TLS handshake failed");
    }
    ERR_clear_error();
    probe_sanitize(why, len, detail, strlen(detail));
    return outcome;
}
