-- bench/common.lua: set-up shared by the benchmarks, loaded with dofile before the module
-- paths are set:
--   local common = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".")
--     .. "/common.lua")
-- It puts the tree's lua/ and build/<lua>/ (GRAPHCOMM_BUILD overrides) on the paths and
-- returns { here, interpreter, sh, quote, emulator, control, jwt, tokens }.
local here = debug.getinfo(1, "S").source:match("^@(.*)/bench/[^/]*$") or "."
local flavour = rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua")
package.path = here .. "/lua/?.lua;" .. package.path
package.cpath = (os.getenv("GRAPHCOMM_BUILD") or (here .. "/build/" .. flavour)) .. "/?.so;"
  .. package.cpath

local M = { here = here }

-- The command that runs this Lua again (child runs).
M.interpreter = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))

-- A shell command's output and whether it succeeded.
function M.sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

function M.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The emulator: the one named by GRAPHCOMM_BASE_URL/GRAPHCOMM_TOKEN, or our own for the
-- run. -> base, token, finish (stops our own; does nothing for the environment's).
function M.emulator()
  local base, token = os.getenv("GRAPHCOMM_BASE_URL"), os.getenv("GRAPHCOMM_TOKEN")
  local started = false
  if not (base and token) then
    local out = M.sh(M.quote(here .. "/emulator/start") .. " 2>&1")
    base = out:match("GRAPHCOMM_BASE_URL='?([^'\n]+)")
    token = out:match("GRAPHCOMM_TOKEN='?([^'\n]+)")
    started = out:match("GRAPHCOMM_EMULATOR_DIR='?([^'\n]+)")
    assert(base and token and started, "emulator/start failed:\n" .. out)
  end
  local function finish()
    if started then
      M.sh(M.quote(here .. "/emulator/stop") .. " " .. M.quote(started) .. " >/dev/null 2>&1")
    end
  end
  return base, token, finish
end

-- POST to the emulator's control API (/_emulator/<path>): the decoded answer.
function M.control(base, path, json)
  local http = require("graphcomm.core").http{}
  local resp = assert(http:send{ method = "POST", url = base .. "/_emulator/" .. path, body = json,
    headers = { "Content-Type: application/json" } })
  http:close()
  assert(resp.status == 200, resp.body)
  return require("cjson").decode(resp.body)
end

-- A realistic bearer token (JWT-shaped, 1,500 bytes) the emulator at base accepts:
-- libcurl copies header bytes one at a time, so token size shows in the cost per request.
function M.jwt(base)
  local jwt = M.control(base, "tokens", '{"bytes":1500}').access_token
  assert(type(jwt) == "string" and #jwt > 1000, "the emulator minted no 1,500-byte token")
  return jwt
end

-- The two tokens every benchmark runs with, in this order: the emulator's short one and
-- M.jwt(base). -> { { token = ..., label = "short token (N bytes)" }, { token, label } }
function M.tokens(base, token)
  local jwt = M.jwt(base)
  return { { token = token, label = ("short token (%d bytes)"):format(#token) },
    { token = jwt, label = ("JWT-shaped token (%d bytes)"):format(#jwt) } }
end

return M
