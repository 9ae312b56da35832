//! The one place in copas-lua that calls Lua's C API directly (`mlua::ffi`), the way
//! mlua keeps its own raw calls in `mlua-sys` and `src/util/`.
//!
//! The rest of the crate uses mlua's safe API, and where that costs too much per call
//! (the Copas hot path, socket objects with LuaSocket's metatables), the small
//! wrappers here. Each wrapper states what it may raise: a Lua error is a `longjmp`
//! (or an unwind through C), which must not pass a Rust frame that still owns
//! something, so a C function does its Rust work first, with panics caught
//! ([`closure::guarded`]), drops everything, and only then pushes results or raises
//! through [`Stack::raise`], the one raising path.
//!
//! - [`stack`]: reading arguments and pushing results in a running C function.
//! - [`closure`]: C closures over a Rust value owned by a userdata upvalue.
//! - [`coroutine`]: resuming coroutines, yields and calls with continuations.
//! - [`userdata`]: socket objects' userdata with metatables we own.
//! - [`argerror`]: `bad argument #n to 'f' (...)` raised by `luaL_argerror` itself.
//! - [`table`]: tables of strings built on the raw stack.
//! - [`gc`]: collector steps for memory held outside Lua.
//! - `entry`: the loadable module's `luaopen_*` functions (with the `module` feature).

pub(crate) mod argerror;
pub(crate) mod closure;
pub(crate) mod coroutine;
#[cfg(feature = "module")]
pub(crate) mod entry;
pub(crate) mod gc;
pub(crate) mod stack;
pub(crate) mod table;
pub(crate) mod userdata;

/// C's types as C functions and userdata addresses use them.
pub(crate) use std::ffi::{c_int, c_void};

pub(crate) use closure::{closures, guarded, shared};
pub(crate) use stack::{LuaState, Stack, ValueKind};
pub(crate) use userdata::Slot;

/// Lua's alignment guarantee for userdata memory on the platforms we build for.
const USERDATA_ALIGN: usize = 8;
