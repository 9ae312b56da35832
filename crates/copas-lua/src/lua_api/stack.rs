//! Reading arguments and pushing results in a running C function.

use std::ffi::c_int;

use mlua::ffi;

/// The raw Lua state, for the signatures of C functions.
pub(crate) type LuaState = ffi::lua_State;

/// A C function as Lua calls it.
pub(crate) type CFunction = unsafe extern "C-unwind" fn(*mut LuaState) -> c_int;

/// The type of a stack value, as far as our C functions tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// Past the arguments given.
    None,
    /// An explicit nil.
    Nil,
    /// A number (integer or float).
    Number,
    /// A string.
    String,
    /// A table.
    Table,
    /// A full userdata.
    UserData,
    /// A function (Lua or C).
    Function,
    /// Anything else (boolean, thread, light userdata).
    Other,
}

/// The stack of a C function that Lua is running.
///
/// Indices are small positive constants (arguments) or upvalue indices: a C function
/// has `LUA_MINSTACK` (20) acceptable slots, so reading any of them is defined, and
/// pushing up to a few values needs no `lua_checkstack`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stack {
    state: *mut LuaState,
}

impl Stack {
    /// # Safety
    /// `state` is the state of a C function Lua is running now; the `Stack` is used only
    /// during that call.
    pub(crate) unsafe fn new(state: *mut LuaState) -> Self {
        Stack { state }
    }

    /// The raw state, for the other wrappers of this module.
    pub(super) fn state(self) -> *mut LuaState {
        self.state
    }

    /// The pseudo-index of upvalue `n` (from 1).
    pub(crate) fn upvalue(n: c_int) -> c_int {
        ffi::lua_upvalueindex(n)
    }

    /// The name of the type of the value at `index`, as `type()` gives it.
    pub(crate) fn type_name(self, index: c_int) -> &'static [u8] {
        // SAFETY: lua_typename returns one of Lua's static, NUL-terminated names and
        // never raises.
        unsafe {
            let name = ffi::lua_typename(self.state(), ffi::lua_type(self.state(), index));
            std::ffi::CStr::from_ptr(name).to_bytes()
        }
    }

    /// The type of the value at `index`.
    pub(crate) fn kind(self, index: c_int) -> ValueKind {
        // SAFETY: lua_type reads an acceptable index and never raises.
        match unsafe { ffi::lua_type(self.state, index) } {
            ffi::LUA_TNONE => ValueKind::None,
            ffi::LUA_TNIL => ValueKind::Nil,
            ffi::LUA_TNUMBER => ValueKind::Number,
            ffi::LUA_TSTRING => ValueKind::String,
            ffi::LUA_TTABLE => ValueKind::Table,
            ffi::LUA_TUSERDATA => ValueKind::UserData,
            ffi::LUA_TFUNCTION => ValueKind::Function,
            _ => ValueKind::Other,
        }
    }

    /// The number at `index` (0 for a value that is not a number or numeric string).
    pub(crate) fn number(self, index: c_int) -> f64 {
        // SAFETY: lua_tonumber converts without changing the stack and never raises.
        unsafe { ffi::lua_tonumber(self.state, index) }
    }

    /// The integer at `index` (0 for a value that is not a number).
    pub(crate) fn integer(self, index: c_int) -> i64 {
        // SAFETY: as for `number`.
        unsafe { ffi::lua_tointeger(self.state, index) }
    }

    /// Whether the value at `index` is true for Lua (neither nil nor false).
    pub(crate) fn boolean(self, index: c_int) -> bool {
        // SAFETY: lua_toboolean never raises.
        unsafe { ffi::lua_toboolean(self.state, index) != 0 }
    }

    /// A number argument: `Ok(None)` for nil or none, `Err(())` for another type.
    pub(crate) fn optional_number(self, index: c_int) -> Result<Option<f64>, ()> {
        match self.kind(index) {
            ValueKind::None | ValueKind::Nil => Ok(None),
            ValueKind::Number => Ok(Some(self.number(index))),
            _ => Err(()),
        }
    }

    /// The bytes of the string at `index`; `None` if it is not a string (numbers are
    /// not converted: that would change the value on the stack).
    ///
    /// # Safety
    /// The slice is valid while the string stays at `index`: the caller chooses `'a`
    /// no longer than that.
    pub(crate) unsafe fn bytes<'a>(self, index: c_int) -> Option<&'a [u8]> {
        if self.kind(index) != ValueKind::String {
            return None;
        }
        let mut len = 0usize;
        // SAFETY: lua_tolstring on a string neither converts nor raises; Lua keeps the
        // bytes while the string is on the stack (the caller's contract).
        unsafe {
            let pointer = ffi::lua_tolstring(self.state, index, &mut len);
            Some(std::slice::from_raw_parts(pointer.cast::<u8>(), len))
        }
    }

    /// The address of the userdata (full or light) at `index`, or null.
    pub(crate) fn userdata_address(self, index: c_int) -> *mut std::ffi::c_void {
        // SAFETY: lua_touserdata never raises.
        unsafe { ffi::lua_touserdata(self.state, index) }
    }

    /// The address of the metatable of the value at `index` (an absolute index), or
    /// null if it has none: what the value's class is known by.
    pub(crate) fn metatable_address(self, index: c_int) -> *const std::ffi::c_void {
        // SAFETY: one free slot (see the type's doc) for the metatable, popped again;
        // lua_getmetatable, lua_topointer and lua_settop never raise.
        unsafe {
            if ffi::lua_getmetatable(self.state, index) == 0 {
                return std::ptr::null();
            }
            let address = ffi::lua_topointer(self.state, -1);
            ffi::lua_settop(self.state, -2);
            address
        }
    }

    /// The size of the block of the full userdata at `index` (0 for other values but
    /// strings and tables, whose length it is).
    pub(crate) fn raw_len(self, index: c_int) -> usize {
        // SAFETY: lua_rawlen (lua_objlen on 5.1) reads without metamethods and never
        // raises.
        unsafe { ffi::lua_rawlen(self.state, index) }
    }

    /// `table[key]` without metamethods as the address of a light userdata (null for
    /// anything else); `table` is an absolute or upvalue index, `key` absolute.
    pub(crate) fn raw_get_address(self, table: c_int, key: c_int) -> *mut std::ffi::c_void {
        // SAFETY: one free slot is pushed and popped again; lua_rawget does not raise
        // (no metamethods), and a pushed value does not move absolute or upvalue indices.
        unsafe {
            ffi::lua_pushvalue(self.state, key);
            ffi::lua_rawget(self.state, table);
            let address = ffi::lua_touserdata(self.state, -1);
            ffi::lua_settop(self.state, -2);
            address
        }
    }

    /// Pushes `table[stack[key]]` without metamethods; `table` is an absolute index,
    /// `key` an absolute or upvalue index.
    #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
    pub(crate) fn push_raw_get(self, table: c_int, key: c_int) {
        // SAFETY: two free slots (see the type's doc), the key's taken by the value;
        // lua_rawget does not raise (no metamethods).
        unsafe {
            ffi::lua_pushvalue(self.state, key);
            ffi::lua_rawget(self.state, table);
        }
    }

    /// Sets the stack top (drops values above it, fills with nil below it).
    pub(crate) fn set_top(self, top: c_int) {
        // SAFETY: tops used here are within the acceptable slots; never raises.
        unsafe { ffi::lua_settop(self.state, top) }
    }

    /// Pushes a copy of the value at `index`.
    pub(crate) fn push_value(self, index: c_int) {
        // SAFETY: a free slot is guaranteed (see the type's doc); never raises.
        unsafe { ffi::lua_pushvalue(self.state, index) }
    }

    /// Pushes nil.
    pub(crate) fn push_nil(self) {
        // SAFETY: as for `push_value`.
        unsafe { ffi::lua_pushnil(self.state) }
    }

    /// Pushes a boolean.
    pub(crate) fn push_boolean(self, value: bool) {
        // SAFETY: as for `push_value`.
        unsafe { ffi::lua_pushboolean(self.state, c_int::from(value)) }
    }

    /// Pushes a float.
    pub(crate) fn push_number(self, value: f64) {
        // SAFETY: as for `push_value`.
        unsafe { ffi::lua_pushnumber(self.state, value) }
    }

    /// Pushes an integer.
    pub(crate) fn push_integer(self, value: i64) {
        // SAFETY: as for `push_value`.
        unsafe { ffi::lua_pushinteger(self.state, value as ffi::lua_Integer) }
    }

    /// Pushes a copy of `bytes` as a string.
    ///
    /// # Safety
    /// May raise a memory error: nothing that needs dropping may be alive in the Rust
    /// frames of this C function.
    pub(crate) unsafe fn push_bytes(self, bytes: &[u8]) {
        // SAFETY: per the contract.
        unsafe { ffi::lua_pushlstring(self.state, bytes.as_ptr().cast(), bytes.len()) };
    }

    /// `table[key] = value` without metamethods, popping the key and value pushed last.
    ///
    /// # Safety
    /// As for [`push_bytes`](Self::push_bytes) (a table may grow); `table` is a table
    /// given as an absolute or upvalue index.
    pub(crate) unsafe fn raw_set(self, table: c_int) {
        // SAFETY: per the contract.
        unsafe { ffi::lua_rawset(self.state, table) }
    }

    /// `table[n] = integer` without metamethods.
    ///
    /// # Safety
    /// As for [`raw_set`](Self::raw_set).
    pub(crate) unsafe fn raw_set_integer(self, table: c_int, n: i64, value: i64) {
        // SAFETY: per the contract; one free slot for the value.
        unsafe {
            ffi::lua_pushinteger(self.state, value as ffi::lua_Integer);
            ffi::lua_rawseti(self.state, table, n as _);
        }
    }

    /// `lua_next` on the table at `table`: pops a key, pushes the next key and value.
    ///
    /// # Safety
    /// The key on top is nil or a key of the table; `table` is absolute or an upvalue.
    pub(crate) unsafe fn next(self, table: c_int) -> bool {
        // SAFETY: per the contract, lua_next does not raise.
        unsafe { ffi::lua_next(self.state, table) != 0 }
    }

    /// Raises `message` as a Lua error (a plain string, as C libraries raise them).
    /// Never returns.
    ///
    /// # Safety
    /// Nothing that needs dropping may be alive in the Rust frames of this C function.
    pub(crate) unsafe fn raise(self, message: &[u8]) -> c_int {
        // SAFETY: per the contract.
        unsafe {
            self.push_bytes(message);
            self.raise_top()
        }
    }

    /// Raises the value on top of the stack as a Lua error. Never returns.
    ///
    /// # Safety
    /// As for [`raise`](Self::raise).
    pub(crate) unsafe fn raise_top(self) -> c_int {
        // SAFETY: per the contract.
        unsafe { ffi::lua_error(self.state) }
    }

    /// Yields the running coroutine with no values. (What is left on the stack goes
    /// when the coroutine is resumed: the C function then returns the resume's values.)
    ///
    /// # Safety
    /// Called as the return expression of a C function running inside a coroutine,
    /// with nothing that needs dropping alive.
    pub(crate) unsafe fn yield_nothing(self) -> c_int {
        // SAFETY: per the contract.
        unsafe { ffi::lua_yield(self.state, 0) }
    }
}
