-- Spec helper: throwaway keys and certificates made with the openssl CLI.
--   local certs = require "helpers.certs"
--   local kit = certs.make()   -- { dir, key, cert, both, ... paths; read(name); cleanup() }
local M = {}

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok == true or ok == 0
end

local function capture(cmd)
  local p = assert(io.popen(cmd .. " 2>/dev/null"))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end
M.capture = capture

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end
M.read = read

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end
M.write = write

-- One RSA key + self-signed certificate; `both` holds certificate then key.
local function make_pair(dir, name)
  local key, cert = dir .. "/" .. name .. ".key", dir .. "/" .. name .. ".crt"
  assert(sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj /CN=%s")
    :format(key, cert, name)), "openssl req failed")
  local both = dir .. "/" .. name .. ".pem"
  write(both, read(cert) .. read(key))
  return key, cert, both
end

function M.make()
  local dir = capture("mktemp -d /tmp/graphcomm-certs.XXXXXX")
  assert(dir ~= "", "mktemp failed")
  local kit = { dir = dir }
  kit.key, kit.cert, kit.both = make_pair(dir, "app")
  kit.other_key, kit.other_cert = make_pair(dir, "other")
  kit.ec_key = dir .. "/ec.key"
  assert(sh(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s"):format(kit.ec_key)))
  kit.encrypted_key = dir .. "/enc.key"
  assert(sh(("openssl pkey -in %s -aes256 -passout pass:hunter22 -out %s"):format(kit.key, kit.encrypted_key)))
  function kit.read(name) return read(kit[name] or name) end
  function kit.cleanup() sh("rm -rf " .. dir) end
  return kit
end

-- A root CA, an intermediate CA and a leaf it signs (for x5c chains), in kit.dir:
-- chain.root, chain.inter, chain.leaf, chain.leaf_key (paths), chain.bundle (leaf,
-- intermediate, root, key), chain.shuffled (key, root, leaf, intermediate), chain.pfx
-- (password "pfx-pass"), chain.pfx_nopass (empty password).
function M.make_chain(kit, name)
  local d = kit.dir .. "/" .. (name or "chain")
  assert(sh("mkdir -p " .. d))
  local c = { root = d .. "/root.crt", inter = d .. "/inter.crt", leaf = d .. "/leaf.crt",
    leaf_key = d .. "/leaf.key", subject = "/CN=graphcomm-leaf" }
  write(d .. "/ca.ext", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n")
  write(d .. "/leaf.ext", "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n")
  local steps = {
    ("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/root.key -out %s -days 2 -subj /CN=graphcomm-root"
      .. " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"):format(d, c.root),
    ("openssl req -newkey rsa:2048 -nodes -keyout %s/inter.key -out %s/inter.csr -subj /CN=graphcomm-inter"):format(d, d),
    ("openssl x509 -req -in %s/inter.csr -CA %s -CAkey %s/root.key -CAcreateserial -out %s -days 2 -extfile %s/ca.ext")
      :format(d, c.root, d, c.inter, d),
    ("openssl req -newkey rsa:2048 -nodes -keyout %s -out %s/leaf.csr -subj /CN=graphcomm-leaf"):format(c.leaf_key, d),
    ("openssl x509 -req -in %s/leaf.csr -CA %s -CAkey %s/inter.key -CAcreateserial -out %s -days 2 -extfile %s/leaf.ext")
      :format(d, c.inter, d, c.leaf, d),
  }
  for _, cmd in ipairs(steps) do assert(sh(cmd), "openssl failed: " .. cmd) end
  c.bundle, c.shuffled = d .. "/bundle.pem", d .. "/shuffled.pem"
  write(c.bundle, read(c.leaf) .. read(c.inter) .. read(c.root) .. read(c.leaf_key))
  write(c.shuffled, read(c.leaf_key) .. read(c.root) .. read(c.leaf) .. read(c.inter))
  write(d .. "/cas.pem", read(c.inter) .. read(c.root))
  c.pfx, c.pfx_nopass = d .. "/leaf.pfx", d .. "/nopass.pfx"
  assert(sh(("openssl pkcs12 -export -inkey %s -in %s -certfile %s/cas.pem -passout pass:pfx-pass -out %s")
    :format(c.leaf_key, c.leaf, d, c.pfx)), "openssl pkcs12 failed")
  assert(sh(("openssl pkcs12 -export -inkey %s -in %s -certfile %s/cas.pem -passout pass: -out %s")
    :format(c.leaf_key, c.leaf, d, c.pfx_nopass)), "openssl pkcs12 failed")
  return c
end

-- base64url(digest of the DER certificate), computed by the openssl CLI.
function M.thumbprint(cert_path, digest)
  return capture(("openssl x509 -in %s -outform DER | openssl dgst -%s -binary | basenc --base64url | tr -d '='")
    :format(cert_path, digest))
end

-- Verifies a compact JWS with the certificate's public key, by the openssl CLI.
function M.verify_rs256(jwt, cert_path, dir)
  local input, sig = jwt:match("^(.*)%.([^.]+)$")
  sig = sig:gsub("-", "+"):gsub("_", "/")
  sig = sig .. string.rep("=", (4 - #sig % 4) % 4)
  write(dir .. "/input", input)
  write(dir .. "/sig.b64", sig)
  return sh(("base64 -d %s/sig.b64 > %s/sig && openssl x509 -in %s -pubkey -noout > %s/pub.pem"
    .. " && openssl dgst -sha256 -verify %s/pub.pem -signature %s/sig %s/input")
    :format(dir, dir, cert_path, dir, dir, dir, dir))
end

-- Decodes one base64url segment (specs only: checks the JWT's JSON parts).
function M.b64url_decode(s)
  local abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local bits, out = {}, {}
  for i = 1, #s do
    local v = abc:find(s:sub(i, i), 1, true) - 1
    for b = 5, 0, -1 do bits[#bits + 1] = math.floor(v / 2 ^ b) % 2 end
  end
  for i = 1, #bits - 7, 8 do
    local byte = 0
    for j = 0, 7 do byte = byte * 2 + bits[i + j] end
    out[#out + 1] = string.char(byte)
  end
  return table.concat(out)
end

return M
