-- scripts/gen-man.lua [OUTDIR]: writes man/graphcomm.1 (the manual page, roff) and
-- man/graphcomm.bash (the bash completion) from the CLI's command table
-- (graphcomm.cli.main), so that neither can drift from it; spec/cli_man_spec.lua fails
-- when the committed files are not what this writes into a scratch OUTDIR. Run from the checkout:
--   GRAPHCOMM_BUILD=build/lua5.4 lua5.4 scripts/gen-man.lua
package.path = "lua/?.lua;" .. package.path
package.cpath = (os.getenv("GRAPHCOMM_BUILD") or ("build/" .. (rawget(_G, "jit") and "luajit"
  or _VERSION:gsub("Lua ", "lua")))) .. "/?.so;" .. package.cpath
local main = require "graphcomm.cli.main"
local completion = require "graphcomm.cli.completion"
local version = require "graphcomm.version"

local concat = table.concat

-- Text as roff reads it: backslashes and a leading dot or quote escaped, dashes as \-.
local function esc(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n([.'])", "\n\\&%1"):gsub("^([.'])", "\\&%1"))
end

local function paragraph(text)
  local out = {}
  for para in (text:gsub("\n+$", "") .. "\n\n"):gmatch("(.-)\n\n") do
    out[#out + 1] = ".PP"
    out[#out + 1] = esc(para)
  end
  return concat(out, "\n")
end

local function command_section(c)
  local lines = { ".SS " .. esc(c.name), ".B graphcomm " .. esc(c.usage), ".br", esc(c.summary) .. ".",
    paragraph(c.help) }
  for _, o in ipairs(main.options_of(c)) do
    lines[#lines + 1] = ".TP"
    lines[#lines + 1] = "\\fB" .. esc(o[1]) .. "\\fR" .. (o[3] and (" \\fI" .. esc(o[3]) .. "\\fR") or "")
    lines[#lines + 1] = esc(o[4])
  end
  for _, e in ipairs(c.examples or {}) do
    lines[#lines + 1] = ".PP"
    lines[#lines + 1] = ".nf"
    lines[#lines + 1] = esc(e)
    lines[#lines + 1] = ".fi"
  end
  return concat(lines, "\n")
end

local function man()
  local parts = {
    '.TH GRAPHCOMM 1 "" "graphcomm ' .. version .. '" "User Commands"',
    ".SH NAME",
    "graphcomm \\- update Microsoft Graph call\\-record sessions, read call records, run the emulator",
    ".SH SYNOPSIS",
    ".B graphcomm",
    ".I command",
    "[\\fIoptions\\fR]",
    ".br",
    ".B graphcomm help",
    ".I command",
    ".br",
    ".B graphcomm \\-\\-version",
    "|",
    ".B \\-V",
    ".SH DESCRIPTION",
    paragraph("Options take --name value or --name=value; -- ends the options. An unknown option "
      .. "is an error (exit 2) with a did-you-mean. Every command that sends takes -o json "
      .. "(or --json), --debug, --max-retries N and --timeout S."),
    ".SH COMMANDS",
  }
  for _, c in ipairs(main.COMMANDS) do
    if not c.argv_run or c.help then parts[#parts + 1] = command_section(c) end
  end
  parts[#parts + 1] = ".SH ENVIRONMENT"
  parts[#parts + 1] = paragraph(main.ENVIRONMENT:gsub("\nExit status.*$", ""))
  parts[#parts + 1] = paragraph("Call records are not offered in the national cloud operated by "
    .. "21Vianet in China: connecting there prints a warning.")
  parts[#parts + 1] = ".SH EXIT STATUS"
  parts[#parts + 1] = paragraph("0 success; 1 Graph or the network refused (apply: some fixes "
    .. "failed; diff: the two differ); 2 bad usage or invalid input, nothing was sent (diff: any "
    .. "trouble); 3 apply: the journal could not be written; 130 apply: interrupted.")
  parts[#parts + 1] = ".SH SEE ALSO"
  parts[#parts + 1] = paragraph("docs/cli.md and docs/api.md in graphcomm's source.")
  return concat(parts, "\n") .. "\n"
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local dir = arg[1] or "man"
write(dir .. "/graphcomm.1", man())
write(dir .. "/graphcomm.bash", completion.bash(main.COMMANDS, main.options_of))
