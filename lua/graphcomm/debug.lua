-- graphcomm.debug: the lines connect{ debug = fn } receives, with every secret
-- scrubbed (graphcomm.redact) and server text's control characters escaped.
--
--   debug.request(d, req, r)    "> METHOD url", "> Header: value", "> body"
--   debug.response(d, resp, r)  "< HTTP/v status", "< name: value", "< body"
--   debug.note(d, text, r)      "* text"
-- d: the caller's function; r: the client's redact set.

local ipairs, pairs, tostring = ipairs, pairs, tostring
local string_find, string_lower, string_match = string.find, string.lower, string.match
local table_sort = table.sort

local controls = require("graphcomm.redact").controls

local M = {}

-- Header lines shown with their value hidden, whatever it is.
local HIDDEN = { authorization = true, cookie = true, ["proxy-authorization"] = true,
  ["set-cookie"] = true }

local function say(d, r, prefix, text)
  d(prefix .. controls(r:scrub(text)))
end

function M.request(d, req, r)
  say(d, r, "> ", req.method .. " " .. req.url)
  for _, line in ipairs(req.headers) do
    local name = string_match(line, "^([^:]*):")
    if name and HIDDEN[string_lower(name)] then
      local scheme = string_lower(name) == "authorization" and string_match(line, ":%s*(%S+)%s")
      line = name .. ": " .. (scheme and (scheme .. " ") or "") .. "<redacted>"
    end
    say(d, r, "> ", line)
  end
  if req.body then
    if string_find(req.body, "^\31\139") then
      d("> [" .. #req.body .. " bytes, gzip]")
    else
      say(d, r, "> ", req.body)
    end
  end
end

function M.response(d, resp, r)
  d("< HTTP/" .. tostring(resp.http_version) .. " " .. tostring(resp.status))
  local names = {}
  for k in pairs(resp.headers) do names[#names + 1] = k end
  table_sort(names)
  for _, k in ipairs(names) do
    local v = resp.headers[k]
    if HIDDEN[k] then v = "<redacted>" end
    say(d, r, "< ", k .. ": " .. v)
  end
  if resp.body ~= "" then say(d, r, "< ", resp.body) end
end

function M.note(d, text, r)
  say(d, r, "* ", text)
end

return M
