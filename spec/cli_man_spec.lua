-- The manual page (man/graphcomm.1) and the bash completion (man/graphcomm.bash), both
-- written by scripts/gen-man.lua from the command table: current, rendered by groff
-- without a warning, naming every command and flag, completing as bash runs it, and
-- installed (and removed) by make install / make uninstall.
local cmd = require "helpers.command"
local main = require "graphcomm.cli.main"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function scratch()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir " .. cmd.quote(dir)))
  return dir
end

-- What bash completes for the words (the last is the one being typed).
local function complete(words)
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = cmd.quote(w) end
  local script = "source man/graphcomm.bash; COMP_WORDS=(" .. table.concat(quoted, " ") .. "); "
    .. "COMP_CWORD=" .. (#words - 1) .. "; _graphcomm; printf '%s\\n' \"${COMPREPLY[@]}\""
  local code, out, err = cmd.run({ "bash", "-c", script })
  assert.equal(0, code, err)
  local list = {}
  for w in out:gmatch("[^\n]+") do list[#list + 1] = w end
  table.sort(list)
  return list
end

describe("the manual page and the bash completion", function()
  it("are what scripts/gen-man.lua writes from the command table now", function()
    local dir = scratch()
    local code, out, err = cmd.run({ cmd.lua, "scripts/gen-man.lua", dir })
    assert.equal(0, code, out .. err)
    local man, bash = slurp(dir .. "/graphcomm.1"), slurp(dir .. "/graphcomm.bash")
    os.execute("rm -rf " .. cmd.quote(dir))
    assert.equal(man, slurp("man/graphcomm.1"), "man/graphcomm.1 is stale: run scripts/gen-man.lua")
    assert.equal(bash, slurp("man/graphcomm.bash"), "man/graphcomm.bash is stale: run scripts/gen-man.lua")
    local _, printed = cmd.graphcomm({ "completion", "bash" })
    assert.equal(bash, printed)
  end)

  it("renders with groff without a warning", function()
    local code, out, err = cmd.run({ "groff", "-man", "-Tutf8", "-ww", "-z", "man/graphcomm.1" })
    assert.equal(0, code)
    assert.equal("", out .. err)
    code, out = cmd.run({ "groff", "-man", "-Tutf8", "-P-cbou", "man/graphcomm.1" })
    assert.equal(0, code)
    for _, section in ipairs({ "NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "EXIT STATUS" }) do
      assert.truthy(out:find("\n" .. section .. "\n", 1, true), section)
    end
  end)

  it("names every command and every flag of the command table", function()
    local text = slurp("man/graphcomm.1"):gsub("\\%-", "-"):gsub("\\f[BIR]", "")
    for _, c in ipairs(main.COMMANDS) do
      assert.truthy(text:find(".SS " .. c.name .. "\n", 1, true), c.name)
      for _, o in ipairs(main.options_of(c)) do
        assert.truthy(text:find(o[1], 1, true), c.name .. " " .. o[1])
      end
    end
    assert.truthy(text:find("21Vianet", 1, true))
  end)

  it("completes commands, each command's flags and -o's values in bash", function()
    assert.equal(0, (cmd.run({ "bash", "-n", "man/graphcomm.bash" })))
    assert.same({ "list" }, complete({ "graphcomm", "li" }))
    assert.same({ "--select" }, complete({ "graphcomm", "get", "--sel" }))
    assert.same({ "--max-failures", "--max-retries" }, complete({ "graphcomm", "apply", "--max" }))
    assert.same({ "json", "text" }, complete({ "graphcomm", "list", "-o", "" }))
    assert.same({ "diff" }, complete({ "graphcomm", "help", "di" }))
    assert.same({}, complete({ "graphcomm", "emulator", "--jso" }))   -- it prints no JSON
  end)

  it("are installed by make install and removed by make uninstall", function()
    local tree = scratch()
    local function make(target)
      return cmd.run({ "make", "-s", target, "LUA=" .. cmd.flavour, "DESTDIR=" .. tree, "PREFIX=/usr" },
        { LD_PRELOAD = false })      -- the sanitizer run preloads ASan: make and cc need not have it
    end
    local code, out, err = make("install")
    assert.equal(0, code, out .. err)
    local man = tree .. "/usr/share/man/man1/graphcomm.1"
    local completion = tree .. "/usr/share/bash-completion/completions/graphcomm"
    assert.equal(slurp("man/graphcomm.1"), slurp(man))
    assert.equal(slurp("man/graphcomm.bash"), slurp(completion))
    local ver = cmd.flavour == "luajit" and "5.1" or cmd.flavour:gsub("lua", "")
    assert.truthy(io.open(tree .. "/usr/share/lua/" .. ver .. "/graphcomm/cli/main.lua"))
    code, out, err = make("uninstall")
    assert.equal(0, code, out .. err)
    assert.is_nil(io.open(man))
    assert.is_nil(io.open(completion))
    assert.is_nil(io.open(tree .. "/usr/share/lua/" .. ver .. "/graphcomm/cli/main.lua"))
    assert.is_nil(io.open(tree .. "/usr/share/lua/" .. ver .. "/graphcomm"))
    os.execute("rm -rf " .. cmd.quote(tree))
  end)
end)
