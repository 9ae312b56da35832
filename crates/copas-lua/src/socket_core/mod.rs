//! `socket.core`: the namespace functions and the TCP/UDP object types.

use mlua::{Lua, Result, Table};

mod tcp;
mod udp;

/// Builds the `socket.core` table.
pub fn open(lua: &Lua) -> Result<Table> {
    let core = lua.create_table()?;
    core.set("_VERSION", "LuaSocket 3.1.0")?;
    tcp::register(lua, &core)?;
    udp::register(lua, &core)?;
    Ok(core)
}
