//! Sockets with LuaSocket 3.x semantics, in plain Rust.
//!
//! This crate is what `socket.core` is made of, without any Lua: TCP and UDP sockets
//! with LuaSocket's master/client/server states, options, block/total timeouts,
//! receive patterns with LuaSocket's buffering, a `select` with no `FD_SETSIZE` cap,
//! name resolution, wall-clock time and sleep, and ltn12 sources, sinks and filters
//! as traits. Every socket is non-blocking underneath; blocking calls wait with
//! `poll(2)` up to their timeout, so a scheduler can drive the same sockets without
//! blocking by using a zero timeout.
//!
//! It is not a Lua binding (that is `copas-lua`) and not a scheduler (that is
//! `copas-sched`).
//!
//! Errors are one type, [`Error`], whose `Display` is LuaSocket's message.
//!
//! ```
//! use luasocket_core::Error;
//! assert_eq!(Error::Timeout.to_string(), "timeout");
//! ```

mod error;

pub use error::{Error, Result};
