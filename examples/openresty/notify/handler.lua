-- examples/openresty/notify/handler.lua: a change-notification receiver that fixes call
-- records as they arrive. A session without an endDateTime gets the end of its last
-- segment. nginx.conf's locations call receiver:handle() (notifications),
-- receiver:handle_lifecycle() and receiver:handle_status(); init_worker() replays the
-- journal and starts the queue's timers (and, with NOTIFY_KEEPER=1, the keeper).
--
-- Settings (the environment of nginx's master, read when the code loads):
--   NOTIFY_CLIENT_STATE   the subscription's clientState (required)
--   NOTIFY_DRY_RUN=1      log the updates as what-ifs instead of sending them
--   NOTIFY_MAX_TRIES, NOTIFY_RETRY_DELAY   the bounded retries of a failing record
--   NOTIFY_KEEPER=1, NOTIFY_PUBLIC_URL     keep a subscription (graphcomm.keeper) to
--                                          NOTIFY_PUBLIC_URL/notify and /lifecycle
local notify = require "graphcomm.notify"

local M = {}

-- The last segment's end (the latest), or nil.
local function last_segment_end(session)
  local best
  for _, seg in ipairs(type(session.segments) == "table" and session.segments or {}) do
    local e = seg.endDateTime
    if type(e) == "string" and (best == nil or e > best) then best = e end  -- UTC ISO text sorts by time
  end
  return best
end

-- The sample fix: nil when the session needs nothing (so a record read again is not
-- fixed twice), else the smallest update body.
function M.fix(session)
  if type(session.endDateTime) == "string" then return nil end
  local e = last_segment_end(session)
  if e == nil then return nil end
  return { endDateTime = e }
end

local function env_number(name, default)
  return tonumber(os.getenv(name) or "") or default
end

local prefix = ngx.config.prefix()
local client_state = os.getenv("NOTIFY_CLIENT_STATE")
if not client_state or client_state == "" then
  error("examples/openresty/notify: NOTIFY_CLIENT_STATE is not set")
end

M.receiver = notify.new{
  client_state = client_state,
  fix = M.fix,
  journal = prefix .. "state/notify.journal",
  dry_run = os.getenv("NOTIFY_DRY_RUN") == "1",
  max_tries = env_number("NOTIFY_MAX_TRIES", 5),
  retry_delay = env_number("NOTIFY_RETRY_DELAY", 2),
  on_lifecycle = function(event, n) if M.keeper then M.keeper:lifecycle(event, n) end end,
}

if os.getenv("NOTIFY_KEEPER") == "1" then
  local base = assert(os.getenv("NOTIFY_PUBLIC_URL"), "NOTIFY_PUBLIC_URL is not set")
  M.keeper = require("graphcomm.keeper").new{
    receiver = M.receiver,
    notification_url = base .. "/notify",
    lifecycle_url = base .. "/lifecycle",
    client_state = client_state,
    state_file = prefix .. "state/keeper.json",
    expires_in = env_number("NOTIFY_EXPIRES_IN", nil),
    margin = env_number("NOTIFY_RENEW_MARGIN", nil),
    check_interval = env_number("NOTIFY_CHECK_INTERVAL", nil),
    lookback = env_number("NOTIFY_LOOKBACK", nil),
  }
end

function M.init_worker()
  M.receiver:init_worker()
  if M.keeper then M.keeper:init_worker() end
end

return M
