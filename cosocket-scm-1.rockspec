-- LuaRocks package: the LuaJIT binding and libcosocket, built with cargo.
--
--   luarocks make cosocket-scm-1.rockspec      (from a checkout; needs cargo)
--
-- The Lua modules go to the rock's Lua tree, libcosocket to its lib tree
-- (a package.cpath directory, where cosocket.cdef looks for it).
rockspec_format = "3.0"
package = "cosocket"
version = "scm-1"

source = {
    url = "git+https://example.invalid/cosocket.git",
}

description = {
    summary = "OpenResty's cosocket TCP API (ngx.socket.tcp) for plain LuaJIT",
    detailed = [[
ngx.socket.tcp with the same methods, arguments, return values and error
strings as OpenResty, plus a coroutine scheduler (spawn/wait/kill/sleep/run)
that runs thousands of light threads on one OS thread. Outside the scheduler
the same calls block. Native core in Rust (libcosocket, C ABI).
]],
    license = "MIT OR Apache-2.0",
    labels = { "luajit", "ffi", "socket", "openresty", "cosocket" },
}

dependencies = {
    "lua == 5.1",   -- LuaJIT 2.1 (the binding uses the FFI)
}

build = {
    type = "command",
    build_command = "cargo build --release --lib",
    install = {
        lua = {
            ["cosocket"] = "bindings/lua/cosocket.lua",
            ["cosocket.cdef"] = "bindings/lua/cosocket/cdef.lua",
            ["cosocket.sched"] = "bindings/lua/cosocket/sched.lua",
            ["cosocket.tcp"] = "bindings/lua/cosocket/tcp.lua",
            ["cosocket.udp"] = "bindings/lua/cosocket/udp.lua",
            ["cosocket.sendbuf"] = "bindings/lua/cosocket/sendbuf.lua",
            ["cosocket.coroutine"] = "bindings/lua/cosocket/coroutine.lua",
            ["cosocket.ngx"] = "bindings/lua/cosocket/ngx.lua",
            ["cosocket.ngx_re"] = "bindings/lua/cosocket/ngx_re.lua",
        },
        lib = {
            ["libcosocket"] = "target/release/libcosocket.so",
        },
    },
    platforms = {
        macosx = {
            install = {
                lib = {
                    ["libcosocket"] = "target/release/libcosocket.dylib",
                },
            },
        },
    },
}
