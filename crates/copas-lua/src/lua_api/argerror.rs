//! Argument errors worded by the interpreter itself.
//!
//! An `Err` returned by an mlua callback reaches Lua as a userdata error object, while
//! LuaSocket raises plain strings made by `luaL_argerror`: `bad argument #2 to
//! 'receive' (invalid receive pattern)`, or `calling 'accept' on bad self (...)` for
//! method calls, prefixed with the caller's position. A function wrapped here returns
//! a marker instead, and the small C function around it calls the real
//! `luaL_argerror`, so messages are exactly the interpreter's on every Lua version.
//! This is the crate's one way of raising an argument error.

use std::ffi::c_int;

use mlua::{ffi, Function, LightUserData, Lua, Result};

use super::stack::LuaState;

/// A byte whose address marks "raise an argument error" among returned values.
static RAISE_MARKER: u8 = 0;

/// The position that asks for the message raised as it is, with no `bad argument`
/// wording (LuaSocket's `luaL_error` calls in C functions, whose position prefix is empty).
pub(crate) const PLAIN_ERROR: i64 = 0;

/// The marker a wrapped function returns first, followed by the argument's position
/// (counting `self`) and the message, to have [`raising`] raise the error.
pub(crate) fn marker() -> LightUserData {
    LightUserData(std::ptr::addr_of!(RAISE_MARKER) as *mut std::ffi::c_void)
}

/// Wraps `inner` in a C function that returns its results, or raises the argument
/// error they describe when they start with [`marker`].
pub(crate) fn raising(lua: &Lua, inner: Function) -> Result<Function> {
    // SAFETY: pushes a C closure over the one argument (the wrapped function); it owns
    // nothing, so a memory error raised by lua_pushcclosure skips no destructor.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, call_and_raise, 1);
        })
    }
}

/// Calls the wrapped function (upvalue 1) with all arguments and returns its results,
/// unless they are the raise marker: then raises the argument error they describe.
unsafe extern "C-unwind" fn call_and_raise(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua as a C function with one upvalue, the wrapped function.
    // Lua guarantees LUA_MINSTACK free slots, enough for the one value pushed before
    // the call; lua_call makes room for the results. No Rust value with a destructor
    // lives in this frame, so the errors raised here (longjmp or unwind) skip nothing.
    unsafe {
        let count = ffi::lua_gettop(state);
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, count, ffi::LUA_MULTRET);
        let results = ffi::lua_gettop(state);
        if results == 3
            && ffi::lua_type(state, 1) == ffi::LUA_TLIGHTUSERDATA
            && ffi::lua_touserdata(state, 1) == marker().0
        {
            if ffi::lua_tointeger(state, 2) == PLAIN_ERROR {
                ffi::lua_settop(state, 3);
                ffi::lua_error(state);
            }
            let position = c_int::try_from(ffi::lua_tointeger(state, 2)).unwrap_or(c_int::MAX);
            let message = ffi::lua_tolstring(state, 3, std::ptr::null_mut());
            return ffi::luaL_argerror(state, position, message);
        }
        results
    }
}
