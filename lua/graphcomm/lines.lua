-- graphcomm.lines: the lines of a file, exact whatever bytes they hold.
--
--   lines.each(f [, stream]) -> iterator of line, ended
--     every line of f without its "\n"; ended is false for a last line the file cuts
--     off (no "\n" after it: a journal's torn write, or an input's last line).
--     stream: f is a pipe or terminal whose lines must arrive as they are written.
--   lines.failed(f) -> message | nil   why the iteration of f ended early (a read error,
--     such as a directory given as the file), after the loop
--
-- Not f:lines() or f:read("*l") alone: on Lua 5.1 and LuaJIT they read with fgets and
-- strlen, so a NUL byte ends the line early and the rest of it runs into the next one
-- (a broken line then swallows the good one after it). Lua 5.3 and 5.4 read lines
-- byte by byte and keep NULs: there f:read("L") is used, which also streams a pipe
-- line by line. On 5.1 and LuaJIT the file is read in blocks (a pipe's lines arrive
-- when a block fills or the input ends); a stream there is read with f:read("*l"),
-- which streams but keeps the NUL caveat (a line is cut at a NUL byte).

local find, sub, concat = string.find, string.sub, table.concat
local setmetatable = setmetatable

local M = {}

local failed = setmetatable({}, { __mode = "k" })   -- file -> the read error that ended it

-- f:read(what), or nil at the end; a read error is kept for lines.failed.
local function read(f, what)
  local v, err = f:read(what)
  if v == nil and err then failed[f] = err end
  return v
end

M.BLOCK = 65536

-- Lua 5.3+: read("L") keeps the "\n" (so a cut last line is told apart) and NULs.
local BYTE_EXACT = _VERSION ~= "Lua 5.1" and _VERSION ~= "Lua 5.2"

local function exact_lines(f)
  return function()
    local line = read(f, "L")
    if line == nil then return nil end
    if sub(line, -1) == "\n" then return sub(line, 1, -2), true end
    return line, false
  end
end

local function block_lines(f)
  local block, from, done = "", 1, false
  return function()
    local parts, n = {}, 0
    while true do
      local nl = find(block, "\n", from, true)
      if nl then
        parts[n + 1] = sub(block, from, nl - 1)
        from = nl + 1
        return concat(parts, "", 1, n + 1), true
      end
      if from <= #block then
        n = n + 1
        parts[n] = sub(block, from)
      end
      block, from = done and "" or (read(f, M.BLOCK) or ""), 1
      if block == "" then
        done = true
        if n == 0 then return nil end
        return concat(parts, "", 1, n), false
      end
    end
  end
end

local function stream_lines(f)
  return function()
    local line = read(f, "*l")
    if line == nil then return nil end
    return line, true
  end
end

function M.each(f, stream)
  failed[f] = nil
  if BYTE_EXACT then return exact_lines(f) end
  if stream then return stream_lines(f) end
  return block_lines(f)
end

function M.failed(f) return failed[f] end

return M
