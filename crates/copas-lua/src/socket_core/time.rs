//! `gettime` and the sleeping half of `sleep`.

use crate::lua_api::c_int;

use mlua::{Lua, Result, Table};

use crate::dispatch::{dispatcher, SharedDispatcher};
use crate::lua_api::{closures, shared, LuaState, Stack};

/// `gettime`, as a C closure over the state's dispatcher: programs call it around
/// every operation they time (a Copas loop, a benchmark), and an mlua callback costs
/// far more than reading the clock. Under the dispatcher's virtual clock (see
/// `copas.testing`) it reads that clock, so every copy a module took of
/// `socket.gettime` or `copas.gettime` follows it.
unsafe extern "C-unwind" fn gettime(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua as a closure made by `register`, whose upvalue 1 owns a
    // SharedDispatcher; pushing a number cannot raise.
    let stack = unsafe { Stack::new(state) };
    // SAFETY: as above.
    let simulated = unsafe { shared::<SharedDispatcher>(stack) }
        .and_then(|d| d.try_borrow().ok()?.scheduler.virtual_time());
    stack.push_number(simulated.unwrap_or_else(luasocket_core::time::gettime));
    1
}

/// Adds `gettime(...)` (extra arguments ignored, as in LuaSocket) and
/// `sleep(seconds: number)` to the primitives table.
pub(crate) fn register(lua: &Lua, native: &Table) -> Result<()> {
    for (name, function) in closures(lua, dispatcher(lua)?, &[], &[("gettime", gettime)])? {
        native.set(name, function)?;
    }
    native.set(
        "sleep",
        lua.create_function(|_, seconds: f64| {
            luasocket_core::time::sleep(seconds);
            Ok(())
        })?,
    )?;
    Ok(())
}
