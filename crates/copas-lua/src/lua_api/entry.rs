//! The `luaopen_*` functions of the loadable module.

use std::cell::Cell;

use mlua::{Lua, Result, Value};

use super::{c_int, LuaState, Stack};

/// Runs `open` as the body of a `luaopen_*` function. A failure reaches Lua as its
/// message, a plain string as a C module raises it: mlua's own error object would
/// print as "(error object is not a string)" in Lua 5.1's `lua`, and the mixed-stack
/// error must be readable everywhere.
///
/// # Safety
/// `state` is the state Lua called the `luaopen_*` function with.
pub(crate) unsafe fn open_module(
    state: *mut LuaState,
    open: impl FnOnce(&Lua) -> Result<Value>,
) -> c_int {
    let failed = Cell::new(false);
    // SAFETY: per the contract; entrypoint1 pushes the one value the closure returns
    // and drops every Rust value before it returns.
    let results = unsafe {
        Lua::entrypoint1(state, |lua| {
            // The host interpreter owns the allocator; mlua cannot count its memory.
            lua.skip_memory_check(true);
            match open(lua) {
                Ok(value) => Ok(value),
                Err(error) => {
                    failed.set(true);
                    lua.create_string(text(&error)).map(Value::String)
                }
            }
        })
    };
    if failed.get() {
        // SAFETY: the message is on top; nothing in this frame needs dropping.
        unsafe { Stack::new(state).raise_top() }
    } else {
        results
    }
}

/// An error's message without mlua's "runtime error: ", callback wrapping, or the
/// traceback mlua adds where the error crossed its call (the host adds its own).
fn text(error: &mlua::Error) -> String {
    match error {
        mlua::Error::RuntimeError(message) => message
            .split_once("\nstack traceback:")
            .map_or(message.as_str(), |(message, _)| message)
            .to_owned(),
        mlua::Error::CallbackError { cause, .. } => text(cause),
        other => other.to_string(),
    }
}
