-- scripts/gen-rockspec.lua [OUTDIR]: writes graphcomm-<version>-1.rockspec (into OUTDIR,
-- default the current folder) from graphcomm-scm-1.rockspec, so that the build table
-- has one home: the version comes from lua/graphcomm/version.lua, the source is the
-- tarball `make dist` writes. `make rockspec` runs it; spec/release_dist_spec.lua fails
-- when the committed file is not what this writes now.
local function read(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return s
end

-- One substitution that must happen exactly once (the scm rockspec changed shape
-- otherwise, and the output would be wrong).
local function replace_once(text, pattern, repl, what)
  local out, n = text:gsub(pattern, function() return repl end)
  if n ~= 1 then error("graphcomm-scm-1.rockspec: expected one " .. what .. ", found " .. n) end
  return out
end

local function versioned(scm, version)
  local dist = "graphcomm-" .. version
  local head = table.concat({
    "-- " .. dist .. "-1.rockspec: written by scripts/gen-rockspec.lua from graphcomm-scm-1.rockspec",
    "-- (`make rockspec`); edit that one. Its source is the tarball `make dist` writes,",
    "-- " .. dist .. ".tar.gz, beside this file: `make dist && luarocks pack " .. dist .. "-1.rockspec`",
    "-- gives the source rock, and `luarocks build " .. dist .. "-1.src.rock` builds it offline.",
    "--",
  }, "\n") .. "\n"
  local source = table.concat({
    "source = {",
    '  url = "' .. dist .. '.tar.gz",   -- from `make dist`; no public home yet',
    '  dir = "' .. dist .. '",',
    "}",
  }, "\n")
  local out = replace_once(scm, "^%-%- graphcomm%-scm%-1%.rockspec:.-\n%-%-\n", head, "header comment")
  out = replace_once(out, '\nversion = "scm%-1"\n', '\nversion = "' .. version .. '-1"\n', "version line")
  out = replace_once(out, "\nsource = {.-\n}", "\n" .. source, "source table")
  return out
end

local version = dofile("lua/graphcomm/version.lua")
local dir = arg[1] or "."
local name = dir .. "/graphcomm-" .. version .. "-1.rockspec"
local text = versioned(read("graphcomm-scm-1.rockspec"), version)
local f = assert(io.open(name, "w"))
f:write(text)
f:close()
