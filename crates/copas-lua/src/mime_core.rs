//! `mime.core`: the encoders and filters behind the `mime` module.

use mlua::{Lua, Result, Table};

/// Builds the `mime.core` table.
pub fn open(lua: &Lua) -> Result<Table> {
    lua.create_table()
}
