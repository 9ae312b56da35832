//! The `tcp` object types of `socket.core`.

use mlua::{Lua, Result, Table};

/// Adds the `tcp` constructors to `socket.core`.
pub fn register(_lua: &Lua, _core: &Table) -> Result<()> {
    Ok(())
}
