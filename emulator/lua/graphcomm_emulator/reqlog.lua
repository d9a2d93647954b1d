-- graphcomm_emulator.reqlog: the request log in the `graphcomm_log` shared dict.
-- Entries are numbered as they arrive ("n" counts them); only the last MAX are kept,
-- so a benchmark cannot fill the dict; "cleared" marks where DELETE left it.

local json = require "graphcomm_emulator.json"

local ngx = ngx
local concat = table.concat

local M = {}
M.MAX = 10000

local function dict() return ngx.shared.graphcomm_log end

-- The bound: POST /_emulator/config {"log_max": N} changes it (specs, benchmarks).
local function max()
  return ngx.shared.graphcomm_control:get("cfg:log_max") or M.MAX
end
M.max = max

-- Appends one entry (a table); returns its sequence number.
-- A body that is not UTF-8 (a gzip request body) is kept as `body_base64`, so that every
-- entry stays valid JSON; the path is kept beside it for `match`.
function M.add(entry)
  local d = dict()
  local seq = d:incr("n", 1, 0)
  entry.seq = seq
  local body = entry.body
  if type(body) == "string" and not json.valid_utf8(body) then
    entry.body, entry.body_base64 = nil, ngx.encode_base64(body)
  end
  d:set("e:" .. seq, json.encode(entry))
  d:set("p:" .. seq, entry.path or "")
  local keep = max()
  if seq > keep then
    d:delete("e:" .. (seq - keep))
    d:delete("p:" .. (seq - keep))
  end
  return seq
end

function M.clear()
  local d = dict()
  d:set("cleared", d:get("n") or 0)
end

-- The entries after `since` (a sequence number), oldest first, as a JSON array text;
-- `match` keeps only those whose path contains it.
function M.json(since, match, limit)
  local d = dict()
  local n = d:get("n") or 0
  local from = math.max(d:get("cleared") or 0, since or 0, n - max()) + 1
  local out, k = {}, 0
  for seq = from, n do
    local e = d:get("e:" .. seq)
    if e and (not match or string.find(d:get("p:" .. seq) or "", match, 1, true)) then
      k = k + 1; out[k] = e
      if limit and k >= limit then break end
    end
  end
  return "[" .. concat(out, ",", 1, k) .. "]"
end

return M
