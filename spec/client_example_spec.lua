-- examples/update_session.lua (what `make demo` runs) against the emulator.
local emu = require "helpers.emulator"
local command = require "helpers.command"

describe("examples/update_session.lua", function()
  it("updates a session, shows a what-if and validation errors with paths", function()
    local e = emu.shared()
    local code, out, err = command.run({ command.lua, "examples/update_session.lua" },
      { GRAPHCOMM_BASE_URL = e.base_url, GRAPHCOMM_TOKEN = e.token,
        GRAPHCOMM_BUILD = os.getenv("GRAPHCOMM_BUILD") })
    assert.equal(0, code, err)
    assert.matches("what%-if:\n  PATCH " .. e.base_url:gsub("%p", "%%%0"), out)
    assert.matches("Authorization: Bearer <redacted>", out, 1, true)
    assert.is_nil(out:find(e.token, 1, true))
    assert.matches("updated: HTTP 204", out, 1, true)
    assert.matches("read back: modalities audio,video", out, 1, true)
    assert.matches("segments[1].media[1].streams[1].averageJitter", out, 1, true)
    assert.matches("did you mean 'modalities'", out, 1, true)
    assert.matches("BodyParameter cannot be combined", out, 1, true)
  end)

  it("says what to set when the environment names no Graph", function()
    local code, out = command.run({ command.lua, "examples/update_session.lua" },
      { GRAPHCOMM_BUILD = os.getenv("GRAPHCOMM_BUILD") })
    assert.equal(2, code)
    assert.matches("cannot connect", out)
  end)
end)
