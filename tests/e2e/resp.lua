-- A small Redis (RESP2) client in the style of lua-resty-redis: requests
-- are nested send tables, replies are read with receive() (a line) and
-- receive(n) (bulk payloads). Nil bulk replies are `null` (ngx.null when
-- cosocket.ngx() exists). Error replies return false, "ERR ...".
local e2e = require "e2e"

local byte, sub, tonumber, tostring = string.byte, string.sub, tonumber, tostring

local R = {}
R.__index = R

function R.new(tcp)
  local sock, err = tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock }, R)
end

function R:set_timeout(ms) return self.sock:settimeout(ms) end
function R:connect(...) return self.sock:connect(...) end
function R:set_keepalive(...) return self.sock:setkeepalive(...) end
function R:get_reused_times() return self.sock:getreusedtimes() end
function R:close() return self.sock:close() end

-- {"*", n, "\r\n", {"$", len, "\r\n", arg, "\r\n"}, ...}
function R.request(args)
  local req = { "*", #args, "\r\n" }
  for i = 1, #args do
    local a = args[i]
    if type(a) ~= "string" then a = tostring(a) end
    req[#req + 1] = { "$", #a, "\r\n", a, "\r\n" }
  end
  return req
end

local read_reply
read_reply = function(sock)
  local line, err = sock:receive()
  if not line then return nil, err end
  local prefix = byte(line)
  if prefix == 36 then -- $
    local size = tonumber(sub(line, 2))
    if size < 0 then return e2e.null end
    local data, rerr = sock:receive(size)
    if not data then return nil, rerr end
    local crlf, cerr = sock:receive(2)
    if not crlf then return nil, cerr end
    if crlf ~= "\r\n" then return nil, "bad bulk terminator" end
    return data
  elseif prefix == 43 then -- +
    return sub(line, 2)
  elseif prefix == 58 then -- :
    return tonumber(sub(line, 2))
  elseif prefix == 42 then -- *
    local n = tonumber(sub(line, 2))
    if n < 0 then return e2e.null end
    local vals = {}
    for i = 1, n do
      local v, verr = read_reply(sock)
      if v == nil then return nil, verr end
      if v == false then v = { false, verr } end
      vals[i] = v
    end
    return vals
  elseif prefix == 45 then -- -
    return false, sub(line, 2)
  end
  return nil, "bad reply: " .. line
end
R.read_reply = read_reply

-- r:cmd("set", "k", "v") -> reply | false, "ERR ..." | nil, err
function R:cmd(...)
  local bytes, err = self.sock:send(R.request({ ... }))
  if not bytes then return nil, err end
  return read_reply(self.sock)
end

-- Pipelining: r:init_pipeline(); r:add(...)...; r:commit() -> replies
function R:init_pipeline() self.pipe = {} end
function R:add(...) self.pipe[#self.pipe + 1] = R.request({ ... }) end
function R:commit()
  local reqs = self.pipe
  self.pipe = nil
  local bytes, err = self.sock:send(reqs)
  if not bytes then return nil, err end
  local out = {}
  for i = 1, #reqs do
    local v, rerr = read_reply(self.sock)
    if v == nil then return nil, rerr end
    out[i] = v == false and { false, rerr } or v
  end
  return out
end

-- Parses CLIENT LIST into an array of {field = value} tables.
function R.parse_client_list(text)
  local list = {}
  for line in text:gmatch("[^\n]+") do
    local c = {}
    for k, v in line:gmatch("(%S+)=(%S*)") do c[k] = v end
    list[#list + 1] = c
  end
  return list
end

return R
