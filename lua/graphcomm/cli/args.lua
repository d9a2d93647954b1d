-- graphcomm.cli.args: a command's argv read against its option table.
--
-- An option is { name, kind, metavar, help [, min =, max =, values =] } with kind
--   "flag"    no value
--   "value"   a string
--   "list"    a string, repeatable (a list of them)
--   "count"   a whole number from min to max
--   "number"  a number (fraction allowed) from min to max
--   "choice"  one of values
-- `--name value` and `--name=value` both work; `--` ends the options. An unknown
-- option is refused with a did-you-mean; a value of the wrong type names the range.
local suggest = require("graphcomm.options").suggest

local type, ipairs, tonumber, tostring = type, ipairs, tonumber, tostring
local concat, format = table.concat, string.format

local M = {}

local function by_name(specs)
  local index, names = {}, {}
  for _, o in ipairs(specs) do
    index[o[1]] = o
    names[#names + 1] = o[1]
  end
  return index, names
end

local function unknown(name, names)
  local best = suggest(name, names)
  return "unknown option " .. name .. (best and (" (did you mean " .. best .. "?)") or "")
end

-- The value of option o from its text | nil, message.
local function convert(o, text)
  local kind = o[2]
  if kind == "count" or kind == "number" then
    local n = text:match("^%s*[%d.eE+-]+%s*$") and tonumber(text)
    local whole = kind == "count" and "a whole number" or "a number"
    if not n or n ~= n or n < o.min or n > o.max or (kind == "count" and n % 1 ~= 0) then
      return nil, format("%s expects %s from %s to %s, got '%s'", o[1], whole,
        tostring(o.min), tostring(o.max), text)
    end
    return n
  end
  if kind == "choice" then
    for _, v in ipairs(o.values) do
      if v == text then return v end
    end
    return nil, o[1] .. " expects one of " .. concat(o.values, ", ") .. ", got '" .. text .. "'"
  end
  return text
end

-- The option's value after name (inline or the next word): value, next index | nil, message.
local function take(o, argv, i, inline)
  if o[2] == "flag" then
    if inline then return nil, o[1] .. " takes no value" end
    return true, i
  end
  local text = inline
  if text == nil then
    i = i + 1
    text = argv[i]
    if text == nil then return nil, o[1] .. " needs a value" end
  end
  local v, why = convert(o, text)
  if v == nil then return nil, why end
  return v, i
end

-- argv[first..] -> opts (by option name), args | nil, message.
function M.parse(argv, first, specs)
  local index, names = by_name(specs)
  local opts, args, i = {}, {}, first
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do args[#args + 1] = argv[j] end
      break
    end
    if a:sub(1, 1) == "-" and a ~= "-" and not a:match("^%-%d") then
      local name, inline = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      local o = index[name]
      if not o then return nil, unknown(name, names) end
      local v, next_i = take(o, argv, i, inline)
      if v == nil then return nil, next_i end
      i = next_i
      if o[2] == "list" then
        opts[name] = opts[name] or {}
        opts[name][#opts[name] + 1] = v
      else
        opts[name] = v
      end
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  return opts, args
end

return M
