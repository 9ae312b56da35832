//! Raising argument errors as plain Lua strings, worded by the interpreter itself.
//!
//! An `Err` returned by an mlua callback reaches Lua as a userdata error object
//! ("runtime error: ..." plus a traceback), while LuaSocket raises plain strings made
//! by `luaL_argerror`: `bad argument #2 to 'receive' (invalid receive pattern)`, or
//! `calling 'accept' on bad self (...)` for method calls, prefixed with the caller's
//! position. Functions made here return a marker instead, and a small C function
//! wrapped around each of them calls the real `luaL_argerror`, so messages are exactly
//! the interpreter's, on every Lua version.

use std::ffi::c_int;

use mlua::{ffi, Function, LightUserData, Lua, MultiValue, Value};

/// Why a function did not return normally.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Raise `bad argument #position to 'name' (message)`; `position` counts `self`.
    Argument { position: usize, message: String },
    /// An mlua error (out of memory, a failed conversion), raised as mlua raises it.
    Lua(mlua::Error),
}

impl From<mlua::Error> for Failure {
    fn from(err: mlua::Error) -> Self {
        Failure::Lua(err)
    }
}

/// `bad argument #position to '...' (message)`.
pub(crate) fn argument(position: usize, message: impl Into<String>) -> Failure {
    Failure::Argument {
        position,
        message: message.into(),
    }
}

/// What the functions made here return.
pub(crate) type Outcome = Result<MultiValue, Failure>;

/// A byte whose address marks "raise an argument error" among returned values.
static RAISE_MARKER: u8 = 0;

fn marker() -> *mut std::ffi::c_void {
    std::ptr::addr_of!(RAISE_MARKER) as *mut std::ffi::c_void
}

/// Makes a Lua function from `body`, raising its [`Failure::Argument`]s as
/// `luaL_argerror` does.
pub(crate) fn function<F>(lua: &Lua, body: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, MultiValue) -> Outcome + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| match body(lua, args) {
        Ok(values) => Ok(values),
        Err(Failure::Lua(err)) => Err(err),
        Err(Failure::Argument { position, message }) => {
            let position = i64::try_from(position).unwrap_or(i64::MAX);
            Ok(MultiValue::from_vec(vec![
                Value::LightUserData(LightUserData(marker())),
                Value::Integer(position),
                Value::String(lua.create_string(message)?),
            ]))
        }
    })?;
    // SAFETY: the closure only pushes a C closure over the function passed as the one
    // argument (the upvalue), which is what exec_raw returns; it owns nothing, so a
    // memory error raised by lua_pushcclosure skips no destructor.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, call_and_raise, 1);
        })
    }
}

/// Calls the wrapped function (upvalue 1) with all arguments and returns its results,
/// unless they are the raise marker: then raises the argument error it describes.
unsafe extern "C-unwind" fn call_and_raise(state: *mut ffi::lua_State) -> c_int {
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
            && ffi::lua_touserdata(state, 1) == marker()
        {
            let position = c_int::try_from(ffi::lua_tointeger(state, 2)).unwrap_or(c_int::MAX);
            let message = ffi::lua_tolstring(state, 3, std::ptr::null_mut());
            return ffi::luaL_argerror(state, position, message);
        }
        results
    }
}
