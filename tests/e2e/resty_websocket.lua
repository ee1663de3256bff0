-- Runs OpenResty's lua-resty-websocket client, unmodified, through
-- cosocket.ngx{global = true} against tests/e2e/ws_echo.py. Its code is not
-- in this repository: check it out somewhere and point LUA_PATH at it, e.g.
--
--   git clone <lua-resty-websocket> /tmp/libs/lua-resty-websocket
--   E2E_SERVERS=websocket E2E_EXTRA_LUA_PATH="/tmp/libs/lua-resty-websocket/lib/?.lua" \
--     tests/e2e/run.sh tests/e2e/resty_websocket.lua
--
-- (not named test_*.lua, so the default run does not pick it up; needs
-- python3 for the server). A library that cannot be required is skipped.
local e2e = require "e2e"
local cosocket = e2e.cosocket
cosocket.ngx { global = true }

local T = e2e.suite("resty-websocket", { "websocket" })
local eq = e2e.eq

local has_ws, client = pcall(require, "resty.websocket.client")
local missing = not has_ws and ("resty.websocket.client not found: " .. tostring(client):sub(1, 200)) or nil

-- One client session: handshake, text, a 70,000-byte binary frame (64-bit
-- length), ping/pong, close; pooled after the close handshake.
local function session(a, tag)
  local wb = assert(client:new { timeout = 2000, max_payload_len = 1048576 })
  local ok, err = wb:connect("ws://" .. a.host .. ":" .. a.port .. "/echo", { pool = "ws-e2e" })
  assert(ok, "connect: " .. tostring(err))
  assert(wb:send_text("hello " .. tag))
  local data, typ = wb:recv_frame()
  eq(typ, "text"); eq(data, "hello " .. tag)
  local big = string.rep(tag, 70000 / #tag + 1):sub(1, 70000)
  assert(wb:send_binary(big))
  data, typ = wb:recv_frame()
  eq(typ, "binary"); eq(#data, #big); eq(data == big, true, "binary payload intact")
  assert(wb:send_ping("are you there"))
  data, typ = wb:recv_frame()
  eq(typ, "pong"); eq(data, "are you there")
  assert(wb:send_close(1000, "bye"))
  local code
  data, typ, code = wb:recv_frame()
  eq(typ, "close"); eq(data, "bye"); eq(code, 1000)
  return true
end

T:test("lua-resty-websocket: text, 70 KB binary, ping/pong, close (blocking)", function(a)
  session(a.websocket, "b")
end, { outside = true, skip = missing })

T:test("lua-resty-websocket: 20 sessions in ngx.thread.spawn threads", function(a)
  local threads = {}
  for i = 1, 20 do
    threads[i] = ngx.thread.spawn(session, a.websocket, "t" .. i)
  end
  for i = 1, 20 do
    local ok, res = ngx.thread.wait(threads[i])
    eq(ok, true, "thread " .. i); eq(res, true, "thread " .. i)
  end
end, { skip = missing })

T:run()
