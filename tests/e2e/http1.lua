-- A small HTTP/1.1 client in the style of lua-resty-http: the request goes
-- out as one nested table, the header block is read with
-- receiveuntil("\r\n\r\n"), bodies with receive(n) (Content-Length),
-- receive("*l") + receive(n) (chunked) or receive("*a") (close-delimited).
local H = {}
H.__index = H

function H.new(tcp)
  local sock, err = tcp()
  if not sock then return nil, err end
  return setmetatable({ sock = sock }, H)
end

function H:set_timeout(ms) return self.sock:settimeout(ms) end
function H:connect(...) return self.sock:connect(...) end
function H:set_keepalive(...) return self.sock:setkeepalive(...) end
function H:get_reused_times() return self.sock:getreusedtimes() end
function H:close() return self.sock:close() end

-- {method, path, headers = {k = v}, body, version = "1.1"}
function H.request_table(req)
  local out = { req.method or "GET", " ", req.path or "/", " HTTP/", req.version or "1.1", "\r\n" }
  local headers = req.headers or {}
  if not headers.Host then out[#out + 1] = "Host: cosocket.test\r\n" end
  for k, v in pairs(headers) do out[#out + 1] = { k, ": ", v, "\r\n" } end
  if req.body then out[#out + 1] = { "Content-Length: ", #req.body, "\r\n" } end
  out[#out + 1] = "\r\n"
  if req.body then out[#out + 1] = req.body end
  return out
end

function H:send_request(req)
  return self.sock:send(H.request_table(req))
end

-- Reads one response: {status, reason, headers (lower-case names), body,
-- chunks (count, for chunked), keepalive}.
function H:read_response(method)
  local sock = self.sock
  local reader = sock:receiveuntil("\r\n\r\n")
  local head, err = reader()
  if not head then return nil, "reading the header block: " .. tostring(err) end
  local status_line, rest = head:match("^([^\r\n]*)\r\n(.*)$")
  status_line = status_line or head
  local version, status, reason = status_line:match("^HTTP/(%d%.%d) (%d%d%d) ?(.*)$")
  if not status then return nil, "bad status line: " .. status_line end
  local res = { status = tonumber(status), reason = reason, version = version, headers = {} }
  for line in (rest or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.-)%s*$")
    if k then res.headers[k:lower()] = v end
  end
  local h = res.headers
  local conn = (h.connection or ""):lower()
  res.keepalive = (version == "1.1" and conn ~= "close") or conn == "keep-alive"
  if method == "HEAD" or res.status == 204 or res.status == 304 then
    res.body = ""
    return res
  end
  if (h["transfer-encoding"] or ""):lower() == "chunked" then
    local parts, n = {}, 0
    while true do
      local line, lerr = sock:receive("*l")
      if not line then return nil, "reading a chunk size: " .. tostring(lerr) end
      local size = tonumber(line:match("^%x+"), 16)
      if not size then return nil, "bad chunk size line: " .. line end
      if size == 0 then
        -- trailer: lines until an empty one
        repeat
          line, lerr = sock:receive("*l")
          if not line then return nil, "reading the trailer: " .. tostring(lerr) end
        until line == ""
        break
      end
      local data, derr = sock:receive(size)
      if not data then return nil, "reading a chunk: " .. tostring(derr) end
      local crlf, cerr = sock:receive(2)
      if crlf ~= "\r\n" then return nil, "bad chunk terminator: " .. tostring(cerr or crlf) end
      n = n + 1
      parts[n] = data
    end
    res.body, res.chunks = table.concat(parts), n
  elseif h["content-length"] then
    local body, berr = sock:receive(tonumber(h["content-length"]))
    if not body then return nil, "reading the body: " .. tostring(berr) end
    res.body = body
  else
    local body, berr = sock:receive("*a")
    if not body then return nil, "reading to close: " .. tostring(berr) end
    res.body = body
    res.keepalive = false
  end
  return res
end

function H:request(req)
  local bytes, err = self:send_request(req)
  if not bytes then return nil, err end
  return self:read_response(req.method)
end

-- nginx stub_status: {active, accepts, handled, requests, reading, writing, waiting}
function H.parse_stub_status(body)
  local st = {}
  st.active = tonumber(body:match("Active connections:%s*(%d+)"))
  st.accepts, st.handled, st.requests = body:match("requests\n%s*(%d+)%s+(%d+)%s+(%d+)")
  st.accepts, st.handled, st.requests = tonumber(st.accepts), tonumber(st.handled), tonumber(st.requests)
  st.reading = tonumber(body:match("Reading:%s*(%d+)"))
  st.writing = tonumber(body:match("Writing:%s*(%d+)"))
  st.waiting = tonumber(body:match("Waiting:%s*(%d+)"))
  return st
end

return H
