-- A small PostgreSQL (protocol 3.0) client in the style of pgmoon: startup,
-- md5 password authentication, simple queries (several may be pipelined in
-- one send), messages read with receive(1) + receive(4) + receive(n).
local e2e = require "e2e"
local bit = require "bit"

local char, byte, sub = string.char, string.byte, string.sub
local band, rshift, lshift, bor = bit.band, bit.rshift, bit.lshift, bit.bor

local P = {}
P.__index = P

local function int32(n)
  return char(band(rshift(n, 24), 255), band(rshift(n, 16), 255), band(rshift(n, 8), 255), band(n, 255))
end
local function int16(n) return char(band(rshift(n, 8), 255), band(n, 255)) end
local function get32(s, i)
  local a, b, c, d = byte(s, i, i + 3)
  return bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
end
local function get16(s, i)
  local a, b = byte(s, i, i + 1)
  return bor(lshift(a, 8), b)
end

function P.new(tcp)
  local sock, err = tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock }, P)
end

function P:set_timeout(ms) return self.sock:settimeout(ms) end
function P:set_keepalive(...) return self.sock:setkeepalive(...) end
function P:get_reused_times() return self.sock:getreusedtimes() end
function P:close() return self.sock:close() end

-- One message: type, payload.
function P:receive_message()
  local t, err = self.sock:receive(1)
  if not t then return nil, err end
  local len
  len, err = self.sock:receive(4)
  if not len then return nil, err end
  local n = get32(len, 1) - 4
  local body = ""
  if n > 0 then
    body, err = self.sock:receive(n)
    if not body then return nil, err end
  end
  return t, body
end

local function error_fields(body)
  local f = {}
  for code, val in body:gmatch("(%a)([^%z]*)%z") do f[code] = val end
  return f
end
P.error_fields = error_fields

-- Startup and authentication on a fresh connection; a pooled one
-- (getreusedtimes > 0) is already authenticated.
function P:connect(host, port, opts)
  local ok, err = self.sock:connect(host, port, opts.pool and { pool = opts.pool, pool_size = opts.pool_size, backlog = opts.backlog } or nil)
  if not ok then return nil, err end
  if self.sock:getreusedtimes() > 0 then return 1 end
  local params = { "user", opts.user, "database", opts.database, "application_name", opts.application_name or "cosocket-e2e" }
  local body = { int32(196608) }
  for i = 1, #params do body[#body + 1] = { params[i], "\0" } end
  body[#body + 1] = "\0"
  local len = 8
  for i = 1, #params do len = len + #params[i] + 1 end
  local bytes
  bytes, err = self.sock:send({ int32(len + 1), body })
  if not bytes then return nil, err end
  while true do
    local t, msg = self:receive_message()
    if not t then return nil, msg end
    if t == "R" then
      local code = get32(msg, 1)
      if code == 5 then -- md5: "md5" .. md5(md5(password .. user) .. salt)
        local salt = sub(msg, 5, 8)
        local hash = "md5" .. e2e.md5_hex(e2e.md5_hex(opts.password .. opts.user) .. salt)
        bytes, err = self.sock:send({ "p", int32(4 + #hash + 1), hash, "\0" })
        if not bytes then return nil, err end
      elseif code ~= 0 then
        return nil, "unsupported authentication method " .. code
      end
      self.auth = code == 0 and self.auth or code
    elseif t == "S" then
      local k, v = msg:match("^([^%z]*)%z([^%z]*)%z")
      self.params = self.params or {}
      self.params[k] = v
    elseif t == "K" then
      self.backend_pid = get32(msg, 1)
    elseif t == "Z" then
      return 1
    elseif t == "E" then
      local f = error_fields(msg)
      return nil, (f.C or "") .. ": " .. (f.M or "")
    end
  end
end

function P.query_message(sql)
  return { "Q", int32(4 + #sql + 1), sql, "\0" }
end

-- Reads one simple query's results up to ReadyForQuery: rows (array of
-- arrays of strings, ngx.null for NULL), columns, command tag; or nil, err.
function P:read_result()
  local rows, columns, tag, qerr = {}, {}, nil, nil
  while true do
    local t, msg = self:receive_message()
    if not t then return nil, msg end
    if t == "T" then
      local n, pos = get16(msg, 1), 3
      for i = 1, n do
        local name = msg:match("^([^%z]*)%z", pos)
        pos = pos + #name + 1
        columns[i] = { name = name, type = get32(msg, pos + 6) }
        pos = pos + 18
      end
    elseif t == "D" then
      local n, pos, row = get16(msg, 1), 3, {}
      for i = 1, n do
        local len = get32(msg, pos)
        pos = pos + 4
        if len == -1 then
          row[i] = e2e.null
        else
          row[i] = sub(msg, pos, pos + len - 1)
          pos = pos + len
        end
      end
      rows[#rows + 1] = row
    elseif t == "C" then
      tag = msg:match("^([^%z]*)")
    elseif t == "E" then
      qerr = error_fields(msg)
    elseif t == "Z" then
      if qerr then return nil, (qerr.C or "") .. ": " .. (qerr.M or ""), qerr end
      return rows, columns, tag
    end
    -- N (notice), I (empty query), S (parameter status): ignored
  end
end

function P:query(sql)
  local bytes, err = self.sock:send(P.query_message(sql))
  if not bytes then return nil, err end
  return self:read_result()
end

function P:terminate()
  self.sock:send({ "X", int32(4) })
  return self.sock:close()
end

return P
