-- spec/helpers/rules.lua: what the fix-rule specs share.
--   rules.file(text) -> path     a temporary file holding text (the spec removes it)
--   rules.count(t) -> n          the number of keys of t
local M = {}

function M.file(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

function M.count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

return M
