//! The Copas dispatcher, in Rust and without Lua.
