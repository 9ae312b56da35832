//! `gettime` and the sleeping half of `sleep`.

use crate::lua_api::c_int;

use mlua::{Lua, Result, Table};

use crate::lua_api::{c_function, LuaState, Stack};

/// `gettime`, as a plain C function: programs call it around every operation they
/// time (a Copas loop, a benchmark), and an mlua callback costs far more than reading
/// the clock.
unsafe extern "C-unwind" fn gettime(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua; pushing a number cannot raise.
    let stack = unsafe { Stack::new(state) };
    stack.push_number(luasocket_core::time::gettime());
    1
}

/// Adds `gettime(...)` (extra arguments ignored, as in LuaSocket) and
/// `sleep(seconds: number)` to the primitives table.
pub(crate) fn register(lua: &Lua, native: &Table) -> Result<()> {
    // SAFETY: `gettime` follows the lua_CFunction protocol and cannot raise.
    native.set("gettime", unsafe { c_function(lua, gettime)? })?;
    native.set(
        "sleep",
        lua.create_function(|_, seconds: f64| {
            luasocket_core::time::sleep(seconds);
            Ok(())
        })?,
    )?;
    Ok(())
}
