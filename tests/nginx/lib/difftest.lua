-- Shared part of the differential harness: the value formatter, the
-- error-message normalisation and the scenario runner.  Loaded by both sides:
-- inside nginx (difftest_nginx.lua) and under cosocket (../run_cosocket.lua).
-- Only plain Lua 5.1 / LuaJIT, nothing side-specific.
local M = {}

local byte, char, format, concat = string.byte, string.char, string.format, table.concat
local select, type, tostring, floor = select, type, tostring, math.floor

local named = { [9] = "\\t", [10] = "\\n", [13] = "\\r", [34] = '\\"', [92] = "\\\\" }

-- Printable ASCII verbatim; \t \n \r \" \\ named; every other byte \xHH.
local function escape(s)
  return (s:gsub('[%z\1-\31"\\\127-\255]', function(c)
    local b = byte(c)
    return named[b] or format("\\x%02X", b)
  end))
end
M.escape = escape

-- Strips the "chunkname:line: " position prefix a Lua error() adds, so that a
-- message raised from C (no position) and one raised from Lua compare equal.
function M.errmsg(e)
  if type(e) ~= "string" then
    return "<" .. type(e) .. " error: " .. tostring(e) .. ">"
  end
  local stripped = e:gsub("^[^\n]-:%d+: ", "", 1)
  return stripped
end

-- A stable, typed rendering: strings quoted with escapes, numbers as integers
-- when integral (%.14g otherwise), nil/true/false bare, other types by name
-- only (their addresses differ from run to run).
function M.fmt(v)
  local t = type(v)
  if t == "string" then
    return '"' .. escape(v) .. '"'
  elseif t == "number" then
    if v ~= v then
      return "nan"
    elseif v == 1 / 0 then
      return "inf"
    elseif v == -1 / 0 then
      return "-inf"
    elseif v == floor(v) and v > -1e15 and v < 1e15 then
      return format("%d", v)
    end
    return format("%.14g", v)
  elseif t == "nil" or t == "boolean" then
    return tostring(v)
  end
  return t
end

-- "label" alone, or "label: v1 v2 ..." with every value (trailing nils
-- included: the number of values returned is part of the behaviour).
function M.line(label, n, ...)
  if n == 0 then
    return label
  end
  local parts = {}
  for i = 1, n do
    parts[i] = M.fmt((select(i, ...)))
  end
  return label .. ": " .. concat(parts, " ")
end

local function pack(...)
  return select("#", ...), { ... }
end

-- One compiled wrapper per method name: function(o, ...) return
-- pack(o:NAME(...)) end -- a method call that is not a tail call.
local callers = {}
local function method_caller(name)
  local f = callers[name]
  if not f then
    assert(name:match("^[%a_][%w_]*$"), "bad method name")
    f = assert(loadstring("local pack = ... return function(o, ...) return pack(o:" .. name .. "(...)) end",
      "=T.try"))(pack)
    callers[name] = f
  end
  return f
end

-- Parses "name=12345,u=unix:/tmp/x/u.sock" into the peer tables of T.
local function parse_peers(T, spec)
  T.ports, T.unix = {}, {}
  for name, kind, where in (spec or ""):gmatch("([%w_]+)=(%a+):([^,]+)") do
    if kind == "tcp" then
      T.ports[name] = tonumber(where)
    else
      T.unix[name] = "unix:" .. where
    end
  end
  T.port = T.ports.main
end

-- Completes a side-specific table `T` (it must already hold tcp, stream,
-- connect, sleep, spawn, wait, now, null and write) with the common helpers.
function M.make(T, peers, tmpdir)
  parse_peers(T, peers)
  T.tmpdir = tmpdir
  T.fmt = M.fmt
  local write = T.write
  -- Prints one line and returns the values unchanged, so that
  -- `local data, err = T.say("receive", sock:receive())` both logs and keeps.
  function T.say(label, ...)
    write(M.line(tostring(label), select("#", ...), ...))
    return ...
  end
  -- Calls f(...) under pcall; prints the values returned, or
  -- "label: raised <message>" with the normalised message.
  function T.pcall(label, f, ...)
    local n, r = pack(pcall(f, ...))
    if r[1] then
      write(M.line(tostring(label), n - 1, unpack(r, 2, n)))
    else
      write(tostring(label) .. ": raised " .. M.fmt(M.errmsg(r[2])))
    end
    return unpack(r, 1, n)
  end
  -- T.try(label, obj, "method", args...): like T.pcall, but the call is a
  -- genuine, non-tail method call `obj:method(args...)`, the form real code
  -- uses, so that argument errors read "bad argument #1 to 'method'" as they
  -- do for users (a tail call or pcall(obj.method, obj, ...) loses the name).
  function T.try(label, obj, method, ...)
    local n, r = pack(pcall(method_caller(method), obj, ...))
    if r[1] then
      local m, values = r[2], r[3]
      write(M.line(tostring(label), m, unpack(values, 1, m)))
      return unpack(values, 1, m)
    end
    write(tostring(label) .. ": raised " .. M.fmt(M.errmsg(r[2])))
    return nil
  end
  -- Identity: `function() return T.keep(reader(1, 2)) end` calls reader
  -- without a tail call (so errors name it) and keeps every returned value.
  function T.keep(...)
    return ...
  end
  -- Milliseconds elapsed since t0 (a value of T.now()).
  function T.ms_since(t0)
    return (T.now() - t0) * 1000
  end
  return T
end

-- Loads and runs the scenario file with T; a failure is reported as one
-- output line so that both sides can still be compared.
function M.run(T, path)
  local chunk, err = loadfile(path)
  if not chunk then
    T.write("scenario load error: " .. M.fmt(M.errmsg(err)))
    return
  end
  local ok, e = pcall(chunk, T)
  if not ok then
    T.write("scenario error: " .. M.fmt(M.errmsg(e)))
  end
end

return M
