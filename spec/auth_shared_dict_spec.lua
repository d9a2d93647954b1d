-- The token cache shared by nginx workers (token_cache = { shared_dict = name }): an
-- nginx of this spec's own (two workers, reuseport, Debian's nginx + lua module) whose
-- handler asks one provider per worker for a token through the ngx transport; 16
-- requests at once, with the emulator's token endpoint slowed so that they overlap,
-- make one token request in all. Also: the option's refusals outside nginx.
local auth = require "graphcomm.auth"
local emu = require "helpers.emulator"
local tokens = require "helpers.tokens"
local certs = require "helpers.certs"
local fake = require "helpers.dict"

local q = emu.shell_quote

local HANDLER = [[
local auth = require "graphcomm.auth"
local M = {}
local provider
function M.token()
  if not provider then
    local t = require("graphcomm.ngx").new({})
    provider = assert(auth.new(auth.resolve({ base_url = os.getenv("GC_BASE"), tenant_id = os.getenv("GC_TENANT"),
      client_id = os.getenv("GC_CLIENT"), client_secret = os.getenv("GC_SECRET"),
      token_cache = { shared_dict = "graphcomm_tokens" } }, function() return nil end),
      { send = t.send, now = ngx.now, sleep = ngx.sleep }))
  end
  local token, err = provider:get()
  ngx.say(ngx.worker.id(), " ", token or tostring(err))
end
return M
]]

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
%s
worker_processes 2;
pid logs/nginx.pid;
error_log logs/error.log warn;
thread_pool graphcomm threads=8;
env GC_BASE; env GC_TENANT; env GC_CLIENT; env GC_SECRET;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
  lua_package_path "%s/lua/?.lua;;";
  lua_package_cpath "%s/lib/?.so;;";
  lua_shared_dict graphcomm_tokens 1m;
  server {
    listen 127.0.0.1:%d reuseport;
    location = /token { content_by_lua_block { require("handler").token() } }
  }
}
]]

local function sh(cmd)
  local rc, out = emu.sh(cmd)
  assert(rc == 0, cmd .. ": " .. out)
  return out
end

-- A prefix the (unprivileged) workers can read, with graphcomm and the LuaJIT core in it.
local function make_prefix()
  local dir = sh("mktemp -d /tmp/graphcomm-dict.XXXXXX"):gsub("%s+$", "")
  if not io.open(emu.root .. "/build/luajit/graphcomm/core.so") then
    sh("make -s -C " .. q(emu.root) .. " LUA=luajit")
  end
  sh(("mkdir -p %s/conf %s/logs %s/tmp %s/lua/graphcomm %s/lib/graphcomm && chmod -R 755 %s"
    .. " && install -m 0644 %s/lua/graphcomm.lua %s/lua/ && install -m 0644 %s/lua/graphcomm/*.lua %s/lua/graphcomm/"
    .. " && install -m 0644 %s/build/luajit/graphcomm/core.so %s/lib/graphcomm/core.so")
    :format(dir, dir, dir, dir, dir, dir, emu.root, dir, emu.root, dir, emu.root, dir))
  certs.write(dir .. "/lua/handler.lua", HANDLER)
  sh("chmod 644 " .. q(dir .. "/lua/handler.lua"))
  return dir
end

local function start_nginx(dir, app, base_url)
  local user = sh("id -u"):match("^0") and "user nobody nogroup;" or ""
  for _ = 1, 5 do
    local port = 20000 + math.random(0, 20000)
    certs.write(dir .. "/conf/nginx.conf", CONF:format(user, dir, dir, port))
    local rc = emu.sh(("cd %s && GC_BASE=%s GC_TENANT=%s GC_CLIENT=%s GC_SECRET=%s nginx -p %s/ -c conf/nginx.conf"
      .. " -e logs/error.log"):format(q(dir), q(base_url), q(app.tenant), q(app.client_id), q(app.client_secret), q(dir)))
    if rc == 0 then return "http://127.0.0.1:" .. port end
  end
  error("nginx did not start: " .. (certs.read(dir .. "/logs/error.log") or ""))
end

describe("token cache in a shared dict", function()
  local server, ctl, kit, dir, url, app
  setup(function()
    server, ctl, kit = tokens.start()
    app = ctl.secret_app()
    dir = make_prefix()
    url = start_nginx(dir, app, server.base_url)
  end)
  teardown(function()
    if dir then
      emu.sh(("nginx -p %s/ -c conf/nginx.conf -s stop; sleep 0.2; [ -n \"$GC_KEEP\" ] || rm -rf %s"):format(q(dir), q(dir)))
    end
    tokens.stop(server, kit)
  end)

  it("makes one token request for 16 requests at once over two workers", function()
    -- a slow token endpoint: every worker asks while the first request is out
    server:fault({ match = tokens.token_path(app.tenant), delay_ms = 600, count = 20 })
    local cfg = os.tmpname()
    local f = assert(io.open(cfg, "wb"))
    for _ = 1, 16 do f:write(('url = "%s/token"\n'):format(url)) end
    f:close()
    local out = sh(("curl -sS --no-progress-meter --noproxy '*' --max-time 20 -Z --parallel-immediate --parallel-max 16 -K %s"):format(q(cfg)))
    os.remove(cfg)
    local seen_tokens, workers, n = {}, {}, 0
    for w, token in out:gmatch("(%d+) (%S+)") do
      n = n + 1
      workers[w] = true
      seen_tokens[token] = true
    end
    assert.equal(16, n, out)
    local distinct = 0
    for _ in pairs(seen_tokens) do distinct = distinct + 1 end
    assert.equal(1, distinct, out)
    assert.truthy(workers["0"] and workers["1"], "both workers answered: " .. out)
    assert.equal(1, #ctl.log(tokens.token_path(app.tenant)))
    server:clear_faults()
  end)
end)

describe("token_cache = { shared_dict = }", function()
  it("is refused outside nginx and with bad values", function()
    local base = { token = nil, tenant_id = "t", client_id = "c", client_secret = "s", base_url = "http://127.0.0.1:9" }
    for _, c in ipairs({
      { { shared_dict = "graphcomm_tokens" }, "no lua_shared_dict named graphcomm_tokens" },
      { { shared_dict = 5 }, "shared_dict must be a non%-empty string" },
      { { shared_dict = "x", path = "/tmp" }, "path or shared_dict, not both" },
    }) do
      local o = {}
      for k, v in pairs(base) do o[k] = v end
      o.token_cache = c[1]
      local p, err = auth.new(o, { send = function() error("nothing may be sent") end })
      assert.is_nil(p)
      assert.matches(c[2], err.message)
    end
  end)
end)

-- The lock protocol against a dict of this spec's own, standing in for ngx.shared (the
-- token endpoint is the emulator's, for real): the moments where another worker's
-- step falls between two of ours, which the 16-at-once run above only meets by chance.
describe("token cache in a shared dict, between two workers' steps", function()
  local server, ctl, kit, app
  setup(function()
    server, ctl, kit = tokens.start()
    app = ctl.secret_app()
  end)
  teardown(function() tokens.stop(server, kit) end)

  local dict = fake.new

  -- A provider on dict d (ngx.shared set only while it is made), counting its token requests;
  -- sleep and now as given, else a sleep that returns at once.
  local function provider(d, sleep, now)
    local sent = 0
    local p, err = fake.with_ngx({ shared = { tokens = d } }, function()
      return auth.new(auth.resolve({ base_url = server.base_url, tenant_id = app.tenant,
        client_id = app.client_id, client_secret = app.client_secret,
        token_cache = { shared_dict = "tokens" } }, function() return nil end),
        { send = function(req) sent = sent + 1; return ctl.send(req) end,
          sleep = sleep or function() end, sleep_yields = true, now = now })
    end)
    assert(p, err and err.message)
    return p, function() return sent end
  end

  it("takes the token another worker stored just before this one took the lock", function()
    local other = "token-of-another-worker-" .. string.rep("x", 40)
    local d = dict(function(self, k)
      if k:match(":lock$") then   -- the other worker stores its token, then lets go
        local key = k:gsub(":lock$", "")
        self.data[key] = require("cjson").encode({ access_token = other, expires_on = os.time() + 3600 })
      end
    end)
    local p, sent = provider(d)
    assert.equal(other, p:get())
    assert.equal(0, sent())
    for k in pairs(d.data) do assert.is_nil(k:match(":lock$"), "the lock is let go") end
  end)

  it("stores the token before it lets go of the lock", function()
    local d, ops = dict()
    local p, sent = provider(d)
    local token = assert(p:get())
    assert.equal(1, sent())
    local set_at, delete_at
    for i, op in ipairs(ops) do
      if op:match("^set ") then set_at = i end
      if op:match("^delete .*:lock$") then delete_at = i end
    end
    assert.truthy(set_at and delete_at, table.concat(ops, "\n"))
    assert.is_true(set_at < delete_at, table.concat(ops, "\n"))
    local p2, sent2 = provider(d)
    assert.equal(token, p2:get())
    assert.equal(0, sent2())
  end)

  it("takes the lock once the other worker lets go of it with no token stored", function()
    -- The other worker holds the lock; its fetch fails after our first sleep, and it lets go.
    local held = false
    local d, ops = dict(function(self, k)
      if k:match(":lock$") and not held then held = true; self.data[k] = true end
    end)
    local clock, sleeps = 0, 0
    local function sleep(s)
      sleeps = sleeps + 1
      clock = clock + s
      if sleeps == 1 then
        for k in pairs(d.data) do if k:match(":lock$") then d.data[k] = nil end end
      end
    end
    local p, sent = provider(d, sleep, function() return clock end)
    assert.truthy(p:get())
    assert.equal(1, sent())
    assert.is_true(clock < 1, "waited " .. clock .. " s for a token that was never coming")
    local adds = 0
    for _, op in ipairs(ops) do if op:match("^add .*:lock$") then adds = adds + 1 end end
    assert.equal(2, adds, "it took the lock before fetching: " .. table.concat(ops, "\n"))
    for k in pairs(d.data) do assert.is_nil(k:match(":lock$"), "the lock is let go") end
  end)
end)
