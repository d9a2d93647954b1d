-- graphcomm.cli.output: -o json / --json, JSON Lines and plain tables on stdout.
-- JSON goes through graphcomm.json, so integers past 2^53 are printed exactly.
local controls = require("graphcomm.redact").controls

local ipairs, pairs, tostring, type = ipairs, pairs, tostring, type
local rep, concat, max, sort = string.rep, table.concat, math.max, table.sort

local M = {}

-- graphcomm.json (and through it lua-cjson and the core) is loaded when first used, so
-- that help prints in a fresh clone with neither (graphcomm.launch).
local function json() return require "graphcomm.json" end

M.OPTIONS = {
  { "-o", "choice", "FORMAT", "output format: text (default) or json", values = { "text", "json" } },
  { "--output", "choice", "FORMAT", "the same as -o", values = { "text", "json" } },
  { "--json", "flag", nil, "the same as -o json" },
}

function M.wants_json(opts)
  return opts["--json"] or opts["-o"] == "json" or opts["--output"] == "json"
end

-- v as one line of JSON (sorted keys; the newlines pretty-printing puts between
-- members are the only raw ones: a string's own are escaped).
function M.encode_line(v)
  return (json().pretty(v, ""):gsub("\n", ""))
end

-- The keys of t, sorted (what a table shows in a fixed order).
function M.sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys)
  return keys
end

function M.json_line(env, v)
  env.stdout:write(M.encode_line(v), "\n")
end

function M.pretty(env, v)
  env.stdout:write(json().pretty(v), "\n")
end

local function cell(v)
  if v == nil or v == json().null then return "-" end
  if type(v) == "table" then
    local parts = {}
    for _, x in ipairs(v) do parts[#parts + 1] = tostring(x) end
    return concat(parts, ",")
  end
  return controls(tostring(v))
end

-- rows (objects) as a table of the columns { { title, key }, ... }: aligned, a header line.
function M.table(env, columns, rows)
  local widths, lines = {}, {}
  for c, col in ipairs(columns) do widths[c] = #col[1] end
  for r, obj in ipairs(rows) do
    local line = {}
    for c, col in ipairs(columns) do
      line[c] = cell(obj[col[2]])
      widths[c] = max(widths[c], #line[c])
    end
    lines[r] = line
  end
  local function emit(values)
    local out = {}
    for c, v in ipairs(values) do
      out[c] = c < #values and (v .. rep(" ", widths[c] - #v)) or v
    end
    env.stdout:write(concat(out, "  "), "\n")
  end
  local head = {}
  for c, col in ipairs(columns) do head[c] = col[1] end
  emit(head)
  for _, line in ipairs(lines) do emit(line) end
end

return M
