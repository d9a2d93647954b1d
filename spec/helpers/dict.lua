-- Helpers for the specs that play another nginx worker against graphcomm's shared-dict
-- code outside nginx (spec/auth_shared_dict_spec.lua, spec/notify_receiver_spec.lua).
--   dict.new([before_add]) -> d, ops   the ngx.shared.DICT calls graphcomm makes (get, set,
--     add, delete, incr, rpush; no expiry); ops lists them in order ("add KEY", ...), and
--     before_add(d, key) runs first thing in add, where another worker's step may fall.
--     d.data holds the keys, d.list what rpush appended.
--   dict.with_ngx(ngx, fn) -> fn's results   runs fn with the global ngx set to ngx (a
--     table standing in for nginx's), and puts the previous one back even when fn raises.
local M = {}

function M.new(before_add)
  local d, ops = { data = {}, list = {} }, {}
  function d:get(k) ops[#ops + 1] = "get " .. k; return self.data[k] end
  function d:set(k, v) ops[#ops + 1] = "set " .. k; self.data[k] = v; return true end
  function d:add(k, v)
    ops[#ops + 1] = "add " .. k
    if before_add then before_add(self, k) end
    if self.data[k] ~= nil then return false, "exists" end
    self.data[k] = v
    return true
  end
  function d:delete(k) ops[#ops + 1] = "delete " .. k; self.data[k] = nil end
  function d:incr(k, n, init) self.data[k] = (self.data[k] or init) + n; return self.data[k] end
  function d:rpush(k, v)
    ops[#ops + 1] = "rpush " .. k
    self.list[#self.list + 1] = v
    return #self.list
  end
  return d, ops
end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

function M.with_ngx(ngx, fn)
  local saved = rawget(_G, "ngx")
  rawset(_G, "ngx", ngx)
  local r = pack(pcall(fn))
  rawset(_G, "ngx", saved)
  assert(r[1], r[2])
  return unpack(r, 2, r.n)
end

return M
