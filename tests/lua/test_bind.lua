-- tcpsock:bind(ip, port?) (OpenResty HEAD, like proxy_bind): argument
-- handling and its effect on connect.
local t = require "t"
local cosocket = require "cosocket"

t.test("bind: argument errors and returns", function()
    local s = cosocket.tcp()
    t.raises("expecting 2 or 3 arguments, but got 1",
             function() local a, b = s:bind() return a, b end)
    t.raises("bad argument #1 to 'bind' (string expected, got table)",
             function() local a, b = s:bind({}) return a, b end)
    t.rets("bad address", { nil, "bad address" }, s:bind("not-an-ip"))
    t.rets("port type", { nil, "expecting port to be anumber but got type: string" },
           s:bind("127.0.0.1", "x"))
    t.rets("port range", { nil, "bad port number: 70000" }, s:bind("127.0.0.1", 70000))
    t.rets("ok", { true }, s:bind("127.0.0.1"))
end)

t.both("bind: connects originate from the bound address", function()
    local p = t.peer(nil, "--mode lineecho")
    local s = cosocket.tcp()
    s:settimeout(5000)
    t.rets("bind", { true }, s:bind("127.0.0.1"))
    t.rets("connect", { 1 }, s:connect("127.0.0.1", p.port))
    t.rets("send", { 3 }, s:send("hi\n"))
    t.rets("receive", { "hi" }, s:receive())
    s:close()
    -- An IPv6 source cannot reach an IPv4 target: the kernel refuses at connect.
    t.rets("bind v6", { true }, s:bind("::1"))
    t.rets("connect", { nil, "address family not supported by protocol" }, s:connect("127.0.0.1", p.port))
end)

t.done()
