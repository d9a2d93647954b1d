-- Loaded by busted before any spec (see .busted): shared set-up for every spec file.
-- Each concern adds its own helper module beside this file (spec/helpers/*.lua).

-- Emulators started by specs (helpers.emulator) end with the run, pass or fail; a run
-- killed outright is covered by emulator/start --watch-pid.
local ok, busted = pcall(require, "busted")
if ok and type(busted) == "table" and busted.subscribe then
  busted.subscribe({ "exit" }, function()
    local loaded = package.loaded["helpers.emulator"]
    if loaded then loaded.stop_all() end
    return nil, true
  end)
end

return {}
