-- Helpers for the specs of the libcurl multi transport (csrc/http/multi.c).
local M = {}

-- Runs reqs (a list) through m with at most conc in flight, polling with `timeout`
-- seconds (5 unless given); returns { [i] = { resp =, err = } } by request index.
function M.run_all(m, reqs, conc, timeout)
  local results, sent, got, out = {}, 0, 0, {}
  while got < #reqs do
    while sent < #reqs and m:pending() < conc do
      sent = sent + 1
      m:add(reqs[sent], sent)
    end
    local n
    n, out = m:poll(timeout or 5, out)
    assert(n > 0, "no transfer ended within the poll's timeout")
    for k = 0, n - 1 do
      local key = out[3 * k + 1]
      assert(results[key] == nil, "key " .. tostring(key) .. " delivered twice")
      results[key] = { resp = out[3 * k + 2], err = out[3 * k + 3] }
      got = got + 1
    end
  end
  return results
end

return M
