-- spec/helpers/command.lua: runs a command as a user would (a shell, an environment)
-- and returns its exit code, stdout and stderr.
--
--   local cmd = require "helpers.command"
--   local code, out, err = cmd.run({ "bin/graphcomm", "get", id }, { GRAPHCOMM_TOKEN = t } [, stdin_text [, cwd]])
--   cmd.lua            the interpreter running the specs ("lua5.4", "luajit", ...)
--   cmd.quote(s)       s quoted for sh
--   cmd.graphcomm(argv [, env [, stdin]])   bin/graphcomm with argv, run as cmd.run does
local M = {}

M.flavour = rawget(_G, "jit") and "luajit" or (_VERSION:gsub("Lua ", "lua"))
M.lua = M.flavour

-- Variables a command must not inherit from whoever runs the specs.
local SCRUB = { "GRAPHCOMM_BASE_URL", "GRAPHCOMM_TOKEN", "GRAPHCOMM_CA_FILE", "AZURE_TENANT_ID",
  "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_AUTHORITY_HOST" }

function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  os.remove(path)
  return s
end

local function status(a, b, c)
  if type(a) == "number" then return a >= 256 and math.floor(a / 256) or a end   -- 5.1, LuaJIT
  if b == "exit" then return c end
  return 128 + (c or 0)
end

-- argv: list of words (quoted here); env: extra variables (false unsets one).
function M.run(argv, env, stdin, cwd)
  local words = { cwd and ("cd " .. M.quote(cwd) .. " &&") or "", "env" }
  for _, name in ipairs(SCRUB) do words[#words + 1] = "-u " .. name end
  for k, v in pairs(env or {}) do                 -- env takes its -u options before assignments
    if v == false then words[#words + 1] = "-u " .. k end
  end
  -- Under make check's ASan pass the command runs sanitized too, but without the leak
  -- scan at exit: LeakSanitizer crashes in some children and then exits 0, which hides
  -- the command's own exit code (what these specs check). The busted process keeps it.
  local asan = os.getenv("ASAN_OPTIONS")
  if asan and not (env and env.ASAN_OPTIONS ~= nil) then
    words[#words + 1] = "ASAN_OPTIONS=" .. M.quote((asan:gsub("detect_leaks=1", "detect_leaks=0")))
  end
  for k, v in pairs(env or {}) do
    if v ~= false then words[#words + 1] = k .. "=" .. M.quote(v) end
  end
  for _, a in ipairs(argv) do words[#words + 1] = M.quote(a) end
  local out, err = os.tmpname(), os.tmpname()
  local input = "/dev/null"
  if stdin then
    input = os.tmpname()
    local f = assert(io.open(input, "wb"))
    f:write(stdin)
    f:close()
  end
  local code = status(os.execute(table.concat(words, " ") .. " <" .. input .. " >" .. out .. " 2>" .. err))
  if stdin then os.remove(input) end
  return code, slurp(out), slurp(err)
end

-- bin/graphcomm of this checkout, run by the interpreter running the specs.
function M.graphcomm(argv, env, stdin)
  local words = { M.lua, "bin/graphcomm" }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  return M.run(words, env, stdin)
end

return M
