//! `socket.core`: the namespace functions and the TCP/UDP object types; and the
//! `socket.unix` and `socket.serial` modules, whose objects are those types again.
//!
//! The namespace is built in two layers. Rust functions (in `select`, `dns` and
//! `time`) do the system work and take already-checked arguments; `namespace.lua`
//! wraps them with LuaSocket's argument checks and messages, calls the `getfd` and
//! `dirty` methods for `select`, and implements `newtry`/`protect`. The socket objects
//! (`object`, `tcp`, `udp`) raise their argument errors through the same kind of Lua
//! shim, because LuaSocket's errors are plain strings while an error returned by an
//! mlua callback reaches Lua as a userdata.

use mlua::{Lua, Result, Table};

pub(crate) mod dns;
pub(crate) mod methods;
mod namespace;
pub(crate) mod object;
mod select;
#[cfg(unix)]
pub(crate) mod serial;
pub(crate) mod tcp;
mod time;
pub(crate) mod udp;
pub(crate) mod unix;

/// Builds the `socket.core` table.
pub(crate) fn open(lua: &Lua) -> Result<Table> {
    let core = lua.create_table()?;
    core.set("_VERSION", "LuaSocket 3.1.0")?;
    core.set("_DEBUG", true)?;
    core.set("_DATAGRAMSIZE", luasocket_core::DATAGRAM_SIZE)?;
    core.set("_SETSIZE", luasocket_core::select::max_descriptors())?;
    core.set("_SOCKETINVALID", -1)?;
    tcp::register(lua, &core)?;
    udp::register(lua, &core)?;
    namespace::register(lua, &core)?;
    Ok(core)
}
