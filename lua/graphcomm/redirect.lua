-- graphcomm.redirect: the one redirect step, used by graphcomm.engine: 301/302/303/307/308
-- with a Location are followed, at most MAX times (the engine counts); to another
-- origin no Authorization, Cookie or Proxy-Authorization goes along
-- (spec.cross_origin); a 303 turns into a GET without a body.
--
--   redirect.location(req, resp) -> url | nil
--   redirect.check(url, req, resp) -> true | nil, err    err.kind == "redirect"
--   redirect.retarget(spec, req, url, status) -> spec

local string_find, string_lower, string_match, string_gsub =
      string.find, string.lower, string.match, string.gsub

local errors = require "graphcomm.errors"
local request = require "graphcomm.request"
local controls = require("graphcomm.redact").controls

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

-- Why a redirect target is refused, or nil: https anywhere, http only to loopback,
-- no user information, no control characters or spaces.
local function refusal(url)
  if string_find(url, "[%z\1-\32\127]") then return "a URL with spaces or control characters" end
  local scheme, authority = string_match(url, "^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then return "not an absolute URL" end
  scheme = string_lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return "the scheme " .. scheme end
  if string_find(authority, "@", 1, true) then return "a URL with user information" end
  local ok = request.check_url(url)
  if not ok then return "plain http to a host that is not loopback" end
  return nil
end

-- A refused target is an error of its own kind: the request went out, and its
-- answer (whose request id the error carries) pointed somewhere graphcomm does not go.
function M.check(url, req, resp)
  local why = refusal(url)
  if not why then return true end
  -- user information may be a password: it is not shown
  local shown = controls((string_gsub(url, "^([^/]*//)[^/?#]*@", "%1<userinfo>@")))
  return nil, errors.redirect("refusing to follow a " .. resp.status .. " redirect to "
    .. why .. ": " .. shown, { status = resp.status, code = "RedirectRefused",
    location = shown, request_id = resp.headers["request-id"],
    client_request_id = req.client_request_id })
end

-- Points spec (a copy the caller owns) at url, the answer to req having had status.
function M.retarget(spec, req, url, status)
  spec.url, spec.path, spec.query = url, nil, nil
  if not same_origin(req.url, url) then spec.cross_origin = true end
  if status == 303 then spec.method, spec.body, spec.gzip = "GET", nil, nil end
  return spec
end

return M
