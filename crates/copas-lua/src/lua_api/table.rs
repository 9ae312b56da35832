//! Tables of strings built on the raw stack.

use mlua::{ffi, Lua, Result, Table};

/// A table mapping each name to its value, built in one protected call: through
/// mlua's `Table` each field costs two protected calls and registry references,
/// which made HTTP header tables the largest cost of a small request.
pub(crate) fn string_map<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    lua: &Lua,
    entries: &[(K, V)],
) -> Result<Table> {
    let size = std::ffi::c_int::try_from(entries.len()).unwrap_or(std::ffi::c_int::MAX);
    // SAFETY: exec_raw runs the closure protected; it only borrows `entries` (owned by
    // the caller), so a memory error raised by a push skips no destructor. It pushes
    // one table plus two values at a time, which fits the slots exec_raw checks.
    unsafe {
        lua.exec_raw((), |state| {
            ffi::lua_createtable(state, 0, size);
            for (name, value) in entries {
                let (name, value) = (name.as_ref(), value.as_ref());
                ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
                ffi::lua_pushlstring(state, value.as_ptr().cast(), value.len());
                ffi::lua_rawset(state, -3);
            }
        })
    }
}
