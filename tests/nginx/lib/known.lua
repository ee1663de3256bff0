-- Applies the known, deliberate differences of one scenario to nginx's
-- output, so that what is left to compare is everything else:
--   luajit known.lua known-differences.txt SCENARIO < nginx.out > nginx.expected
-- Each `- LINE` / `+ LINE` pair of the scenario's section replaces the exact
-- nginx line by the exact line our binding prints.  Pairs apply in order:
-- pair k replaces the first matching line after the line pair k-1 replaced,
-- so a line that occurs several times is only replaced where listed.  Reasons go to stderr as
-- `known difference: ...`.  Exit 3 when a listed nginx line does not occur
-- (the entry is stale and must be fixed), 2 on a malformed file.
local file, scenario = arg[1], arg[2]

local pairs_, reasons = {}, {}
local section, pending
local n = 0
for raw in io.lines(file) do
  n = n + 1
  local line = raw:gsub("\r$", "")
  local name = line:match("^%[(.+)%]$")
  if name then
    if pending then
      io.stderr:write(file, ":", n, ": '-' line without a '+' line\n")
      os.exit(2)
    end
    section = name
  elseif line:match("^#") or line:match("^%s*$") then
    -- comment
  elseif section == scenario then
    local kind, text = line:sub(1, 2), line:sub(3)
    if line:match("^reason: ") then
      reasons[#reasons + 1] = line:sub(9)
    elseif kind == "- " then
      if pending then
        io.stderr:write(file, ":", n, ": two '-' lines in a row\n")
        os.exit(2)
      end
      pending = text
    elseif kind == "+ " and pending then
      pairs_[#pairs_ + 1] = { from = pending, to = text }
      pending = nil
    else
      io.stderr:write(file, ":", n, ": expected 'reason: ', '- ' or '+ '\n")
      os.exit(2)
    end
  end
end
if pending then
  io.stderr:write(file, ": '-' line without a '+' line at the end\n")
  os.exit(2)
end

local k = 1
for line in io.stdin:lines() do
  local p = pairs_[k]
  if p and line == p.from then
    line = p.to
    k = k + 1
  end
  io.stdout:write(line, "\n")
end
for _, r in ipairs(reasons) do
  io.stderr:write("known difference: ", r, "\n")
end
if k <= #pairs_ then
  io.stderr:write("stale known difference (nginx no longer prints it here): ", pairs_[k].from, "\n")
  os.exit(3)
end
os.exit(0)
