-- §6 case 10 (t/059 TESTS 1-2, t/058 TESTS 61, 63, 72), §2.1 argument rules:
-- what connect() raises and what it returns.
-- peer: hold
local T = ...
local function try(label, ...)
  local sock = T.tcp()
  T.try(label, sock, "connect", ...)
  sock:close()
end
try("unix missing file", "unix:" .. T.tmpdir .. "/nosuchfile.sock")
try("path without unix: prefix", T.tmpdir .. "/test-nginx.sock")
try("host only", "127.0.0.1")
try("port nil", "127.0.0.1", nil)
try("options only", "127.0.0.1", {})
try("port 65536", "127.0.0.1", 65536)
try("port -1", "127.0.0.1", -1)
try("port \"abc\"", "127.0.0.1", "abc")
try("port as string", "127.0.0.1", tostring(T.port))
try("port + 0.7", "127.0.0.1", T.port + 0.7)
try("port \" 80\"", "127.0.0.1", " " .. T.port)
try("port, nil options", "127.0.0.1", T.port, nil)
try("port, string 4th argument", "127.0.0.1", T.port, "x")
try("no arguments")
try("host nil", nil, T.port)
try("host table", {}, T.port)
try("five arguments", "127.0.0.1", T.port, {}, 5)
try("empty host", "", T.port)
