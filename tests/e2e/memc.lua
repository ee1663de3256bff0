-- A small memcached text-protocol client in the style of lua-resty-memcached:
-- storage commands sent as one table, values read with receive(n), lines
-- with receive().
local M = {}
M.__index = M

function M.new(tcp)
  local sock, err = tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock }, M)
end

function M:set_timeout(ms) return self.sock:settimeout(ms) end
function M:connect(...) return self.sock:connect(...) end
function M:set_keepalive(...) return self.sock:setkeepalive(...) end
function M:get_reused_times() return self.sock:getreusedtimes() end
function M:close() return self.sock:close() end

function M.store_request(cmd, key, value, exptime, flags)
  value = tostring(value)
  return { cmd, " ", key, " ", flags or 0, " ", exptime or 0, " ", #value, "\r\n", value, "\r\n" }
end

local function store(self, cmd, key, value, exptime, flags)
  local bytes, err = self.sock:send(M.store_request(cmd, key, value, exptime, flags))
  if not bytes then return nil, err end
  local line, rerr = self.sock:receive()
  if not line then return nil, rerr end
  if line == "STORED" then return 1 end
  return nil, line
end

function M:set(...) return store(self, "set", ...) end
function M:add(...) return store(self, "add", ...) end
function M:append(...) return store(self, "append", ...) end

-- Reads VALUE blocks until END: {key = {value, flags}}.
function M:read_values()
  local out = {}
  while true do
    local line, err = self.sock:receive()
    if not line then return nil, err end
    if line == "END" then return out end
    local key, flags, len = line:match("^VALUE (%S+) (%d+) (%d+)$")
    if not key then return nil, line end
    local data, derr = self.sock:receive(tonumber(len))
    if not data then return nil, derr end
    local crlf, cerr = self.sock:receive(2)
    if crlf ~= "\r\n" then return nil, cerr or "bad value terminator" end
    out[key] = { data, tonumber(flags) }
  end
end

function M:get(key)
  local bytes, err = self.sock:send({ "get ", key, "\r\n" })
  if not bytes then return nil, err end
  local vals, rerr = self:read_values()
  if not vals then return nil, rerr end
  local v = vals[key]
  if not v then return nil, nil end
  return v[1], v[2]
end

function M:get_multi(keys)
  local req = { "get" }
  for i = 1, #keys do req[#req + 1] = { " ", keys[i] } end
  req[#req + 1] = "\r\n"
  local bytes, err = self.sock:send(req)
  if not bytes then return nil, err end
  return self:read_values()
end

local function simple(self, req)
  local bytes, err = self.sock:send(req)
  if not bytes then return nil, err end
  return self.sock:receive()
end

function M:delete(key) return simple(self, { "delete ", key, "\r\n" }) end
function M:incr(key, n)
  local line, err = simple(self, { "incr ", key, " ", n, "\r\n" })
  if not line then return nil, err end
  return tonumber(line) or line
end
function M:version() return simple(self, "version\r\n") end
function M:flush_all() return simple(self, "flush_all\r\n") end

function M:stats()
  local bytes, err = self.sock:send("stats\r\n")
  if not bytes then return nil, err end
  local st = {}
  while true do
    local line, rerr = self.sock:receive()
    if not line then return nil, rerr end
    if line == "END" then return st end
    local k, v = line:match("^STAT (%S+) (.*)$")
    if not k then return nil, line end
    st[k] = tonumber(v) or v
  end
end

return M
