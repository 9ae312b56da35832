//! C closures over a Rust value, and the guard every C function runs its Rust work in.
//!
//! The value is owned by a full userdata that each closure of a group holds as its
//! first upvalue, so it lives exactly as long as the last closure that can reach it:
//! loading a module again makes a new group and leaves the old one, and the functions
//! a program still holds from it, intact. (Keeping it in mlua's app data instead let a
//! reload free a value the old closures still pointed to.)

use std::ffi::c_int;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::{ffi, AnyUserData, Function, Lua, MultiValue, Result, Value};

use super::stack::{CFunction, LuaState, Stack};
use super::USERDATA_ALIGN;

/// The memory of the userdata that owns a group's value; emptied by `__gc`.
struct Owner<S> {
    value: Option<S>,
}

/// Makes one C closure per entry of `functions`, all over one new userdata owning
/// `value` (upvalue 1) followed by `upvalues` (upvalues 2, 3, ...).
pub(crate) fn closures<S: 'static>(
    lua: &Lua,
    value: S,
    upvalues: &[Value],
    functions: &[(&'static str, CFunction)],
) -> Result<Vec<(&'static str, Function)>> {
    const { assert!(std::mem::align_of::<Owner<S>>() <= USERDATA_ALIGN) };
    let metatable = lua.create_table()?;
    // SAFETY: `drop_owner::<S>` follows the lua_CFunction protocol; it is only ever
    // the `__gc` of userdata made below, which hold an Owner<S>.
    metatable.raw_set("__gc", unsafe { lua.create_c_function(drop_owner::<S>)? })?;
    metatable.raw_set("__metatable", false)?;
    let owner = ManuallyDrop::new(Owner { value: Some(value) });
    // SAFETY: the new userdata has room for an Owner<S>, aligned (checked above), and
    // it is written before anything can see it. Only lua_newuserdata can raise (out of
    // memory), while the value is still in its ManuallyDrop: it then leaks rather than
    // being dropped twice. Stack: [metatable] -> [userdata].
    let holder = unsafe {
        lua.exec_raw::<AnyUserData>(metatable, move |state| {
            let memory =
                ffi::lua_newuserdata(state, std::mem::size_of::<Owner<S>>()).cast::<Owner<S>>();
            memory.write(ManuallyDrop::into_inner(owner));
            ffi::lua_pushvalue(state, 1);
            ffi::lua_setmetatable(state, -2);
            ffi::lua_remove(state, 1);
        })?
    };
    let count = c_int::try_from(upvalues.len() + 1).map_err(mlua::Error::external)?;
    let mut made = Vec::with_capacity(functions.len());
    for (name, body) in functions {
        let mut args = MultiValue::with_capacity(upvalues.len() + 1);
        args.push_back(Value::UserData(holder.clone()));
        args.extend(upvalues.iter().cloned());
        let body = *body;
        // SAFETY: pushes a C closure over the arguments (the holder and the upvalues);
        // the closure owns nothing, so an allocation error skips no destructor.
        let function = unsafe {
            lua.exec_raw::<Function>(args, move |state| {
                ffi::lua_pushcclosure(state, body, count);
            })?
        };
        made.push((*name, function));
    }
    Ok(made)
}

/// The value of the group the running closure belongs to; `None` once the state is
/// closing and its finalizer has run.
///
/// # Safety
/// `stack` is that of a closure made by [`closures`] with `S`; the reference is used
/// only during the call (the closure's upvalue keeps the userdata alive meanwhile).
pub(crate) unsafe fn shared<'a, S>(stack: Stack) -> Option<&'a S> {
    let owner = stack
        .userdata_address(Stack::upvalue(1))
        .cast_const()
        .cast::<Owner<S>>();
    // SAFETY: per the contract, upvalue 1 is a userdata holding an Owner<S>.
    (!owner.is_null()).then(|| unsafe { (*owner).value.as_ref() })?
}

/// `__gc` of a group's userdata: drops the value.
unsafe extern "C-unwind" fn drop_owner<S>(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua as the __gc of a userdata made by `closures` with S (the
    // metatable is hidden behind __metatable); no closure of the group can be running
    // (each holds the userdata), so nothing borrows the value.
    unsafe {
        let owner = ffi::lua_touserdata(state, 1).cast::<Owner<S>>();
        if !owner.is_null() {
            let _ = catch_unwind(AssertUnwindSafe(|| drop((*owner).value.take())));
        }
    }
    0
}

/// Runs the Rust part of a C function with panics caught: a panic must not unwind
/// into Lua's C frames, so it becomes `on_panic`'s result (usually an error to raise).
pub(crate) fn guarded<R>(body: impl FnOnce() -> R, on_panic: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| on_panic())
}
