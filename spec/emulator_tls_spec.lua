-- The emulator over TLS (its own CA, made with openssl) and HTTP/2: h2 by ALPN, h2c by
-- prior knowledge on the second port.
local emu = require "helpers.emulator"

local RECORDS = "/v1.0/communications/callRecords"

describe("emulator --tls", function()
  local e
  setup(function() e = emu.start{ tls = true } end)
  teardown(function() e:stop() end)

  it("prints an https URL and the CA file it generated", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", e.base_url)
    assert.is_string(e.ca_file)
    local f = assert(io.open(e.ca_file))
    assert.matches("BEGIN CERTIFICATE", f:read("*a"))
    f:close()
    assert.equal(e.ca_file, e.env.GRAPHCOMM_CA_FILE)
  end)

  it("speaks HTTP/2 (ALPN h2) to a client that trusts the CA, and HTTP/1.1 when asked", function()
    local status, h, body, info = e:request("GET", RECORDS .. "?$select=id", nil, nil, { http2 = true })
    assert.equal(200, status)
    assert.equal("2", info.http_version)
    assert.is_string(h["request-id"])
    assert.is_true(#emu.decode(body).value >= 3)
    local s2, _, _, info2 = e:request("GET", RECORDS .. "?$select=id")
    assert.equal(200, s2)
    assert.equal("1.1", info2.http_version)
  end)

  it("PATCHes over HTTP/2 and logs the request as HTTP/2", function()
    local _, _, page = e:request("GET", RECORDS .. "/e523d2ed-2966-4b6b-925b-754a88034cc5/sessions?$select=id")
    local sid = emu.decode(page).value[1].id
    e:clear_requests()
    local status = e:request("PATCH", RECORDS .. "/e523d2ed-2966-4b6b-925b-754a88034cc5/sessions/" .. sid,
      '{"isTest":true}', { ["Content-Type"] = "application/json" }, { http2 = true })
    assert.equal(204, status)
    local log = e:requests()
    assert.equal("2.0", log[1].http_version)
    assert.equal('{"isTest":true}', log[1].body)
  end)

  it("is refused by a client that does not trust its CA", function()
    local status, err, rc = emu.http("GET", e.url(RECORDS), nil, { Authorization = "Bearer " .. e.token })
    assert.is_nil(status)
    assert.equal(60, rc, err)     -- curl: peer certificate cannot be authenticated
  end)

  it("multiplexes requests over one HTTP/2 connection", function()
    local urls, cfg = {}, os.tmpname()
    local f = assert(io.open(cfg, "w"))
    f:write(('header = "Authorization: Bearer %s"\n'):format(e.token))
    for i = 1, 5 do
      urls[i] = e.url(RECORDS .. "?$select=id&n=" .. i)
      f:write(('url = "%s"\noutput = "/dev/null"\n'):format(urls[i]))
    end
    f:close()
    local _, out = emu.sh(("curl -s --http2 --parallel --cacert %s -K %s -w '%%{http_code} %%{http_version} %%{num_connects}\\n' 2>/dev/null")
      :format(emu.shell_quote(e.ca_file), emu.shell_quote(cfg)))
    os.remove(cfg)
    local n, connects = 0, 0
    for code, ver, c in out:gmatch("(%d+) (%S+) (%d+)\n") do
      assert.equal("200", code)
      assert.equal("2", ver)
      n, connects = n + 1, connects + tonumber(c)
    end
    assert.equal(5, n, out)
    assert.equal(1, connects, out)
  end)
end)

describe("emulator cleartext HTTP/2", function()
  it("answers h2c with prior knowledge on GRAPHCOMM_H2C_URL, HTTP/1.1 on the main port", function()
    local e = emu.shared()
    assert.matches("^http://127%.0%.0%.1:%d+$", e.h2c_url)
    local status, _, body, info = emu.http("GET", e.h2c_url .. RECORDS .. "?$select=id", nil,
      { Authorization = "Bearer " .. e.token }, { h2c = true })
    assert.equal(200, status)
    assert.equal("2", info.http_version)
    assert.is_true(#emu.decode(body).value >= 3)
    local s2, _, _, info2 = e:request("GET", RECORDS .. "?$select=id")
    assert.equal(200, s2)
    assert.equal("1.1", info2.http_version)
  end)
end)
