-- graphcomm.redirect: the one redirect step, for the client and for bulk (docs/contract.md
-- section 3): 301/302/303/307/308 with a Location are followed, at most MAX times (the
-- callers count); to another origin no Authorization, Cookie or Proxy-Authorization
-- goes along (spec.cross_origin); a 303 turns into a GET without a body.
--
--   redirect.location(req, resp) -> url | nil
--   redirect.retarget(spec, req, url, status) -> spec

local request = require "graphcomm.request"

local resolve, same_origin = request.resolve, request.same_origin

local M = {}

M.MAX = 5
M.STATUS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local STATUS = M.STATUS

-- The URL resp redirects req to (resolved against req.url), or nil when it is no redirect.
function M.location(req, resp)
  local location = resp.headers.location
  if STATUS[resp.status] and location then return resolve(req.url, location) end
  return nil
end

-- Points spec (a copy the caller owns) at url, the answer to req having had status.
function M.retarget(spec, req, url, status)
  spec.url, spec.path, spec.query = url, nil, nil
  if not same_origin(req.url, url) then spec.cross_origin = true end
  if status == 303 then spec.method, spec.body, spec.gzip = "GET", nil, nil end
  return spec
end

return M
