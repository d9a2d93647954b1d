-- graphcomm_emulator.crypto: what the token endpoint needs from OpenSSL's libcrypto,
-- through LuaJIT's ffi (nginx already links libcrypto): certificate thumbprints and
-- RSA-SHA256 signature checks with the public key of a registered certificate.
-- Every path clears OpenSSL's error queue, which nginx's TLS code shares.

local ffi = require "ffi"
local ngx = ngx
local b64 = require "ngx.base64"

ffi.cdef [[
typedef struct bio_st BIO;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct engine_st ENGINE;
BIO *BIO_new_mem_buf(const void *buf, int len);
int BIO_free(BIO *a);
X509 *PEM_read_bio_X509(BIO *bp, X509 **x, void *cb, void *u);
void X509_free(X509 *a);
int i2d_X509(X509 *a, unsigned char **out);
EVP_PKEY *X509_get_pubkey(X509 *x);
void EVP_PKEY_free(EVP_PKEY *pkey);
int EVP_PKEY_get_base_id(const EVP_PKEY *pkey);
int EVP_PKEY_base_id(const EVP_PKEY *pkey);
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
const EVP_MD *EVP_sha256(void);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);
int EVP_Digest(const void *data, size_t count, unsigned char *md, unsigned int *size,
               const EVP_MD *type, ENGINE *impl);
int RAND_bytes(unsigned char *buf, int num);
X509 *d2i_X509(X509 **a, const unsigned char **in, long len);
typedef struct x509_store_st X509_STORE;
typedef struct x509_store_ctx_st X509_STORE_CTX;
typedef struct stack_st OPENSSL_STACK;
typedef struct X509_name_st X509_NAME;
X509_STORE *X509_STORE_new(void);
void X509_STORE_free(X509_STORE *v);
int X509_STORE_add_cert(X509_STORE *ctx, X509 *x);
X509_STORE_CTX *X509_STORE_CTX_new(void);
void X509_STORE_CTX_free(X509_STORE_CTX *ctx);
int X509_STORE_CTX_init(X509_STORE_CTX *ctx, X509_STORE *store, X509 *x509, OPENSSL_STACK *chain);
int X509_STORE_CTX_get_error(X509_STORE_CTX *ctx);
const char *X509_verify_cert_error_string(long n);
int X509_verify_cert(X509_STORE_CTX *ctx);
OPENSSL_STACK *OPENSSL_sk_new_null(void);
int OPENSSL_sk_push(OPENSSL_STACK *st, const void *data);
void OPENSSL_sk_free(OPENSSL_STACK *st);
X509_NAME *X509_get_subject_name(const X509 *x);
char *X509_NAME_oneline(const X509_NAME *a, char *buf, int size);
void ERR_clear_error(void);
]]

local M = {}
local EVP_PKEY_RSA = 6

local function load_lib()
  local ok = pcall(function() return ffi.C.EVP_sha256 end)
  if ok then return ffi.C end
  for _, name in ipairs({ "crypto", "libcrypto.so.3", "libcrypto.so.1.1" }) do
    local ok2, lib = pcall(ffi.load, name)
    if ok2 then return lib end
  end
  error("graphcomm emulator: libcrypto not found")
end
local C = load_lib()

local function base_id(pkey)
  local ok, id = pcall(function() return C.EVP_PKEY_get_base_id(pkey) end)
  if ok then return id end
  return C.EVP_PKEY_base_id(pkey)
end

-- Parses the first CERTIFICATE in a PEM text; returns an X509* with a finalizer, or nil.
local function read_x509(pem)
  local bio = C.BIO_new_mem_buf(pem, #pem)
  if bio == nil then return nil end
  local x = C.PEM_read_bio_X509(bio, nil, nil, nil)
  C.BIO_free(bio)
  C.ERR_clear_error()
  if x == nil then return nil end
  return ffi.gc(x, C.X509_free)
end

function M.sha256(data)
  local md = ffi.new("unsigned char[32]")
  local len = ffi.new("unsigned int[1]")
  assert(C.EVP_Digest(data, #data, md, len, C.EVP_sha256(), nil) == 1)
  return ffi.string(md, len[0])
end

function M.random_bytes(n)
  local buf = ffi.new("unsigned char[?]", n)
  if C.RAND_bytes(buf, n) ~= 1 then
    C.ERR_clear_error()
    local t = {}
    for i = 1, n do t[i] = string.char(math.random(0, 255)) end
    return table.concat(t)
  end
  return ffi.string(buf, n)
end

-- { x5t, x5t_s256 } (base64url SHA-1 and SHA-256 of the DER) for a PEM certificate.
function M.certificate_info(pem)
  if type(pem) ~= "string" then return nil, "not a string" end
  local x = read_x509(pem)
  if not x then return nil, "no PEM CERTIFICATE block in it" end
  local n = C.i2d_X509(x, nil)
  if n <= 0 then C.ERR_clear_error(); return nil, "the certificate cannot be encoded" end
  local buf = ffi.new("unsigned char[?]", n)
  local p = ffi.new("unsigned char*[1]", buf)
  C.i2d_X509(x, p)
  local der = ffi.string(buf, n)
  local pkey = C.X509_get_pubkey(x)
  local rsa = pkey ~= nil and base_id(pkey) == EVP_PKEY_RSA
  if pkey ~= nil then C.EVP_PKEY_free(pkey) end
  C.ERR_clear_error()
  if not rsa then return nil, "the certificate's key is not an RSA key (RS256 needs one)" end
  return { x5t = b64.encode_base64url(ngx.sha1_bin(der)), x5t_s256 = b64.encode_base64url(M.sha256(der)) }
end

-- Does `sig` sign `data` with RSA-SHA256 (PKCS#1 v1.5) under the certificate's key?
-- pem: PEM text, or an X509* (from M.verify_chain).
function M.verify_rs256(pem, data, sig)
  local x = type(pem) == "string" and read_x509(pem) or pem
  if not x then return false end
  local pkey = C.X509_get_pubkey(x)
  if pkey == nil then C.ERR_clear_error(); return false end
  pkey = ffi.gc(pkey, C.EVP_PKEY_free)
  local ctx = ffi.gc(C.EVP_MD_CTX_new(), C.EVP_MD_CTX_free)
  local ok = C.EVP_DigestVerifyInit(ctx, nil, C.EVP_sha256(), nil, pkey) == 1
    and C.EVP_DigestVerify(ctx, sig, #sig, data, #data) == 1
  C.ERR_clear_error()
  return ok
end

-- An X509* (with a finalizer) from DER bytes, or nil.
local function read_der(der)
  local buf = ffi.new("const unsigned char*[1]")
  local keep = ffi.new("unsigned char[?]", #der)
  ffi.copy(keep, der, #der)
  buf[0] = keep
  local x = C.d2i_X509(nil, buf, #der)
  C.ERR_clear_error()
  if x == nil then return nil end
  return ffi.gc(x, C.X509_free)
end

-- Checks an x5c chain (DER certificates, leaf first) against one trusted root (PEM).
-- Returns the leaf (an X509*) and its subject ("/CN=..."), or nil and the reason.
function M.verify_chain(root_pem, ders)
  local root = read_x509(root_pem)
  if not root then return nil, "the registered root is not a certificate" end
  local certs = {}
  for i, der in ipairs(ders) do
    certs[i] = read_der(der)
    if not certs[i] then return nil, "x5c entry " .. i .. " is not a DER certificate" end
  end
  if #certs == 0 then return nil, "x5c is empty" end
  local store = ffi.gc(C.X509_STORE_new(), C.X509_STORE_free)
  C.X509_STORE_add_cert(store, root)
  local untrusted = ffi.gc(C.OPENSSL_sk_new_null(), C.OPENSSL_sk_free)
  for i = 2, #certs do C.OPENSSL_sk_push(untrusted, certs[i]) end
  local ctx = ffi.gc(C.X509_STORE_CTX_new(), C.X509_STORE_CTX_free)
  local ok = C.X509_STORE_CTX_init(ctx, store, certs[1], untrusted) == 1
    and C.X509_verify_cert(ctx) == 1
  local reason = not ok and ffi.string(C.X509_verify_cert_error_string(C.X509_STORE_CTX_get_error(ctx)))
  C.ERR_clear_error()
  if not ok then return nil, reason end
  local buf = ffi.new("char[512]")
  C.X509_NAME_oneline(C.X509_get_subject_name(certs[1]), buf, 512)
  -- certs keeps the intermediates alive while `untrusted` points at them
  return certs[1], ffi.string(buf), certs
end

return M
