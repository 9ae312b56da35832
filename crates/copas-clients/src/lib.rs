//! HTTP(S), FTP and SMTP clients on the copas-rs scheduler (issue #5).
//!
//! [`http`] is a sans-I/O HTTP/1.1 engine; the Lua modules `socket.http` and
//! `copas.http` in crates/copas-lua drive it over their own sockets.

pub mod http;
