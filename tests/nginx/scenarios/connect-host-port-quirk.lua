-- §2.1 step 8: nginx parses the host with ngx_parse_url, so a "host:port"
-- string is accepted and its embedded port wins over the port argument.
-- peer: hold
local T = ...
local sock = T.tcp()
T.say("connect", sock:connect("127.0.0.1:" .. T.port, 1))
T.say("close", sock:close())
