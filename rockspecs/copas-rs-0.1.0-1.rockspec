-- copas-rs: LuaSocket 3.1, LuaSec 1.3 and Copas 4.11 rebuilt in Rust, as one rock.
-- Building needs a Rust toolchain (cargo, 1.88 or newer) and a C compiler.
rockspec_format = "3.0"
package = "copas-rs"
version = "0.1.0-1"
source = {
   url = "git+https://github.com/copas-rs/copas-rs.git",
   tag = "v0.1.0",
}
description = {
   summary = "LuaSocket, LuaSec and Copas in Rust: one library, epoll, no FD_SETSIZE cap",
   detailed = [[
copas-rs provides the modules of LuaSocket 3.1 (socket, socket.*, mime, ltn12),
LuaSec 1.3 (ssl) and Copas 4.11 (copas, copas.*) from one shared object built in
Rust. It stands in for the luasocket, luasec and copas rocks: install it instead of
them, not beside them (see README.md).
]],
   license = "MIT",
   homepage = "https://github.com/copas-rs/copas-rs",
}
dependencies = {
   "lua >= 5.1, < 5.5",
}
build = {
   type = "command",
   -- One library (LIBDIR/copasrs.so) and a small Lua loader per module (LUADIR), so
   -- that every module loads the same single copy of the library: see
   -- xtask/src/rock.rs. $(LUA) is the interpreter LuaRocks targets; cargo builds for it.
   install_command = "cargo xtask rock-install --lua '$(LUA)' --luadir '$(LUADIR)' --libdir '$(LIBDIR)'",
}
