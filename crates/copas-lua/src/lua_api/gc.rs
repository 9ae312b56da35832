//! Telling Lua's collector about memory it cannot see.

use mlua::{ffi, Lua, Result};

/// Runs a step of the collector as if `kbytes` had been allocated from Lua.
///
/// An object whose memory lives outside Lua's heap (a Rust receive buffer) is
/// otherwise light to the collector, which then lets thousands of dropped sockets,
/// and their descriptors, pile up before a cycle ends; LuaSocket's objects carry their
/// buffer inside the userdata, so Lua paces its collections by it.
pub(crate) fn account(lua: &Lua, kbytes: i32) -> Result<()> {
    // SAFETY: exec_raw runs the closure protected, so an error raised by a finalizer
    // during the step comes back as an mlua error; nothing is pushed.
    unsafe {
        lua.exec_raw::<()>((), |state| {
            ffi::lua_gc(state, ffi::LUA_GCSTEP, kbytes);
        })
    }
}
