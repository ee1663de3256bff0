-- cosocket.cdef: the C declarations of include/cosocket.h and the library
-- loader. Everything else in the binding gets the clib from here.
--
-- Loading order (the first that loads wins; the error lists every try):
--   1. the COSOCKET_LIB environment variable (a path to the .so);
--   2. next to the module file (bindings/lua/libcosocket.so);
--   3. ../../target/release and ../../target/debug relative to it (a checkout);
--   4. every package.cpath entry, with "?" replaced by "libcosocket";
--   5. the system linker: ffi.load("cosocket").

local ffi = require "ffi"

local pcall = pcall
local io_open = io.open
local os_getenv = os.getenv
local str_gsub = string.gsub
local str_gmatch = string.gmatch
local concat = table.concat

-- Types. Guarded so that two copies of the binding (or another module that
-- declares the same types) can coexist: struct and enum definitions cannot
-- be repeated in LuaJIT, function declarations can.
if not pcall(ffi.typeof, "cosocket_status") then
    ffi.cdef [[
typedef enum cosocket_status {
  COSOCKET_STATUS_OK = 0,
  COSOCKET_STATUS_AGAIN = 1,
  COSOCKET_STATUS_DONE = 2,
  COSOCKET_STATUS_ERROR = 3,
  COSOCKET_STATUS_NULL_PARAMETER = 10,
  COSOCKET_STATUS_INVALID_HANDLE = 11,
  COSOCKET_STATUS_INVALID_ARGUMENT = 12,
  COSOCKET_STATUS_PANIC = 13,
  COSOCKET_STATUS_NO_RESULT = 14,
} cosocket_status;
]]
end

if not pcall(ffi.typeof, "cosocket_pattern") then
    ffi.cdef [[
typedef enum cosocket_pattern {
  COSOCKET_PATTERN_LINE = 0,
  COSOCKET_PATTERN_ALL = 1,
  COSOCKET_PATTERN_SIZE = 2,
  COSOCKET_PATTERN_ANY = 3,
} cosocket_pattern;
]]
end

if not pcall(ffi.typeof, "cosocket_op") then
    ffi.cdef [[
typedef enum cosocket_op {
  COSOCKET_OP_CONNECT = 0,
  COSOCKET_OP_SEND = 1,
  COSOCKET_OP_RECEIVE = 2,
  COSOCKET_OP_HANDSHAKE = 3,
} cosocket_op;
]]
end

if not pcall(ffi.typeof, "cosocket_loop") then
    ffi.cdef [[
typedef struct cosocket_loop cosocket_loop;
typedef struct cosocket_tcp cosocket_tcp;
typedef struct cosocket_until cosocket_until;
]]
end

if not pcall(ffi.typeof, "cosocket_ssl_session") then
    ffi.cdef "typedef struct cosocket_ssl_session cosocket_ssl_session;"
end

if not pcall(ffi.typeof, "cosocket_udp") then
    ffi.cdef "typedef struct cosocket_udp cosocket_udp;"
end

if not pcall(ffi.typeof, "cosocket_result") then
    ffi.cdef [[
typedef struct cosocket_result {
  const uint8_t *data;
  size_t data_len;
  const char *err;
  size_t err_len;
  int64_t value;
} cosocket_result;
]]
end

if not pcall(ffi.typeof, "cosocket_connect_options") then
    ffi.cdef [[
typedef struct cosocket_connect_options {
  const char *pool;
  size_t pool_len;
  int64_t pool_size;
  int64_t backlog;
} cosocket_connect_options;
]]
end

if not pcall(ffi.typeof, "cosocket_iovec") then
    ffi.cdef [[
typedef struct cosocket_iovec {
  const uint8_t *base;
  size_t len;
} cosocket_iovec;
]]
end

if not pcall(ffi.typeof, "cosocket_pool_stats") then
    ffi.cdef [[
typedef struct cosocket_pool_stats {
  uint64_t size;
  int64_t backlog;
  uint64_t idle;
  uint64_t in_use;
  uint64_t waiting;
  uint64_t reuses;
  uint64_t evictions;
} cosocket_pool_stats;
]]
end

-- Functions (repeating a declaration is harmless). Those returning an enum
-- cosocket_status in the header are declared to return int (the same
-- 4-byte value): LuaJIT boxes an enum return value as a cdata, so every
-- status would be an allocation wherever it is not sunk (the interpreter,
-- trace exits) and each comparison with a number a metamethod call in the
-- interpreter; lua-resty-core declares its status returns int likewise.
ffi.cdef [[
const char *cosocket_version(void);
bool cosocket_set_workers(uint32_t n);

bool cosocket_sha1_bin(const uint8_t *src, size_t len, uint8_t *dst);
bool cosocket_md5_bin(const uint8_t *src, size_t len, uint8_t *dst);
bool cosocket_md5_hex(const uint8_t *src, size_t len, uint8_t *dst);
bool cosocket_hmac_sha1(const uint8_t *key, size_t key_len,
                        const uint8_t *src, size_t len, uint8_t *dst);
uint32_t cosocket_crc32(const uint8_t *src, size_t len);
size_t cosocket_base64_encoded_length(size_t len, bool no_padding);
size_t cosocket_base64_encode(const uint8_t *src, size_t len, uint8_t *dst,
                              bool no_padding);
size_t cosocket_base64_decoded_length(size_t len);
bool cosocket_base64_decode(const uint8_t *src, size_t len, uint8_t *dst,
                            size_t *dlen);
size_t cosocket_uri_escaped_length(const uint8_t *src, size_t len,
                                   int32_t type);
size_t cosocket_escape_uri(const uint8_t *src, size_t len, uint8_t *dst,
                           int32_t type);
size_t cosocket_unescape_uri(const uint8_t *src, size_t len, uint8_t *dst);
size_t cosocket_quote_sql_str_length(const uint8_t *src, size_t len);
size_t cosocket_quote_sql_str(const uint8_t *src, size_t len, uint8_t *dst);

struct cosocket_loop *cosocket_loop_new(void);
void cosocket_loop_free(struct cosocket_loop *lp);
int32_t cosocket_loop_fd(struct cosocket_loop *lp);
int64_t cosocket_loop_timeout(struct cosocket_loop *lp);
int cosocket_loop_wait(struct cosocket_loop *lp,
    uint64_t *tokens, size_t cap, int64_t timeout_ms, size_t *n_out);
int cosocket_loop_sleep(struct cosocket_loop *lp,
    uint64_t token, int64_t ms);
int cosocket_loop_post(struct cosocket_loop *lp,
    uint64_t token);

struct cosocket_tcp *cosocket_tcp_new(void);
void cosocket_tcp_free(struct cosocket_tcp *sock);
int cosocket_tcp_abort(struct cosocket_tcp *sock);
int cosocket_tcp_settimeout(struct cosocket_tcp *sock,
    int64_t ms, struct cosocket_result *out);
int cosocket_tcp_settimeouts(struct cosocket_tcp *sock,
    int64_t connect_ms, int64_t send_ms, int64_t read_ms,
    struct cosocket_result *out);
int cosocket_tcp_connect(struct cosocket_tcp *sock,
    const char *host, size_t host_len, int32_t port,
    const struct cosocket_connect_options *opts, struct cosocket_result *out);
int cosocket_tcp_connect_async(struct cosocket_tcp *sock,
    struct cosocket_loop *lp, uint64_t token, const char *host,
    size_t host_len, int32_t port, const struct cosocket_connect_options *opts,
    struct cosocket_result *out);
int cosocket_tcp_send(struct cosocket_tcp *sock,
    const uint8_t *data, size_t len, struct cosocket_result *out);
int cosocket_tcp_sendv(struct cosocket_tcp *sock,
    const struct cosocket_iovec *iov, size_t n, struct cosocket_result *out);
int cosocket_tcp_send_async(struct cosocket_tcp *sock,
    struct cosocket_loop *lp, uint64_t token, const uint8_t *data,
    size_t len, struct cosocket_result *out);
int cosocket_tcp_sendv_async(struct cosocket_tcp *sock,
    struct cosocket_loop *lp, uint64_t token,
    const struct cosocket_iovec *iov, size_t n, struct cosocket_result *out);
int cosocket_tcp_receive(struct cosocket_tcp *sock,
    uint32_t kind, size_t n, struct cosocket_result *out);
int cosocket_tcp_receive_async(struct cosocket_tcp *sock,
    struct cosocket_loop *lp, uint64_t token, uint32_t kind, size_t n,
    struct cosocket_result *out);
struct cosocket_until *cosocket_until_new(const uint8_t *pattern, size_t len,
    bool inclusive);
void cosocket_until_free(struct cosocket_until *it);
int cosocket_tcp_receiveuntil(struct cosocket_tcp *sock,
    struct cosocket_until *it, size_t size, struct cosocket_result *out);
int cosocket_tcp_receiveuntil_async(struct cosocket_tcp *sock,
    struct cosocket_loop *lp, uint64_t token, struct cosocket_until *it,
    size_t size, struct cosocket_result *out);
int cosocket_tcp_result(struct cosocket_tcp *sock,
    uint32_t op, struct cosocket_result *out);
int cosocket_tcp_close(struct cosocket_tcp *sock,
    struct cosocket_result *out);
int cosocket_tcp_setkeepalive(struct cosocket_tcp *sock,
    int64_t timeout_ms, int64_t size, struct cosocket_result *out);
int cosocket_tcp_getreusedtimes(struct cosocket_tcp *sock,
    struct cosocket_result *out);
int cosocket_tcp_setoption(struct cosocket_tcp *sock,
    const char *name, size_t name_len, int64_t value,
    struct cosocket_result *out);
int cosocket_tcp_getoption(struct cosocket_tcp *sock,
    const char *name, size_t name_len, struct cosocket_result *out);
int cosocket_tcp_getfd(struct cosocket_tcp *sock,
    struct cosocket_result *out);
int cosocket_tcp_bind(struct cosocket_tcp *sock,
    const char *ip, size_t ip_len, int32_t port, struct cosocket_result *out);

void cosocket_ssl_session_free(struct cosocket_ssl_session *session);
bool cosocket_ssl_session_resumable(const struct cosocket_ssl_session *session);
int cosocket_tcp_sslhandshake(struct cosocket_tcp *sock,
    const struct cosocket_ssl_session *session, const char *server_name,
    size_t server_name_len, bool verify, bool want_session,
    struct cosocket_ssl_session **out_session, struct cosocket_result *out);
int cosocket_tcp_sslhandshake_async(struct cosocket_tcp *sock,
    struct cosocket_loop *lp, uint64_t token,
    const struct cosocket_ssl_session *session, const char *server_name,
    size_t server_name_len, bool verify, bool want_session,
    struct cosocket_ssl_session **out_session, struct cosocket_result *out);
int cosocket_tcp_getsslsession(struct cosocket_tcp *sock,
    struct cosocket_ssl_session **out_session, struct cosocket_result *out);
int cosocket_tcp_sslresumed(struct cosocket_tcp *sock,
    struct cosocket_result *out);
int cosocket_tcp_setclientcert(struct cosocket_tcp *sock,
    const char *cert_pem, size_t cert_len, const char *key_pem,
    size_t key_len, struct cosocket_result *out);
int cosocket_tcp_settrustedstore(struct cosocket_tcp *sock,
    const char *pem, size_t len, struct cosocket_result *out);

int cosocket_pool_get_stats(const char *key, size_t key_len,
    struct cosocket_pool_stats *out);

const char *cosocket_status_str(uint32_t status);

struct cosocket_udp *cosocket_udp_new(void);
void cosocket_udp_free(struct cosocket_udp *sock);
int cosocket_udp_abort(struct cosocket_udp *sock);
int cosocket_udp_settimeout(struct cosocket_udp *sock,
    int64_t ms, struct cosocket_result *out);
int cosocket_udp_bind(struct cosocket_udp *sock,
    const char *ip, size_t ip_len, int32_t port, struct cosocket_result *out);
int cosocket_udp_setpeername(struct cosocket_udp *sock,
    const char *host, size_t host_len, int32_t port,
    struct cosocket_result *out);
int cosocket_udp_setpeername_async(struct cosocket_udp *sock,
    struct cosocket_loop *lp, uint64_t token, const char *host,
    size_t host_len, int32_t port, struct cosocket_result *out);
int cosocket_udp_send(struct cosocket_udp *sock,
    const uint8_t *data, size_t len, struct cosocket_result *out);
int cosocket_udp_sendv(struct cosocket_udp *sock,
    const struct cosocket_iovec *iov, size_t n, struct cosocket_result *out);
int cosocket_udp_send_async(struct cosocket_udp *sock,
    struct cosocket_loop *lp, uint64_t token, const uint8_t *data,
    size_t len, struct cosocket_result *out);
int cosocket_udp_sendv_async(struct cosocket_udp *sock,
    struct cosocket_loop *lp, uint64_t _token,
    const struct cosocket_iovec *iov, size_t n, struct cosocket_result *out);
int cosocket_udp_receive(struct cosocket_udp *sock,
    size_t size, struct cosocket_result *out);
int cosocket_udp_receive_async(struct cosocket_udp *sock,
    struct cosocket_loop *lp, uint64_t token, size_t size,
    struct cosocket_result *out);
int cosocket_udp_result(struct cosocket_udp *sock,
    uint32_t op, struct cosocket_result *out);
int cosocket_udp_close(struct cosocket_udp *sock,
    struct cosocket_result *out);
int cosocket_udp_check(struct cosocket_udp *sock,
    struct cosocket_result *out);
int cosocket_udp_getfd(struct cosocket_udp *sock,
    struct cosocket_result *out);
]]

-- libc helpers used by the scheduler (sleep outside it, the clock). Declared
-- only when nobody else did, so another module's declaration is reused.
local C = ffi.C

if not pcall(function() return C.poll end) then
    ffi.cdef "int poll(void *fds, unsigned long nfds, int timeout);"
end

if not pcall(function() return C.snprintf end) then
    ffi.cdef "int snprintf(char *str, size_t size, const char *format, ...);"
end

if not pcall(ffi.typeof, "struct timeval") then
    ffi.cdef "struct timeval { long tv_sec; long tv_usec; };"
end

if not pcall(function() return C.gettimeofday end) then
    ffi.cdef "int gettimeofday(struct timeval *tv, void *tz);"
end

if not pcall(ffi.typeof, "struct timespec") then
    ffi.cdef "struct timespec { long tv_sec; long tv_nsec; };"
end

if not pcall(function() return C.clock_gettime end) then
    ffi.cdef "int clock_gettime(int clk_id, struct timespec *tp);"
end


---------------------------------------------------------------- loading

local function lib_name()
    if ffi.os == "OSX" then
        return "libcosocket.dylib"
    elseif ffi.os == "Windows" then
        return "cosocket.dll"
    end
    return "libcosocket.so"
end

-- The directory holding cosocket.lua (this file lives in cosocket/ below it).
local function module_dir()
    local src = debug.getinfo(1, "S").source
    if src:sub(1, 1) ~= "@" then
        return nil
    end
    local dir = src:sub(2):match("^(.*)[/\\]cosocket[/\\][^/\\]*$")
    if dir == nil then
        -- cdef.lua loaded from the module directory itself
        dir = src:sub(2):match("^(.*)[/\\][^/\\]*$") or "."
    end
    if dir == "" then
        dir = "/"
    end
    return dir
end

local function exists(path)
    local f = io_open(path, "rb")
    if f then
        f:close()
        return true
    end
    return false
end

local function load_library()
    local name = lib_name()
    local tried = {}

    local function try(path)
        if not exists(path) then
            tried[#tried + 1] = path .. " (not found)"
            return nil
        end
        local ok, lib = pcall(ffi.load, path)
        if ok then
            return lib, path
        end
        tried[#tried + 1] = path .. " (" .. tostring(lib) .. ")"
        return nil
    end

    local env = os_getenv("COSOCKET_LIB")
    if env and env ~= "" then
        local lib, path = try(env)
        if lib then
            return lib, path
        end
    end

    local dir = module_dir()
    if dir then
        for _, rel in ipairs { "", "../../target/release/",
                               "../../target/debug/" } do
            local lib, path = try(dir .. "/" .. rel .. name)
            if lib then
                return lib, path
            end
        end
    end

    for template in str_gmatch(package.cpath, "[^;]+") do
        local path = str_gsub(template, "%?", (str_gsub(name, "%.[^.]*$", "")))
        local lib, p = try(path)
        if lib then
            return lib, p
        end
    end

    local ok, lib = pcall(ffi.load, "cosocket")
    if ok then
        return lib, "cosocket (system linker)"
    end
    tried[#tried + 1] = 'ffi.load("cosocket") (' .. tostring(lib) .. ")"

    error("cosocket: cannot load the native library " .. name
          .. "; set COSOCKET_LIB to its path. Tried:\n  "
          .. concat(tried, "\n  "), 3)
end

local clib, lib_path = load_library()

return {
    C = clib,          -- the library namespace (kept alive by this table)
    path = lib_path,   -- where it was loaded from
    libc = C,
}
