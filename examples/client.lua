-- The classic cosocket script, outside nginx:
--
--   luajit examples/client.lua [HOST] [PORT]      (default 127.0.0.1 1234)
--
-- connects, sends "I am nginx\n", reads one line with a one second timeout
-- and returns the connection to the keepalive pool. Try it against any
-- line-oriented server, e.g. target/debug/cosocket-peer --mode lineecho.

-- find the binding next to this checkout when it is not installed
local dir = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
package.path = dir .. "/../bindings/lua/?.lua;" .. package.path

local cosocket = require "cosocket"

local host = arg[1] or "127.0.0.1"
local port = tonumber(arg[2]) or 1234

local sock = cosocket.tcp()
sock:settimeout(1000)  -- one second

local ok, err = sock:connect(host, port)
if not ok then
    print("failed to connect to ", host, ":", port, ": ", err)
    os.exit(1)
end
print("connected to " .. host .. ":" .. port)

local bytes, err = sock:send("I am nginx\n")
if not bytes then
    print("failed to send: ", err)
    os.exit(1)
end
print("sent " .. bytes .. " bytes")

local line, err, partial = sock:receive()
if not line then
    print("failed to read a line: ", err, " (partial: ", partial, ")")
    sock:close()
    os.exit(1)
end
print("received: " .. line)

local ok, err = sock:setkeepalive()
if not ok then
    print("failed to set keepalive: ", err)
    os.exit(1)
end
print("connection returned to the pool")
