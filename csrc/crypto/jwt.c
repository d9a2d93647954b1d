/* jwt.c: what the certificate credential needs from libcrypto: RS256 JSON Web
 * Signatures over a client assertion, certificate thumbprints and base64url.
 *
 *   core.jwt_rs256(header_json, claims_json, key_pem [, password]) -> jwt | nil, err
 *   core.cert_thumbprints(cert_pem) -> x5t, x5t#S256 | nil, err
 *   core.key_matches_cert(key_pem, cert_pem [, password]) -> true | nil, err
 *   core.base64url(s) -> s
 *   core.base64url_decode(s) -> s | nil               (unpadded or padded; nil when malformed)
 *   core.cert_chain(pem [, key_pem [, password]]) -> { base64 DER, ... }, leaf_pem | nil, err
 *       every certificate of a PEM bundle for the x5c header, the key's own first
 *   core.pkcs12(der, password) -> key_pem, certs_pem | nil, err
 *       a PKCS #12 (.pfx) file opened: its key (unencrypted PEM) and certificates
 *       (the key's own first, then the chain)
 *
 * Every OpenSSL object lives in a guard userdata whose __gc frees it, so a Lua
 * error (out of memory in a push) cannot strand one; the normal paths free
 * them at once. Bad keys and certificates are nil, err, never raises. */
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include "lua/core.h"

#define GUARD_MT "graphcomm.jwt_guard"

void gc_open_jwt(lua_State *L);

/* ---------------------------------------------------------------- guard */

typedef struct {
    BIO *bio;
    EVP_PKEY *pkey;
    X509 *cert;
    EVP_MD_CTX *md;
    STACK_OF(X509) *chain;
    PKCS12 *p12;
    BIO *out;
} jwt_guard;

static void guard_release(jwt_guard *g)
{
    BIO_free(g->bio);
    EVP_PKEY_free(g->pkey);
    X509_free(g->cert);
    EVP_MD_CTX_free(g->md);
    sk_X509_pop_free(g->chain, X509_free);
    PKCS12_free(g->p12);
    BIO_free(g->out);
    memset(g, 0, sizeof *g);
}

static int guard_gc(lua_State *L)
{
    guard_release((jwt_guard *)luaL_checkudata(L, 1, GUARD_MT));
    return 0;
}

/* Pushes an empty guard; raises only before anything is allocated. */
static jwt_guard *guard_new(lua_State *L)
{
    jwt_guard *g = (jwt_guard *)lua_newuserdata(L, sizeof *g);
    memset(g, 0, sizeof *g);
    gc_setmetatable(L, GUARD_MT);
    return g;
}

/* --------------------------------------------------------------- errors */

/* Frees what the guard holds, then pushes nil and "what: openssl reason". */
static int fail(lua_State *L, jwt_guard *g, const char *what)
{
    char reason[256];
    unsigned long e = ERR_peek_last_error();
    guard_release(g);
    if (e != 0)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();  /* leave no stale entries for the next caller (libcurl shares the queue) */
    lua_pushnil(L);
    if (e != 0)
        lua_pushfstring(L, "%s (%s)", what, reason);
    else
        lua_pushstring(L, what);
    return 2;
}

/* ------------------------------------------------------------ base64url */

static size_t b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* RFC 4648 section 5, without padding, as JWS wants it. */
static size_t b64url_encode(char *out, const unsigned char *in, size_t n)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18 & 63]; out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];  out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        out[o++] = abc[in[i] >> 2];
        out[o++] = abc[(in[i] & 3) << 4];
    } else if (n - i == 2) {
        out[o++] = abc[in[i] >> 2];
        out[o++] = abc[((in[i] & 3) << 4) | in[i + 1] >> 4];
        out[o++] = abc[(in[i + 1] & 15) << 2];
    }
    return o;
}

/* Pushes base64url(s[0..n)); the scratch space is a Lua userdata, so nothing leaks. */
static void push_b64url(lua_State *L, const unsigned char *s, size_t n)
{
    char *out = (char *)lua_newuserdata(L, b64url_len(n) + 1);
    size_t len = b64url_encode(out, s, n);
    lua_pushlstring(L, out, len);
    lua_remove(L, -2);
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
}

/* base64url (or standard base64), padding optional; nil for anything else. */
static int l_base64url_decode(lua_State *L)
{
    size_t n, i, o = 0;
    const char *s = luaL_checklstring(L, 1, &n);
    unsigned char *out;
    unsigned long acc = 0;
    int bits = 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1) {
        lua_pushnil(L);
        return 1;
    }
    out = (unsigned char *)lua_newuserdata(L, n / 4 * 3 + 3);
    for (i = 0; i < n; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            lua_pushnil(L);
            return 1;
        }
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    lua_pushlstring(L, (const char *)out, o);
    return 1;
}

static int l_base64url(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    push_b64url(L, (const unsigned char *)s, n);
    return 1;
}

/* ---------------------------------------------------------- PEM reading */

/* Never let OpenSSL prompt on the terminal for a passphrase: the callback
 * hands over the password given, or refuses. */
static int password_cb(char *buf, int size, int rwflag, void *u)
{
    size_t n;
    (void)rwflag;
    if (u == NULL)
        return -1;
    n = strlen((const char *)u);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, u, n);
    return (int)n;
}

static int load_key(jwt_guard *g, const char *pem, size_t n, const char *password)
{
    g->bio = BIO_new_mem_buf(pem, (int)n);
    if (g->bio == NULL)
        return 0;
    g->pkey = PEM_read_bio_PrivateKey(g->bio, NULL, password_cb, (void *)password);
    BIO_free(g->bio);
    g->bio = NULL;
    return g->pkey != NULL;
}

static int load_cert(jwt_guard *g, const char *pem, size_t n)
{
    g->bio = BIO_new_mem_buf(pem, (int)n);
    if (g->bio == NULL)
        return 0;
    g->cert = PEM_read_bio_X509(g->bio, NULL, password_cb, NULL);
    BIO_free(g->bio);
    g->bio = NULL;
    return g->cert != NULL;
}

static const char *opt_password(lua_State *L, int idx)
{
    return lua_isnoneornil(L, idx) ? NULL : luaL_checkstring(L, idx);
}

/* ---------------------------------------------------------------- RS256 */

/* Pushes base64url(header) "." base64url(claims): the JWS signing input. */
static void push_signing_input(lua_State *L)
{
    size_t hn, cn;
    const char *h = lua_tolstring(L, 1, &hn);
    const char *c = lua_tolstring(L, 2, &cn);
    push_b64url(L, (const unsigned char *)h, hn);
    lua_pushliteral(L, ".");
    push_b64url(L, (const unsigned char *)c, cn);
    lua_concat(L, 3);
}

/* Signs in[0..n) with SHA-256 and PKCS #1 v1.5 into sig; returns its length or 0. */
static size_t sign_rs256(jwt_guard *g, const char *in, size_t n, unsigned char *sig, size_t cap)
{
    size_t len = cap;
    g->md = EVP_MD_CTX_new();
    if (g->md == NULL
        || EVP_DigestSignInit(g->md, NULL, EVP_sha256(), NULL, g->pkey) != 1
        || EVP_DigestSign(g->md, sig, &len, (const unsigned char *)in, n) != 1)
        return 0;
    return len;
}

static int l_jwt_rs256(lua_State *L)
{
    size_t kn, in_len, sig_len;
    const char *input, *password, *key;
    unsigned char *sig;
    jwt_guard *g;
    luaL_checkstring(L, 1);
    luaL_checkstring(L, 2);
    key = luaL_checklstring(L, 3, &kn);
    password = opt_password(L, 4);
    push_signing_input(L);                       /* slot 5 (or 4 + 1) */
    input = lua_tolstring(L, -1, &in_len);
    g = guard_new(L);
    if (!load_key(g, key, kn, password))
        return fail(L, g, "cannot read the private key");
    if (EVP_PKEY_base_id(g->pkey) != EVP_PKEY_RSA)
        return fail(L, g, "RS256 needs an RSA private key");
    sig = (unsigned char *)lua_newuserdata(L, (size_t)EVP_PKEY_size(g->pkey));
    sig_len = sign_rs256(g, input, in_len, sig, (size_t)EVP_PKEY_size(g->pkey));
    if (sig_len == 0)
        return fail(L, g, "RS256 signing failed");
    guard_release(g);
    lua_pushvalue(L, -3);                        /* the signing input */
    lua_pushliteral(L, ".");
    push_b64url(L, sig, sig_len);
    lua_concat(L, 3);
    return 1;
}

/* ---------------------------------------------------------- thumbprints */

/* Pushes base64url(digest of the certificate's DER encoding). */
static int push_thumbprint(lua_State *L, X509 *cert, const EVP_MD *type)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, type, md, &len) != 1)
        return 0;
    push_b64url(L, md, len);
    return 1;
}

static int l_cert_thumbprints(lua_State *L)
{
    size_t n;
    const char *pem = luaL_checklstring(L, 1, &n);
    jwt_guard *g = guard_new(L);
    if (!load_cert(g, pem, n))
        return fail(L, g, "cannot read the certificate");
    if (!push_thumbprint(L, g->cert, EVP_sha1()) || !push_thumbprint(L, g->cert, EVP_sha256()))
        return fail(L, g, "cannot hash the certificate");
    guard_release(g);
    return 2;
}

/* A key that is not the certificate's would only fail at the token endpoint,
 * with a vaguer message: say so at connect time. */
static int l_key_matches_cert(lua_State *L)
{
    size_t kn, cn;
    const char *key = luaL_checklstring(L, 1, &kn);
    const char *cert = luaL_checklstring(L, 2, &cn);
    const char *password = opt_password(L, 3);
    jwt_guard *g = guard_new(L);
    if (!load_key(g, key, kn, password))
        return fail(L, g, "cannot read the private key");
    if (!load_cert(g, cert, cn))
        return fail(L, g, "cannot read the certificate");
    if (X509_check_private_key(g->cert, g->pkey) != 1)
        return fail(L, g, "the private key does not belong to the certificate");
    guard_release(g);
    lua_pushboolean(L, 1);
    return 1;
}

/* ----------------------------------------------------- chains and PKCS12 */

/* Pushes standard base64 (with padding) of the certificate's DER: one x5c entry. */
static int push_x5c(lua_State *L, X509 *cert)
{
    int der_len = i2d_X509(cert, NULL);
    unsigned char *der, *p;
    char *b64;
    if (der_len <= 0)
        return 0;
    der = (unsigned char *)lua_newuserdata(L, (size_t)der_len);
    p = der;
    if (i2d_X509(cert, &p) != der_len)
        return 0;
    b64 = (char *)lua_newuserdata(L, (size_t)(der_len + 2) / 3 * 4 + 1);
    EVP_EncodeBlock((unsigned char *)b64, der, der_len);
    lua_pushstring(L, b64);
    lua_replace(L, -3);
    lua_pop(L, 1);
    return 1;
}

/* Pushes the PEM text of what g->out holds, and empties it. */
static void push_out(lua_State *L, jwt_guard *g)
{
    char *data = NULL;
    long len = BIO_get_mem_data(g->out, &data);
    lua_pushlstring(L, data ? data : "", len > 0 ? (size_t)len : 0);
    (void)BIO_reset(g->out);
}

/* Reads every CERTIFICATE block of pem[0..n) into g->chain; the count. */
static int read_chain(jwt_guard *g, const char *pem, size_t n)
{
    X509 *x;
    g->bio = BIO_new_mem_buf(pem, (int)n);
    g->chain = sk_X509_new_null();
    if (g->bio == NULL || g->chain == NULL)
        return 0;
    while ((x = PEM_read_bio_X509(g->bio, NULL, password_cb, NULL)) != NULL) {
        if (!sk_X509_push(g->chain, x)) {
            X509_free(x);
            return 0;
        }
    }
    ERR_clear_error();   /* the end of the text reads as "no start line" */
    BIO_free(g->bio);
    g->bio = NULL;
    return sk_X509_num(g->chain);
}

/* Index of the certificate whose public key is the key's, or -1. */
static int find_leaf(jwt_guard *g)
{
    int i;
    for (i = 0; i < sk_X509_num(g->chain); i++) {
        if (X509_check_private_key(sk_X509_value(g->chain, i), g->pkey) == 1)
            return i;
    }
    ERR_clear_error();
    return -1;
}

static int l_cert_chain(lua_State *L)
{
    size_t n, kn = 0;
    const char *pem = luaL_checklstring(L, 1, &n);
    const char *key = lua_isnoneornil(L, 2) ? NULL : luaL_checklstring(L, 2, &kn);
    const char *password = opt_password(L, 3);
    int count, leaf = 0, i, k = 1;
    jwt_guard *g = guard_new(L);
    count = read_chain(g, pem, n);
    if (count <= 0)
        return fail(L, g, "no certificate in it");
    if (key != NULL) {
        if (!load_key(g, key, kn, password))
            return fail(L, g, "cannot read the private key");
        leaf = find_leaf(g);
        if (leaf < 0)
            return fail(L, g, "the private key does not belong to any certificate in it");
    }
    lua_createtable(L, count, 0);
    if (!push_x5c(L, sk_X509_value(g->chain, leaf)))
        return fail(L, g, "cannot encode the certificate");
    lua_rawseti(L, -2, k++);
    for (i = 0; i < count; i++) {
        if (i == leaf)
            continue;
        if (!push_x5c(L, sk_X509_value(g->chain, i)))
            return fail(L, g, "cannot encode the certificate");
        lua_rawseti(L, -2, k++);
    }
    g->out = BIO_new(BIO_s_mem());
    if (g->out == NULL || PEM_write_bio_X509(g->out, sk_X509_value(g->chain, leaf)) != 1)
        return fail(L, g, "cannot write the certificate");
    push_out(L, g);
    guard_release(g);
    return 2;
}

/* Opens the PKCS #12 structure; without a password both "" and none are tried,
 * as files exported with an empty password differ in which one they need. */
static int parse_p12(jwt_guard *g, const char *password, X509 **cert)
{
    if (password != NULL)
        return PKCS12_parse(g->p12, password, &g->pkey, cert, &g->chain) == 1;
    if (PKCS12_parse(g->p12, "", &g->pkey, cert, &g->chain) == 1)
        return 1;
    ERR_clear_error();
    return PKCS12_parse(g->p12, NULL, &g->pkey, cert, &g->chain) == 1;
}

static int l_pkcs12(lua_State *L)
{
    size_t n;
    const char *der = luaL_checklstring(L, 1, &n);
    const char *password = opt_password(L, 2);
    X509 *cert = NULL;
    int i, ok;
    jwt_guard *g = guard_new(L);
    g->bio = BIO_new_mem_buf(der, (int)n);
    if (g->bio == NULL || (g->p12 = d2i_PKCS12_bio(g->bio, NULL)) == NULL)
        return fail(L, g, "not a PKCS #12 file");
    if (!parse_p12(g, password, &cert))
        return fail(L, g, "cannot open the PKCS #12 file (wrong password, or an algorithm"
                          " this OpenSSL does not enable)");
    g->cert = cert;
    if (g->pkey == NULL || g->cert == NULL)
        return fail(L, g, "the PKCS #12 file holds no private key with its certificate");
    g->out = BIO_new(BIO_s_mem());
    if (g->out == NULL || PEM_write_bio_PrivateKey(g->out, g->pkey, NULL, NULL, 0, NULL, NULL) != 1)
        return fail(L, g, "cannot write the private key");
    push_out(L, g);
    ok = PEM_write_bio_X509(g->out, g->cert) == 1;
    for (i = 0; ok && g->chain != NULL && i < sk_X509_num(g->chain); i++)
        ok = PEM_write_bio_X509(g->out, sk_X509_value(g->chain, i)) == 1;
    if (!ok)
        return fail(L, g, "cannot write the certificates");
    push_out(L, g);
    guard_release(g);
    return 2;
}

/* ---------------------------------------------------------------- open */

static const luaL_Reg jwt_funcs[] = {
    { "jwt_rs256", l_jwt_rs256 },
    { "cert_thumbprints", l_cert_thumbprints },
    { "key_matches_cert", l_key_matches_cert },
    { "base64url", l_base64url },
    { "base64url_decode", l_base64url_decode },
    { "cert_chain", l_cert_chain },
    { "pkcs12", l_pkcs12 },
    { NULL, NULL }
};

void gc_open_jwt(lua_State *L)
{
    if (luaL_newmetatable(L, GUARD_MT)) {
        lua_pushcfunction(L, guard_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    gc_setfuncs(L, jwt_funcs);
}
