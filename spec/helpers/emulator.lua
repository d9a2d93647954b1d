-- spec/helpers/emulator.lua: starts and stops the Graph emulator for specs, and talks to
-- it over plain HTTP with the curl command line (never through graphcomm).
--   local emu = require "helpers.emulator"
--   local e = emu.shared()                      -- one instance per busted run
--   local e2 = emu.start{ tls = true }          -- a private one: e2.stop() when done
--   local status, headers, body = emu.http("GET", e.url("/v1.0/..."), nil, { Authorization = "Bearer " .. e.token })
--   local status, headers, body = e:request("PATCH", "/v1.0/communications/...", { modalities = { "audio" } })
-- Fails loudly (error) when nginx or its Lua module is missing: specs never skip.

local cjson = require "cjson.safe"

local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
M.shell_quote = shell_quote

-- Runs a shell command, returns its exit code and output (stdout and stderr). Under
-- make check's ASan run the sanitizer is preloaded into this process: the commands run
-- without it (curl, nginx and the shell are not what is being checked).
local function run(cmd)
  local script = "{ " .. cmd .. "\n} 2>&1; echo \"__rc=$?\""
  local p = assert(io.popen("exec env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS sh -c " ..
    shell_quote(script)))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("__rc=(%d+)%s*$"))
  return rc, (out:gsub("__rc=%d+%s*$", ""))
end

-- The repository root, from where this file lives.
local ROOT = (function()
  local src = debug.getinfo(1, "S").source:sub(2)
  local dir = src:match("^(.*)/spec/helpers/[^/]+$") or "."
  local _, abs = run("cd " .. shell_quote(dir) .. " && pwd")
  return (abs:gsub("%s+$", ""))
end)()
M.root = ROOT

M.sh = function(cmd) return run(cmd) end

local function lua_pid()
  local p = io.popen("exec env -u LD_PRELOAD sh -c 'echo $PPID'")
  local pid = p:read("*l")
  p:close()
  return pid
end
local PID = lua_pid()

local running = {}     -- dir -> instance, so that stop_all can end them

---------------------------------------------------------------- HTTP through curl

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- Parses the last header block curl wrote with -D (after redirects or 100-continue).
local function parse_headers(text)
  local blocks = {}
  for block in (text or ""):gsub("\r", ""):gmatch("(HTTP/[^\n]*\n.-)\n\n") do blocks[#blocks + 1] = block end
  local last = blocks[#blocks] or ""
  local headers = {}
  for line in last:gmatch("[^\n]+") do
    local k, v = line:match("^([^:%s]+):%s*(.-)%s*$")
    if k then
      k = k:lower()
      headers[k] = headers[k] and (headers[k] .. ", " .. v) or v
    end
  end
  return headers
end

-- emu.http(method, url, body, headers, opts) -> status, headers, body, info
-- body: a string, or a table (sent as JSON). headers: { name = value }. opts: cacert,
-- http2 (over TLS), h2c (prior knowledge), timeout (s), form (body is form-encoded).
-- info = { http_version = "1.1" | "2", curl_exit = n }. A connection that fails or is
-- dropped returns nil, message, curl exit code.
function M.http(method, url, body, headers, opts)
  opts = opts or {}
  headers = headers or {}
  local tmp = os.tmpname()
  local args = { "curl", "-sS", "-X", shell_quote(method), "-D", shell_quote(tmp .. ".h"),
    "-o", shell_quote(tmp .. ".b"), "-w", shell_quote("%{http_code} %{http_version}"),
    "--max-time", tostring(opts.timeout or 30) }
  if type(body) == "table" then
    body = assert(cjson.encode(body))
    if not headers["Content-Type"] and not headers["content-type"] then headers["Content-Type"] = "application/json" end
  end
  if body then
    write_file(tmp .. ".in", body)
    args[#args + 1] = "--data-binary @" .. shell_quote(tmp .. ".in")
  end
  for k, v in pairs(headers) do args[#args + 1] = "-H " .. shell_quote(k .. ": " .. v) end
  if body and not headers["Content-Type"] and not headers["content-type"] then
    args[#args + 1] = "-H 'Content-Type:'"
  end
  if opts.cacert then args[#args + 1] = "--cacert " .. shell_quote(opts.cacert) end
  if opts.http2 then args[#args + 1] = "--http2" end
  if opts.h2c then args[#args + 1] = "--http2-prior-knowledge" end
  if not opts.http2 and not opts.h2c then args[#args + 1] = "--http1.1" end
  args[#args + 1] = shell_quote(url)
  local rc, out = run(table.concat(args, " "))
  local hdr, resp = read_file(tmp .. ".h"), read_file(tmp .. ".b")
  os.remove(tmp); os.remove(tmp .. ".h"); os.remove(tmp .. ".b"); os.remove(tmp .. ".in")
  local code, version = out:match("(%d%d%d) ([%d%.]+)%s*$")
  if rc ~= 0 or not code or code == "000" then
    return nil, ("curl %s %s failed (exit %s): %s"):format(method, url, tostring(rc), out), rc
  end
  return tonumber(code), parse_headers(hdr), resp or "", { http_version = version, curl_exit = rc }
end

-- emu.http_many(urls, headers, opts) -> { status, ... }: GETs many URLs through one curl
-- process and one kept-alive connection (fast enough for hundreds of requests).
function M.http_many(urls, headers, opts)
  opts = opts or {}
  local cfg = os.tmpname()
  local f = assert(io.open(cfg, "wb"))
  for k, v in pairs(headers or {}) do f:write(("header = \"%s: %s\"\n"):format(k, v)) end
  for _, u in ipairs(urls) do f:write(('url = "%s"\noutput = "/dev/null"\n'):format(u)) end
  f:close()
  local args = { "curl -sS -K", shell_quote(cfg), "-w", shell_quote("%{http_code}\n"),
    "--max-time", tostring(opts.timeout or 120) }
  if opts.cacert then args[#args + 1] = "--cacert " .. shell_quote(opts.cacert) end
  local rc, out = run(table.concat(args, " "))
  os.remove(cfg)
  local codes = {}
  for c in out:gmatch("(%d%d%d)\n") do codes[#codes + 1] = tonumber(c) end
  if #codes ~= #urls then error(("curl ran %d of %d requests (exit %s): %s"):format(#codes, #urls, tostring(rc), out:sub(1, 500)), 2) end
  return codes
end

function M.decode(text)
  local v, err = cjson.decode(text)
  if v == nil then error("not JSON (" .. tostring(err) .. "): " .. tostring(text), 2) end
  return v
end

---------------------------------------------------------------- instances

local Instance = {}
Instance.__index = Instance

function Instance.url(self_or_path, path)
  if type(self_or_path) == "table" then return self_or_path.base_url .. path end
  error("use instance.url(path) or instance:url(path)", 2)
end

-- A Graph request with the startup token (unless headers.Authorization is given).
function Instance:request(method, path, body, headers, opts)
  local h = { Authorization = "Bearer " .. self.token }
  for k, v in pairs(headers or {}) do h[k] = v end
  if h.Authorization == false then h.Authorization = nil end
  opts = opts or {}
  if self.ca_file and opts.cacert == nil then opts.cacert = self.ca_file end
  local url = path:match("^https?://") and path or (self.base_url .. path)
  return M.http(method, url, body, h, opts)
end

-- A control request (/_emulator/...): returns the decoded JSON answer; raises on failure.
function Instance:control(method, path, body)
  local status, _, resp = M.http(method, self.base_url .. "/_emulator/" .. path, body, nil,
    { cacert = self.ca_file })
  if status ~= 200 then error(("control %s %s: %s %s"):format(method, path, tostring(status), tostring(resp)), 2) end
  return M.decode(resp)
end

function Instance:fault(rule) return self:control("POST", "faults", rule) end
function Instance:clear_faults() return self:control("DELETE", "faults") end
function Instance:requests(query) return self:control("GET", "requests" .. (query and ("?" .. query) or "")) end
function Instance:clear_requests() return self:control("DELETE", "requests") end
function Instance:reset() return self:control("POST", "reset") end
function Instance:configure(t) return self:control("POST", "config", t) end

function Instance:stop()
  if self.stopped then return end
  local rc, out = run(shell_quote(ROOT .. "/emulator/stop") .. " " .. shell_quote(self.dir))
  self.stopped = true
  running[self.dir] = nil
  if rc ~= 0 then error("emulator/stop failed: " .. out, 2) end
end

-- emu.start{ tls = bool, read_only = bool, throttle = bool, port = n, workers = n } -> instance
-- instance: base_url, token, ca_file, h2c_url, dir, env, url(path), stop(), request(), control()
function M.start(opts)
  opts = opts or {}
  local cmd = { shell_quote(ROOT .. "/emulator/start"), "--watch-pid", PID }
  if opts.tls then cmd[#cmd + 1] = "--tls" end
  if opts.read_only then cmd[#cmd + 1] = "--read-only" end
  if opts.throttle then cmd[#cmd + 1] = "--throttle" end
  if opts.port then cmd[#cmd + 1] = "--port " .. tonumber(opts.port) end
  if opts.workers then cmd[#cmd + 1] = "--workers " .. tonumber(opts.workers) end
  local rc, out = run(table.concat(cmd, " "))
  if rc ~= 0 then error("emulator/start failed (exit " .. tostring(rc) .. "):\n" .. out, 2) end
  local env = {}
  for k, v in out:gmatch("export ([%w_]+)='([^']*)'") do env[k] = v end
  if not env.GRAPHCOMM_BASE_URL or not env.GRAPHCOMM_EMULATOR_DIR then
    error("emulator/start printed no settings:\n" .. out, 2)
  end
  local inst = setmetatable({
    base_url = env.GRAPHCOMM_BASE_URL, token = env.GRAPHCOMM_TOKEN, ca_file = env.GRAPHCOMM_CA_FILE,
    h2c_url = env.GRAPHCOMM_H2C_URL, dir = env.GRAPHCOMM_EMULATOR_DIR, env = env,
  }, Instance)
  inst.url = function(a, b) return inst.base_url .. (b or a) end
  local stop = Instance.stop
  inst.stop = function() return stop(inst) end
  running[inst.dir] = inst
  return inst
end

local shared
-- One instance for the whole busted run (stopped when the run ends).
function M.shared()
  if not shared or shared.stopped then shared = M.start() end
  return shared
end

function M.stop_all()
  for _, inst in pairs(running) do pcall(inst.stop) end
  shared = nil
end

-- The environment assignments of an instance as a shell prefix ("VAR='x' VAR2='y' ").
function M.env_prefix(inst)
  local parts = {}
  for k, v in pairs(inst.env) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
  table.sort(parts)
  return table.concat(parts, " ") .. " "
end

return M
