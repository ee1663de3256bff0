-- §2.3: sslhandshake against a real TLS server (`openssl s_server -www`,
-- started here on the port of a "refuse" peer, with a self-signed
-- certificate from `openssl req -x509`): false -> true, nil -> a session,
-- an already-handshaked connection returns the caller's session (or the
-- current one) at once, resumption with the session taken after the first
-- response (s_server's status page says "Reused"), and ssl_verify with no
-- trusted certificate configured -> "18: self-signed certificate" (nginx has
-- no lua_ssl_trusted_certificate here; cosocket uses the system store,
-- which does not hold it either).
-- peer free --mode refuse:
local T = ...
local port = T.ports.free
local dir = T.tmpdir .. "/tls-" .. port
local q = function(s) return "'" .. s .. "'" end
os.execute("mkdir -p " .. q(dir) .. " && cd " .. q(dir) .. " && openssl req -x509 -newkey ec"
  .. " -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -days 30"
  .. " -subj /CN=localhost >/dev/null 2>&1")
local srv = io.popen("echo $$; exec openssl s_server -quiet -www -accept 127.0.0.1:" .. port
  .. " -cert " .. q(dir .. "/cert.pem") .. " -key " .. q(dir .. "/key.pem")
  .. " </dev/null >/dev/null 2>&1", "r")
local pid = srv:read("*l")
local up = false
for _ = 1, 100 do
  local probe = T.tcp()
  probe:settimeout(100)
  if probe:connect("127.0.0.1", port) then
    probe:close()
    up = true
    break
  end
  T.sleep(0.05)
end
T.say("server up", up)

local function get(sock)
  sock:send("GET / HTTP/1.0\r\n\r\n")
  return sock:receive("*l")
end

local function page_says(sock, word)
  local body = sock:receive("*a") or ""
  return body:find(word, 1, true) ~= nil
end

-- First, before any session exists (nginx's OpenSSL context could
-- otherwise resume one whose verify result was stored with it).
local s = T.tcp()
s:settimeout(3000)
T.say("connect 0", s:connect("127.0.0.1", port))
T.say("verify", s:sslhandshake(false, "localhost", true))
T.say("send after", s:send("x"))

s = T.tcp()
s:settimeout(3000)
T.say("connect", s:connect("127.0.0.1", port))
T.say("handshake false", s:sslhandshake(false))
T.say("again: nil", type(s:sslhandshake()))
T.say("get", get(s))
local sess = s:sslhandshake()
T.say("session after the response", type(sess))
T.say("again with it: the same", rawequal(s:sslhandshake(sess), sess))
T.say("again with false", s:sslhandshake(false))
T.say("page: New", page_says(s, "New, TLSv1."))
T.say("close", s:close())

s = T.tcp()
s:settimeout(3000)
T.say("connect 2", s:connect("127.0.0.1", port))
T.say("resume", type(s:sslhandshake(sess, "localhost")))
T.say("get 2", get(s))
T.say("page: Reused", page_says(s, "Reused, TLSv1."))
s:close()


os.execute("kill " .. pid .. " 2>/dev/null")
srv:close()
os.execute("rm -rf " .. q(dir))
