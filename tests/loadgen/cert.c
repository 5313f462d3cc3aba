/*
 * cert.c - keys and certificates for the simulated probes, made in memory.
 *
 * Each probe gets what deploy/mkcerts.sh would give it: an EC P-256 key and
 * a certificate with CN = its id, clientAuth, signed by the exchange's CA.
 * The controller checks exactly that in the handshake (PROTOCOL.md 1) and
 * then that the HELLO's id is the CN (6.4), so nothing here is a shortcut.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "loadgen.h"

#define CERT_VALID_S (2 * 86400) /* a run lasts minutes; a day of margin each side */

static int openssl_fail(char *err, size_t errlen, const char *what)
{
    char detail[200];

    ERR_error_string_n(ERR_peek_last_error(), detail, sizeof(detail));
    snprintf(err, errlen, "%s: %s", what, detail);
    ERR_clear_error();
    return -EINVAL;
}

static void *read_pem(const char *file, int is_key, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    void *v;

    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", file, strerror(errno));
        return NULL;
    }
    v = is_key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
               : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (v == NULL)
        openssl_fail(err, errlen,
                     is_key ? "cannot read the CA key" : "cannot read the CA");
    return v;
}

int lg_ca_load(struct lg_ca *ca, const char *cert_file, const char *key_file, char *err,
               size_t errlen)
{
    memset(ca, 0, sizeof(*ca));
    if ((ca->cert = read_pem(cert_file, 0, err, errlen)) == NULL ||
        (ca->key = read_pem(key_file, 1, err, errlen)) == NULL)
        goto fail;
    if (X509_check_private_key(ca->cert, ca->key) != 1) {
        openssl_fail(err, errlen, "the CA key does not match the CA certificate");
        goto fail;
    }
    /* One store for all contexts: a thousand copies of the CA would be waste. */
    ca->trust = X509_STORE_new();
    if (ca->trust == NULL || X509_STORE_add_cert(ca->trust, ca->cert) != 1) {
        openssl_fail(err, errlen, "cannot make the trust store");
        goto fail;
    }
    return 0;
fail:
    lg_ca_free(ca);
    return -EINVAL;
}

void lg_ca_free(struct lg_ca *ca)
{
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    X509_STORE_free(ca->trust);
    memset(ca, 0, sizeof(*ca));
}

static int add_ext(X509 *crt, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    int ok = e != NULL && X509_add_ext(crt, e, -1) == 1;

    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* A random positive serial of 127 bits, as mkcerts.sh makes them. */
static int set_serial(X509 *crt)
{
    unsigned char raw[16];
    BIGNUM *bn;
    int ok;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    raw[0] &= 0x7f;
    bn = BN_bin2bn(raw, sizeof(raw), NULL);
    ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) != NULL;
    BN_free(bn);
    return ok ? 0 : -1;
}

static int set_names(X509 *crt, const struct lg_ca *ca, const char *cn)
{
    X509_NAME *subject = X509_get_subject_name(crt);

    if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_UTF8,
                                   (const unsigned char *)cn, -1, -1, 0) != 1)
        return -1;
    return X509_set_issuer_name(crt, X509_get_subject_name(ca->cert)) == 1 ? 0 : -1;
}

/* The extensions of mkcerts.sh's make_leaf for a probe. */
static int set_extensions(X509 *crt, const struct lg_ca *ca)
{
    X509V3_CTX v3;

    X509V3_set_ctx(&v3, ca->cert, crt, NULL, NULL, 0);
    if (add_ext(crt, &v3, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(crt, &v3, NID_key_usage, "critical,digitalSignature") < 0 ||
        add_ext(crt, &v3, NID_ext_key_usage, "clientAuth") < 0 ||
        add_ext(crt, &v3, NID_subject_key_identifier, "hash") < 0 ||
        add_ext(crt, &v3, NID_authority_key_identifier, "keyid") < 0)
        return -1;
    return 0;
}

static X509 *make_cert(const struct lg_ca *ca, EVP_PKEY *key, const char *cn)
{
    X509 *crt = X509_new();

    if (crt == NULL || X509_set_version(crt, X509_VERSION_3) != 1 ||
        set_serial(crt) < 0 || set_names(crt, ca, cn) < 0 ||
        X509_gmtime_adj(X509_getm_notBefore(crt), -CERT_VALID_S) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(crt), CERT_VALID_S) == NULL ||
        X509_set_pubkey(crt, key) != 1 || set_extensions(crt, ca) < 0 ||
        X509_sign(crt, ca->key, EVP_sha256()) <= 0) {
        X509_free(crt);
        return NULL;
    }
    return crt;
}

/* The settings of proto_chan_ctx_new() for a client, with the identity in memory. */
static SSL_CTX *new_ctx(const struct lg_ca *ca, X509 *crt, EVP_PKEY *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set1_cert_store(ctx, ca->trust);
    if (SSL_CTX_use_certificate(ctx, crt) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

SSL_CTX *lg_client_ctx(const struct lg_ca *ca, const char *cn, char *err, size_t errlen)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = key ? make_cert(ca, key, cn) : NULL;
    SSL_CTX *ctx = crt ? new_ctx(ca, crt, key) : NULL;

    if (ctx == NULL)
        openssl_fail(err, errlen,
                     key == NULL   ? "cannot make an EC P-256 key"
                     : crt == NULL ? "cannot make a certificate"
                                   : "cannot make a TLS context");
    /* The context holds its own references. */
    X509_free(crt);
    EVP_PKEY_free(key);
    return ctx;
}
