-- Helpers for the session/encoder specs (spec/session_*_spec.lua).
local core = require "graphcomm.core"
local cjson = require "cjson"

local M = { core = core, cjson = cjson }

-- The JSON text, or an assertion failure showing the validation error.
function M.json(tbl, opts)
  local body, err = core.encode(tbl, opts)
  assert(body, tostring(err))
  return body
end

-- Decoded output of a valid table.
function M.decode(tbl, opts)
  return cjson.decode(M.json(tbl, opts))
end

-- The validation errors of an invalid table as a list of "path: message".
function M.errors(tbl, opts)
  local body, err = core.encode(tbl, opts)
  assert(body == nil, "expected a validation error, got " .. tostring(body))
  assert(err.kind == "validation", "kind " .. tostring(err.kind))
  local out = {}
  for i, e in ipairs(err.errors) do out[i] = e.path .. ": " .. e.message end
  return out, err
end

-- The single error of an invalid table, as "path: message".
function M.error(tbl, opts)
  local list = M.errors(tbl, opts)
  assert(#list == 1, "expected one error, got " .. #list .. ": " .. table.concat(list, " | "))
  return list[1]
end

-- Encodes `value` as property `name` of a `type` object; returns its JSON text.
function M.value(type_name, name, value)
  local body = M.json({ [name] = value }, { type = type_name })
  local prefix = '{"' .. name .. '":'
  assert(body:sub(1, #prefix) == prefix and body:sub(-1) == "}", body)
  return body:sub(#prefix + 1, -2)
end

-- The error message for `value` as property `name` of a `type` object.
function M.value_error(type_name, name, value)
  local e = M.error({ [name] = value }, { type = type_name })
  local prefix = name .. ": "
  assert(e:sub(1, #prefix) == prefix, e)
  return e:sub(#prefix + 1)
end

-- Runs `code` in a fresh interpreter like this one (same module path), with
-- extra environment assignments; returns its standard output.
function M.run_lua(code, env)
  local lua = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d%.%d"))
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local cmd = string.format("%s LUA_CPATH=%q LUA_PATH=%q %s %s 2>&1", env or "",
                            package.cpath, package.path, lua, path)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  return out
end

-- A de_DE.UTF-8 locale (decimal comma) compiled once into build/locale.
function M.comma_locale()
  local dir = "build/locale"
  local probe = io.open(dir .. "/de_DE.UTF-8/LC_NUMERIC", "r")
  if probe then probe:close() return dir end
  -- compiled aside and renamed into place, so a concurrent run never sees half of it
  local name = os.tmpname()
  os.remove(name)
  local tmp = dir .. "/.tmp-" .. name:match("[^/]*$")   -- same file system: the rename is atomic
  os.execute("mkdir -p " .. dir .. " && localedef -i de_DE -f UTF-8 " .. tmp .. " >/dev/null 2>&1; "
             .. "mv -T " .. tmp .. " " .. dir .. "/de_DE.UTF-8 2>/dev/null || rm -rf " .. tmp)
  return dir
end

return M
