-- udp-api.md §2-§6 with a peer: send's data types and its return value,
-- one datagram per receive, sizes and truncation, receive(0), empty
-- datagrams, read timeouts and late datagrams, the 65507-byte datagram and
-- "message too long", the connected-peer filter, setpeername again, a unix
-- datagram socket, ICMP "connection refused" once, and the busy rule
-- between light threads (and a killed receiver). The peer is tests/lua/udp_responder.lua (raw FFI
-- sockets), started here by each side and killed by its PID.
local T = ...

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
local responder = here .. "/../../lua/udp_responder.lua"
local luajit = io.open("/usr/bin/luajit", "rb") and "/usr/bin/luajit" or "luajit"
local dir = T.tmpdir or "/tmp"
local log = dir .. "/udp-responder-" .. T.side .. ".log"
local path = dir .. "/udp-" .. T.side .. ".sock"

local function sh(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local h = io.popen("echo $$; exec " .. sh(luajit) .. " " .. sh(responder) .. " --unix " .. sh(path)
  .. " > " .. sh(log) .. " 2>&1")
local pid = tonumber(h:read("*l"))
local port
for _ = 1, 400 do
  local f = io.open(log, "rb")
  local out = f and f:read("*a") or ""
  if f then
    f:close()
  end
  if out:find("ready\n", 1, true) then
    port = tonumber(out:match("port (%d+)\n"))
    break
  end
  T.sleep(0.01)
end

local function body()
  T.say("responder", port ~= nil)
  local udp = T.udp
  local s = udp()
  s:settimeout(2000)
  T.try("setpeername", s, "setpeername", "127.0.0.1", port)

  -- send: every data type is one datagram; returns 1
  for _, d in ipairs({ "str", 1 / 3, 2 ^ 53, 42, -0.5, true, false, { "a", { "b", 1, {} }, "c" }, "", {} }) do
    T.say("send " .. T.fmt(type(d) == "table" and "table" or d), s:send(d))
    T.say("  echo", s:receive())
  end
  T.try("send nil", s, "send", nil)
  T.try("  echo", s, "receive")

  -- sizes
  for _, c in ipairs({ { "10", nil }, { "10", "5" }, { "10", 1.9 }, { "100", -1 }, { "65507", 100000 }, { "10", 4 } }) do
    s:send("big " .. c[1])
    local d, err = s:receive(c[2])
    T.say("big " .. c[1] .. " receive(" .. T.fmt(c[2]) .. ")", d and #d, err)
  end
  -- boundaries, receive(0), empty datagram
  s:send("burst")
  T.try("burst 1", s, "receive")
  T.try("burst 2 receive(0)", s, "receive", 0)
  T.try("burst 3", s, "receive")
  T.try("burst 4", s, "receive")
  -- truncation discards the rest
  s:send("big 10")
  T.try("receive(3)", s, "receive", 3)
  s:send("next")
  T.try("then", s, "receive")
  -- limits
  T.try("65508 bytes", s, "send", ("x"):rep(65508))
  T.try("usable", s, "send", "ok")
  T.try("  echo", s, "receive")
  -- the connected-peer filter
  s:send("stranger hello")
  T.try("stranger filtered", s, "receive")

  -- timeouts
  s:settimeout(100)
  s:send("delay 400 late")
  T.try("timeout", s, "receive")
  s:settimeout(2000)
  T.try("late datagram", s, "receive")

  -- busy rule between light threads
  local reader = T.spawn(function()
    s:send("delay 150 done")
    return s:receive()
  end)
  T.try("busy send", s, "send", "x")
  T.try("busy receive", s, "receive")
  T.try("busy close", s, "close")
  T.try("busy setpeername", s, "setpeername", "127.0.0.1", port)
  T.say("reader", T.wait(reader))
  T.try("free send", s, "send", "y")
  T.try("  echo", s, "receive")

  -- killing a thread that waits in receive closes the socket
  local k = T.spawn(function()
    s:send("silent")
    return s:receive()
  end)
  T.sleep(0.02)
  T.say("kill", T.kill(k))
  T.try("send after kill", s, "send", "x")
  T.try("close after kill", s, "close")

  -- setpeername again: a new socket
  T.try("setpeername again", s, "setpeername", "127.0.0.1", port)
  T.try("send", s, "send", "again")
  T.try("  echo", s, "receive")
  T.try("close", s, "close")

  -- unix datagram socket
  local u = udp()
  u:settimeout(2000)
  T.try("unix setpeername", u, "setpeername", "unix:" .. path)
  T.try("unix send", u, "send", "over unix")
  T.try("unix receive", u, "receive")
  u:send("big 70000")
  local d, err = u:receive()
  T.say("unix 70000-byte datagram, receive()", d and #d, err)
  u:send("big 70000")
  d, err = u:receive(100000)
  T.say("unix 70000-byte datagram, receive(100000)", d and #d, err)
  T.try("unix close", u, "close")

  -- ICMP port unreachable, reported once
  local r = udp()
  r:settimeout(200)
  T.try("dead port setpeername", r, "setpeername", "127.0.0.1", 9)
  T.try("send", r, "send", "anyone?")
  T.try("receive refused", r, "receive")
  T.try("receive again", r, "receive")
  T.try("close", r, "close")
end

local ok, e = pcall(body)
if pid then
  os.execute("kill " .. pid .. " 2>/dev/null")
end
h:close()
os.remove(log)
os.remove(path)
if not ok then
  error(e, 0)
end
