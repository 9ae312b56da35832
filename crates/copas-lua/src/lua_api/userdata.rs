//! Socket objects as full userdata with metatables we own.
//!
//! LuaSocket changes an object's metatable when its class changes, and scripts read
//! `getmetatable(s).__index` as a plain table: mlua's userdata (one protected metatable
//! per Rust type) cannot do that, so these objects are made here. Each holds a
//! [`Slot`]; a weak-keyed "live" table per kind maps every object to its slot's
//! address, which is how an object is recognised as ours (see `socket_core::object`).

use std::cell::{RefCell, RefMut};
use std::ffi::{c_int, c_void};
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mlua::{ffi, AnyUserData, Function, LightUserData, Lua, Result, Table};

use super::stack::{LuaState, Stack};
use super::USERDATA_ALIGN;

/// The Rust value inside a socket userdata; empty once the object was finalized.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    value: RefCell<Option<T>>,
}

impl<T> Slot<T> {
    /// Borrows the value, or `None` if it was finalized or is borrowed already.
    pub(crate) fn borrow_mut(&self) -> Option<RefMut<'_, T>> {
        let guard = self.value.try_borrow_mut().ok()?;
        RefMut::filter_map(guard, Option::as_mut).ok()
    }
}

/// Makes a new userdata holding `value` with `metatable`; returns it and its slot's
/// address (the value the live table maps it to).
pub(crate) fn new_slot<T: 'static>(
    lua: &Lua,
    metatable: Table,
    value: T,
) -> Result<(AnyUserData, LightUserData)> {
    const { assert!(std::mem::align_of::<Slot<T>>() <= USERDATA_ALIGN) };
    let slot = ManuallyDrop::new(Slot {
        value: RefCell::new(Some(value)),
    });
    // SAFETY: the new userdata has room for a Slot<T>, aligned (checked above); the
    // slot is written before anything else can see the memory. Only lua_newuserdata
    // can raise (out of memory), before the slot leaves its ManuallyDrop, which has no
    // destructor: the value then leaks instead of being dropped twice.
    // Stack: [metatable] -> [userdata, address].
    unsafe {
        lua.exec_raw::<(AnyUserData, LightUserData)>(metatable, move |state| {
            let memory =
                ffi::lua_newuserdata(state, std::mem::size_of::<Slot<T>>()).cast::<Slot<T>>();
            memory.write(ManuallyDrop::into_inner(slot));
            ffi::lua_pushvalue(state, 1);
            ffi::lua_setmetatable(state, -2);
            ffi::lua_pushlightuserdata(state, memory.cast::<c_void>());
            ffi::lua_remove(state, 1);
        })
    }
}

/// The slot at `address`, an address the live table of kind `T` maps an object to.
///
/// # Safety
/// `address` came from [`new_slot`] with `T`, and the object stays reachable for `'a`
/// (Lua never moves userdata memory and frees it only once unreachable).
pub(crate) unsafe fn slot_from_address<'a, T>(address: *mut c_void) -> Option<&'a Slot<T>> {
    // SAFETY: per the contract.
    (!address.is_null()).then(|| unsafe { &*address.cast_const().cast::<Slot<T>>() })
}

/// Gives `userdata` `metatable` (LuaSocket's `auxiliar_setclass`).
pub(crate) fn set_metatable(lua: &Lua, userdata: &AnyUserData, metatable: Table) -> Result<()> {
    // SAFETY: stack [userdata, metatable]; lua_setmetatable pops the metatable and
    // cannot raise; nothing is left on the stack.
    unsafe {
        lua.exec_raw::<()>((userdata.clone(), metatable), |state| {
            ffi::lua_setmetatable(state, 1);
            ffi::lua_settop(state, 0);
        })
    }
}

/// The slot of the full userdata at stack `index`, which the caller recognised as an
/// object of kind `T` by its metatable, for C functions on the hot path; `None` if the
/// block is not the size of a `Slot<T>`.
///
/// A kind's class metatables are given only by [`new_slot`] and [`set_metatable`], and
/// only to objects of that kind; Lua code cannot set a userdata's metatable (only the
/// debug library can, which defeats every C library's `luaL_checkudata` alike). This
/// is that check, with the size as well, for a foreign C module that took a class name
/// of ours for its own objects through `luaL_newmetatable`. It costs a third of a
/// lookup in the live table, which the methods still use.
///
/// # Safety
/// The value at `index` is a full userdata whose metatable is one of kind `T`'s class
/// metatables; the slot is used only while the object stays on the stack.
pub(crate) unsafe fn slot_at<'a, T>(stack: Stack, index: c_int) -> Option<&'a Slot<T>> {
    if stack.raw_len(index) != std::mem::size_of::<Slot<T>>() {
        return None;
    }
    // SAFETY: per the contract, the block was made by `new_slot` with T.
    unsafe { slot_from_address(stack.userdata_address(index)) }
}

/// The `__gc` of every class of kind `T`, over the kind's live table.
pub(crate) fn finalizer<T: 'static>(lua: &Lua, live: Table) -> Result<Function> {
    // SAFETY: pushes a C closure over the one argument (the live table); it owns
    // nothing, so an allocation error skips no destructor.
    unsafe {
        lua.exec_raw::<Function>(live, |state| {
            ffi::lua_pushcclosure(state, finalize::<T>, 1);
        })
    }
}

/// `__gc` of a socket object; upvalue 1 is the kind's live table.
unsafe extern "C-unwind" fn finalize<T>(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua as __gc with the object at index 1. The slot is dropped
    // only if the live table maps this very userdata to this address, i.e. it was made
    // by `new_slot` with a Slot<T>.
    unsafe {
        let stack = Stack::new(state);
        let address = stack.userdata_address(1);
        if address.is_null() || stack.raw_get_address(Stack::upvalue(1), 1) != address {
            return 0;
        }
        let slot = &*address.cast_const().cast::<Slot<T>>();
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(mut value) = slot.value.try_borrow_mut() {
                value.take();
            }
        }));
    }
    0
}
