-- spec/helpers/docs.lua: the fenced code blocks of the documentation, and running them
-- as a reader would (spec/docs_spec.lua is the doc test).
--
--   local docs = require "helpers.docs"
--   docs.files()                 README.md and docs/*.md, as they are now
--   docs.blocks(path)            { { file, line, lang, marker, reason, code }, ... }
--   docs.parse(text, path)       the same from a page's text
--   docs.anchors(text)           the set of a page's heading anchors
--   docs.run_lua(block, emu)     exit code, output: the block as a Lua script
--   docs.run_sh(block, emu)      exit code, output: the block as a bash script
--
-- Fence tags (the first word after ```): `lua` and `sh` run; the tags in QUIET are
-- shown and never run; any other tag is an error, so that a typo cannot hide a block
-- from the test. After the tag, the only marker is `no-run: <why>`.
local emu_helper = require "helpers.emulator"
local cmd = require "helpers.command"

local M = {}

M.RUN = { lua = true, sh = true }
M.QUIET = { text = true, json = true, jsonl = true, nginx = true, c = true, http = true,
  diff = true, js = true, xml = true, powershell = true }

local ROOT = emu_helper.root
M.root = ROOT
local quote = cmd.quote

-- Whole files in and out: the certificate helper's, which raise on failure.
local files = require "helpers.certs"
local read, write = files.read, files.write
M.read = read

-- README.md first, then docs/*.md sorted: paths relative to the root.
function M.files()
  local list = { "README.md" }
  local p = assert(io.popen("cd " .. quote(ROOT) .. " && ls docs/*.md 2>/dev/null"))
  for name in p:lines() do list[#list + 1] = name end
  p:close()
  return list
end

-- Strips the opening fence's indentation from a content line (blocks inside lists).
local function dedent(line, indent)
  if line:sub(1, #indent) == indent then return line:sub(#indent + 1) end
  return (line:gsub("^%s+", ""))
end

-- The info string after the fence: tag, marker, reason (marker and reason may be nil).
local function info(s)
  local lang, rest = s:match("^%s*(%S*)%s*(.-)%s*$")
  if rest == "" then return lang, nil, nil end
  local marker, reason = rest:match("^(%S+)%s*(.-)$")
  return lang, marker, reason
end

-- The blocks of a page's text (path names it in messages).
function M.parse(text, path)
  local blocks, open, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if not open then
      local indent, fence, rest = line:match("^(%s*)(```+)(.*)$")
      if fence then
        local lang, marker, reason = info(rest)
        open = { file = path, line = n, lang = lang, marker = marker, reason = reason,
          indent = indent, fence = fence, body = {} }
      end
    else
      local fence = line:match("^%s*(```+)%s*$")
      if fence and #fence >= #open.fence then
        open.code = table.concat(open.body, "\n") .. "\n"
        open.body, open.indent, open.fence = nil, nil, nil
        blocks[#blocks + 1] = open
        open = nil
      else
        open.body[#open.body + 1] = dedent(line, open.indent)
      end
    end
  end
  if open then
    blocks[#blocks + 1] = { file = path, line = open.line, lang = open.lang, unclosed = true }
  end
  return blocks
end

function M.blocks(path)
  return M.parse(read(ROOT .. "/" .. path), path)
end

-- The anchors of a page's headings, as GitHub makes them: lower case, punctuation
-- other than - and _ dropped, spaces turned into -; a repeated heading gets -1, -2 ...
function M.anchors(text)
  local set, seen = {}, {}
  local fenced = false
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^%s*```") then fenced = not fenced end
    local title = not fenced and line:match("^#+%s+(.-)%s*$")
    if title then
      local slug = title:lower():gsub("[^%w%s_-]", ""):gsub("%s", "-")
      local n = seen[slug]
      seen[slug] = (n or 0) + 1
      set[n and (slug .. "-" .. n) or slug] = true
    end
  end
  return set
end

function M.where(b)
  return b.file .. ":" .. b.line .. " (```" .. tostring(b.lang) .. ")"
end

---------------------------------------------------------------- running

-- The folder with graphcomm/core.so for the Lua the specs run on, absolute.
local function build_dir()
  local b = os.getenv("GRAPHCOMM_BUILD") or ("build/" .. cmd.flavour)
  return b:sub(1, 1) == "/" and b or (ROOT .. "/" .. b)
end

-- The environment of a block: the emulator's variables; for a Lua block, Lua paths to
-- the checkout's lua/ and spec/ (as busted has them) and to the build of the Lua the
-- specs run on. A shell block gets no Lua paths: it must say what a reader would type.
local LUA_VARS = { "LUA_PATH", "LUA_CPATH", "LUA_PATH_5_3", "LUA_CPATH_5_3", "LUA_PATH_5_4",
  "LUA_CPATH_5_4", "LUA_INIT", "LUA_INIT_5_3", "LUA_INIT_5_4" }

local function block_env(e, lua)
  local env = { GRAPHCOMM_BASE_URL = e.base_url, GRAPHCOMM_TOKEN = e.token,
    GRAPHCOMM_BUILD = false, GRAPHCOMM_EMULATOR_DIR = false }
  for _, name in ipairs(LUA_VARS) do env[name] = false end
  if lua then
    env.LUA_PATH = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;" .. ROOT .. "/spec/?.lua;;"
    env.LUA_CPATH = build_dir() .. "/?.so;;"
  end
  return env
end

-- A scratch directory holding a link to every top-level entry of the checkout (so that
-- `emulator/start`, `examples/...` and `lua/` read as they do at the root of a checkout,
-- while the files a block writes land in the scratch directory) and a bin/ whose
-- `graphcomm` runs the checkout's bin/graphcomm on the Lua the specs run on.
local function scratch()
  local dir = os.tmpname()
  os.remove(dir)
  local rc, out = emu_helper.sh("mkdir -p " .. quote(dir .. "/.doctest-bin") .. " "
    .. quote(dir .. "/tmp") .. " " .. quote(dir .. "/home") .. " && chmod 755 " .. quote(dir)
    .. " " .. quote(dir .. "/tmp")
    .. " && cd " .. quote(ROOT) .. " && for f in *; do ln -s \"$PWD/$f\" " .. quote(dir)
    .. "/\"$f\"; done")
  assert(rc == 0, out)
  local wrapper = dir .. "/.doctest-bin/graphcomm"
  write(wrapper, "#!/bin/sh\nexec " .. cmd.lua .. " " .. quote(ROOT .. "/bin/graphcomm")
    .. " \"$@\"\n")
  assert(emu_helper.sh("chmod +x " .. quote(wrapper)) == 0)
  return dir
end

local function cleanup(dir)
  emu_helper.sh("rm -rf " .. quote(dir))
end

M.TIMEOUT = 120        -- seconds a block may take (the OpenResty example builds and starts nginx)

local function run_in(dir, argv, env)
  local words = { "timeout", tostring(M.TIMEOUT) }
  for _, a in ipairs(argv) do words[#words + 1] = a end
  local code, out, err = cmd.run(words, env, nil, dir)
  return code, out .. err
end

function M.run_lua(b, e)
  local dir = scratch()
  write(dir .. "/block.lua", b.code)
  local code, out = run_in(dir, { cmd.lua, "block.lua" }, block_env(e, true))
  cleanup(dir)
  return code, out
end

-- A shell block runs under bash -e -o pipefail, with TMPDIR and HOME inside its scratch
-- directory: an emulator or OpenResty example it starts and does not stop is stopped
-- when it exits, whatever happened.
local SH_PROLOGUE = [[
set -e -o pipefail
doctest_cleanup() {
  for d in "$TMPDIR"/graphcomm-emulator.*; do
    if [ -d "$d" ]; then emulator/stop "$d" >/dev/null 2>&1 || true; fi
  done
  if [ -f "$TMPDIR/graphcomm-openresty.last" ]; then
    examples/openresty/run stop >/dev/null 2>&1 || true
  fi
}
trap doctest_cleanup EXIT
]]

function M.run_sh(b, e)
  local dir = scratch()
  write(dir .. "/block.sh", SH_PROLOGUE .. b.code)
  local env = block_env(e, false)
  -- A reader's shell has the real interpreters first, not make check's ASan wrappers
  -- (luarocks looks for Lua's headers beside the lua5.4 it finds).
  local path = (os.getenv("PATH") or ""):gsub("[^:]*/asan%-bin:?", "")
  env.PATH = dir .. "/.doctest-bin:" .. ROOT .. "/bin:" .. path
  env.TMPDIR = dir .. "/tmp"
  -- and a HOME of its own: a block that installs to ~/.local (docs/install.md) must not
  -- leave files in, or overwrite, the home of whoever runs the specs
  env.HOME = dir .. "/home"
  local code, out = run_in(dir, { "bash", "block.sh" }, env)
  cleanup(dir)
  return code, out
end

return M
