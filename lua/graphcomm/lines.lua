-- graphcomm.lines: the lines of a file, exact whatever bytes they hold.
--
--   lines.each(f) -> iterator of line, ended
--     every line of f without its "\n"; ended is false for a last line the file cuts
--     off (no "\n" after it: a journal's torn write, or an input's last line)
--
-- Not f:lines() or f:read("*l") alone: on Lua 5.1 and LuaJIT they read with fgets and
-- strlen, so a NUL byte ends the line early and the rest of it runs into the next one
-- (a broken line then swallows the good one after it). Lua 5.3 and 5.4 read lines
-- byte by byte and keep NULs: there f:read("L") is used, which also streams a pipe
-- line by line. On 5.1 and LuaJIT the file is read in blocks (a pipe's lines arrive
-- when a block fills or the input ends).

local find, sub, concat = string.find, string.sub, table.concat

local M = {}

M.BLOCK = 65536

-- Lua 5.3+: read("L") keeps the "\n" (so a cut last line is told apart) and NULs.
local BYTE_EXACT = _VERSION ~= "Lua 5.1" and _VERSION ~= "Lua 5.2"

local function exact_lines(f)
  return function()
    local line = f:read("L")
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
      block, from = done and "" or (f:read(M.BLOCK) or ""), 1
      if block == "" then
        done = true
        if n == 0 then return nil end
        return concat(parts, "", 1, n), false
      end
    end
  end
end

function M.each(f)
  if BYTE_EXACT then return exact_lines(f) end
  return block_lines(f)
end

return M
