/*
 * benchshim.so: an LD_PRELOAD shim for the load generators (wrk, h2load), two jobs:
 *
 * 1. Name resolution without touching /etc/hosts: getaddrinfo() answers every name that ends in
 *    $BENCH_RESOLVE_SUFFIX (e.g. ".contoso.lab") with 127.0.0.1, so the URL's host is also the
 *    SNI name and the Host header, as a real client would send them.
 *
 * 2. Full handshakes on demand: with BENCH_NO_RESUME=1, SSL_set_session() is a no-op, and any
 *    session an SSL object still holds from its previous connection (wrk reuses SSL objects after
 *    SSL_clear(), which keeps the session) is dropped before the handshake starts. Without it,
 *    wrk and h2load resume TLS sessions on every reconnect.
 *
 * 3. A self-check for the harness: with BENCH_HANDSHAKE_LOG=FILE, every completed client handshake
 *    appends one line "<key type> <resumed 0|1>" to FILE (key type: EC, RSA, other), so the harness
 *    can prove that a scenario does full ECDSA, full RSA or resumed handshakes as it claims.
 *
 * Build: gcc -shared -fPIC -O2 -o benchshim.so benchshim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static int no_resume(void) {
    static int cached = -1;
    if (cached < 0) {
        const char *value = getenv("BENCH_NO_RESUME");
        cached = value != NULL && strcmp(value, "1") == 0;
    }
    return cached;
}

/* Looks up the next definition of `name` (the real library's), once per caller. */
#define REAL(type, name) \
    static type real_##name; \
    if (real_##name == NULL) real_##name = (type)dlsym(RTLD_NEXT, #name)

typedef int (*getaddrinfo_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    REAL(getaddrinfo_fn, getaddrinfo);
    const char *suffix = getenv("BENCH_RESOLVE_SUFFIX");
    if (node != NULL && suffix != NULL && *suffix != '\0') {
        size_t n = strlen(node), s = strlen(suffix);
        if (n >= s && strcasecmp(node + n - s, suffix) == 0) {
            node = "127.0.0.1";
        }
    }
    return real_getaddrinfo(node, service, hints, res);
}

typedef int (*set_session_fn)(SSL *, SSL_SESSION *);
typedef SSL_SESSION *(*get_session_fn)(const SSL *);
typedef int (*in_before_fn)(const SSL *);
typedef int (*ssl_fn)(SSL *);
typedef void *(*peer_cert_fn)(const SSL *);
typedef void *(*get0_pubkey_fn)(const void *);
typedef int (*pkey_id_fn)(const void *);
typedef void (*x509_free_fn)(void *);
typedef int (*ssl_const_fn)(const SSL *);

/* With BENCH_HANDSHAKE_LOG set, notes the server's key type and whether the session was resumed. */
static void log_handshake(SSL *ssl) {
    const char *path = getenv("BENCH_HANDSHAKE_LOG");
    if (path == NULL || *path == '\0') return;
    peer_cert_fn peer = (peer_cert_fn)dlsym(RTLD_DEFAULT, "SSL_get1_peer_certificate");
    get0_pubkey_fn pubkey = (get0_pubkey_fn)dlsym(RTLD_DEFAULT, "X509_get0_pubkey");
    pkey_id_fn base_id = (pkey_id_fn)dlsym(RTLD_DEFAULT, "EVP_PKEY_get_base_id");
    x509_free_fn x509_free = (x509_free_fn)dlsym(RTLD_DEFAULT, "X509_free");
    ssl_const_fn reused = (ssl_const_fn)dlsym(RTLD_DEFAULT, "SSL_session_reused");
    const char *type = "other";
    if (peer && pubkey && base_id && x509_free) {
        void *cert = peer(ssl);
        if (cert != NULL) {
            int id = base_id(pubkey(cert));
            if (id == 408) type = "EC";        /* EVP_PKEY_EC == NID_X9_62_id_ecPublicKey */
            else if (id == 6) type = "RSA";    /* EVP_PKEY_RSA == NID_rsaEncryption */
            x509_free(cert);
        }
    }
    FILE *f = fopen(path, "a");
    if (f != NULL) {
        fprintf(f, "%s %d\n", type, reused ? reused(ssl) : -1);
        fclose(f);
    }
}

/* Before a handshake starts, forget the session the SSL object carries over (real call, NULL). */
static void drop_session(SSL *ssl) {
    REAL(set_session_fn, SSL_set_session);
    REAL(get_session_fn, SSL_get_session);
    REAL(in_before_fn, SSL_in_before);
    if (real_SSL_in_before(ssl) && real_SSL_get_session(ssl) != NULL) {
        real_SSL_set_session(ssl, NULL);
    }
}

int SSL_set_session(SSL *ssl, SSL_SESSION *session) {
    REAL(set_session_fn, SSL_set_session);
    if (no_resume() && session != NULL) {
        return 1; /* "success": the client then does a full handshake */
    }
    return real_SSL_set_session(ssl, session);
}

int SSL_connect(SSL *ssl) {
    REAL(ssl_fn, SSL_connect);
    if (no_resume()) drop_session(ssl);
    int result = real_SSL_connect(ssl);
    if (result == 1) log_handshake(ssl);
    return result;
}

int SSL_do_handshake(SSL *ssl) {
    REAL(ssl_fn, SSL_do_handshake);
    if (no_resume()) drop_session(ssl);
    int result = real_SSL_do_handshake(ssl);
    if (result == 1) log_handshake(ssl);
    return result;
}
