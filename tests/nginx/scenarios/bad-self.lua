-- §2 conventions: methods called on something that is not a socket object
-- (the common mistake sock.method(...) instead of sock:method(...)).
-- peer: hold
local T = ...
local sock = T.tcp()
T.pcall("send(nil, x)", function() return T.keep(sock.send(nil, "x")) end)
T.pcall("send(\"x\")", function() return T.keep(sock.send("x")) end)
T.pcall("receive(\"*l\")", function() return T.keep(sock.receive("*l")) end)
T.pcall("connect(host, port)", function() return T.keep(sock.connect("127.0.0.1", T.port)) end)
T.pcall("close()", function() return T.keep(sock.close()) end)
T.pcall("settimeout(100)", function() return T.keep(sock.settimeout(100)) end)
T.pcall("setkeepalive()", function() return T.keep(sock.setkeepalive()) end)
T.pcall("getreusedtimes()", function() return T.keep(sock.getreusedtimes()) end)
T.pcall("receiveuntil(\"x\")", function() return T.keep(sock.receiveuntil("x")) end)
T.pcall("receiveany(10)", function() return T.keep(sock.receiveany(10)) end)
T.pcall("{}:close()", function() return T.keep(sock.close({})) end)
T.pcall("{}:send()", function() return T.keep(sock.send({}, "x")) end)
