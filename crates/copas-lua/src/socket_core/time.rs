//! `gettime` and the sleeping half of `sleep`.

use mlua::{Lua, Result, Table};

/// Adds `gettime(...)` (extra arguments ignored, as in LuaSocket) and
/// `sleep(seconds: number)` to the primitives table.
pub fn register(lua: &Lua, native: &Table) -> Result<()> {
    native.set(
        "gettime",
        lua.create_function(|_, ()| Ok(luasocket_core::time::gettime()))?,
    )?;
    native.set(
        "sleep",
        lua.create_function(|_, seconds: f64| {
            luasocket_core::time::sleep(seconds);
            Ok(())
        })?,
    )?;
    Ok(())
}
