//! Runs `namespace.lua` over `socket.core`, handing it the Rust primitives.

use mlua::{Lua, Result, Table};

use super::{dns, select, time};

const NAMESPACE_SOURCE: &str = include_str!("namespace.lua");

/// Adds the namespace functions (`select`, `dns`, `sleep`, `gettime`, `skip`,
/// `newtry`, `protect`, `connect`, `__unload`) to `core`.
pub(crate) fn register(lua: &Lua, core: &Table) -> Result<()> {
    let native = lua.create_table()?;
    select::register(lua, &native)?;
    dns::register(lua, &native)?;
    time::register(lua, &native)?;
    lua.load(NAMESPACE_SOURCE)
        .set_name("@socket.core")
        .call::<()>((core, native))
}
