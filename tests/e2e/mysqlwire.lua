-- A small MySQL/MariaDB client in the style of lua-resty-mysql: packets
-- read with receive(4) + receive(n), the handshake with
-- mysql_native_password, COM_QUERY text result sets (lenenc strings,
-- NULL as ngx.null), OK and ERR packets.
local e2e = require "e2e"
local bit = require "bit"

local char, byte, sub = string.char, string.byte, string.sub
local band, bor, bxor, rshift, lshift = bit.band, bit.bor, bit.bxor, bit.rshift, bit.lshift

local M = {}
M.__index = M

local function le(n, bytes)
  local t = {}
  for i = 1, bytes do
    t[i] = char(band(n, 255))
    n = rshift(n, 8)
  end
  return table.concat(t)
end

local function get_le(s, i, bytes)
  local n = 0
  for k = bytes - 1, 0, -1 do n = n * 256 + byte(s, i + k) end
  return n
end

-- length-encoded integer at i: value, next position (value nil for NULL 0xfb)
local function lenenc(s, i)
  local f = byte(s, i)
  if f < 0xfb then return f, i + 1 end
  if f == 0xfb then return nil, i + 1 end
  if f == 0xfc then return get_le(s, i + 1, 2), i + 3 end
  if f == 0xfd then return get_le(s, i + 1, 3), i + 4 end
  return get_le(s, i + 1, 8), i + 9
end

local CAPS = bor(0x1, 0x2, 0x4, 0x8, 0x200, 0x2000, 0x8000, 0x10000, 0x20000, 0x80000)

function M.new(tcp)
  local sock, err = tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock }, M)
end

function M:set_timeout(ms) return self.sock:settimeout(ms) end
function M:set_keepalive(...) return self.sock:setkeepalive(...) end
function M:get_reused_times() return self.sock:getreusedtimes() end
function M:close() return self.sock:close() end

function M:read_packet()
  local hdr, err = self.sock:receive(4)
  if not hdr then return nil, err end
  local len = get_le(hdr, 1, 3)
  self.seq = byte(hdr, 4)
  if len == 0 then return "" end
  return self.sock:receive(len)
end

function M:send_packet(payload, seq)
  local len = #payload
  return self.sock:send({ le(len, 3), char(seq), payload })
end

local function token(password, scramble)
  if password == "" then return "" end
  local s1 = e2e.sha1_bin(password)
  local s2 = e2e.sha1_bin(s1)
  local s3 = e2e.sha1_bin(scramble .. s2)
  local out = {}
  for i = 1, 20 do out[i] = char(bxor(byte(s1, i), byte(s3, i))) end
  return table.concat(out)
end

local function err_packet(p)
  local code = get_le(p, 2, 2)
  local state, msg = "", sub(p, 4)
  if sub(p, 4, 4) == "#" then state, msg = sub(p, 5, 9), sub(p, 10) end
  return msg, code, state
end

-- Handshake on a fresh connection; a pooled one is already logged in.
function M:connect(host, port, opts)
  local ok, err = self.sock:connect(host, port, opts.pool and { pool = opts.pool, pool_size = opts.pool_size, backlog = opts.backlog } or nil)
  if not ok then return nil, err end
  if self.sock:getreusedtimes() > 0 then return 1 end
  local p
  p, err = self:read_packet()
  if not p then return nil, err end
  if byte(p, 1) == 0xff then return nil, (err_packet(p)) end
  if byte(p, 1) ~= 10 then return nil, "bad protocol version " .. byte(p, 1) end
  local pos = p:find("\0", 2, true)
  self.server_version = sub(p, 2, pos - 1)
  pos = pos + 1
  self.thread_id = get_le(p, pos, 4)
  pos = pos + 4
  local scramble = sub(p, pos, pos + 7)
  pos = pos + 9 -- 8 bytes + filler
  pos = pos + 2 + 1 + 2 + 2 -- caps low, charset, status, caps high
  local auth_len = byte(p, pos)
  pos = pos + 1 + 10
  local part2_len = math.max(13, auth_len - 8)
  scramble = scramble .. sub(p, pos, pos + part2_len - 2) -- without the trailing NUL
  pos = pos + part2_len
  self.auth_plugin = p:match("^([^%z]*)", pos)
  local tok = token(opts.password, scramble)
  local resp = {
    le(CAPS, 4), le(16 * 1024 * 1024, 4), char(33), string.rep("\0", 23),
    opts.user, "\0", char(#tok), tok, opts.database or "", "\0", "mysql_native_password\0",
  }
  ok, err = self:send_packet(table.concat(resp), self.seq + 1)
  if not ok then return nil, err end
  p, err = self:read_packet()
  if not p then return nil, err end
  local f = byte(p, 1)
  if f == 0xfe then -- auth switch request: plugin name, new scramble
    local plugin, data = p:match("^\254([^%z]*)%z(.*)$")
    if plugin ~= "mysql_native_password" then return nil, "unsupported auth plugin " .. tostring(plugin) end
    data = data:gsub("%z$", "")
    ok, err = self:send_packet(token(opts.password, data), self.seq + 1)
    if not ok then return nil, err end
    p, err = self:read_packet()
    if not p then return nil, err end
    f = byte(p, 1)
  end
  if f == 0xff then
    local msg, code = err_packet(p)
    return nil, msg, code
  end
  if f ~= 0 then return nil, "unexpected packet after auth" end
  return 1
end

function M.query_packet(sql)
  local payload = "\3" .. sql
  return { le(#payload, 3), "\0", payload }
end

-- Reads one query's response: rows (arrays) and column names for a result
-- set; {affected_rows, insert_id} for OK; nil, msg, code for ERR.
function M:read_result()
  local p, err = self:read_packet()
  if not p then return nil, err end
  local f = byte(p, 1)
  if f == 0xff then return nil, err_packet(p) end
  if f == 0 then
    local affected, pos = lenenc(p, 2)
    local insert_id = lenenc(p, pos)
    return { affected_rows = affected, insert_id = insert_id }
  end
  local ncols = lenenc(p, 1)
  local cols = {}
  for i = 1, ncols do
    p, err = self:read_packet()
    if not p then return nil, err end
    -- catalog, schema, table, org_table, name
    local pos, len = 1, nil
    local fields = {}
    for k = 1, 5 do
      len, pos = lenenc(p, pos)
      fields[k] = sub(p, pos, pos + len - 1)
      pos = pos + len
    end
    cols[i] = fields[5]
  end
  p, err = self:read_packet() -- EOF
  if not p then return nil, err end
  local rows = {}
  while true do
    p, err = self:read_packet()
    if not p then return nil, err end
    local b = byte(p, 1)
    if b == 0xfe and #p < 9 then break end
    if b == 0xff then return nil, err_packet(p) end
    local row, pos = {}, 1
    for i = 1, ncols do
      local len
      len, pos = lenenc(p, pos)
      if len == nil then
        row[i] = e2e.null
      else
        row[i] = sub(p, pos, pos + len - 1)
        pos = pos + len
      end
    end
    rows[#rows + 1] = row
  end
  return rows, cols
end

function M:query(sql)
  local ok, err = self.sock:send(M.query_packet(sql))
  if not ok then return nil, err end
  return self:read_result()
end

function M:quit()
  self.sock:send({ le(1, 3), "\0", "\1" })
  return self.sock:close()
end

return M
