//! The protocol code of LuaSocket's HTTP, FTP and SMTP clients, sans-I/O, and blocking
//! Rust drivers over it.
//!
//! [`http`] is an HTTP/1.1 engine (request heads, response parsing with limits, chunked
//! bodies, URLs, redirects, the keep-alive pool key); [`ftp`], [`smtp`] and [`reply`]
//! parse server replies and format what goes on the wire. None of them touches a
//! socket: the Lua modules `socket.http`, `socket.ftp`, `socket.smtp` and their
//! `copas.*` twins (in crates/copas-lua) read and write the sockets, so a Copas thread
//! yields while it waits, and call in here.
//!
//! [`blocking`] is for Rust programs: the same code driven over luasocket-core sockets
//! (TLS through copas-tls), `blocking::http::get` and `request`,
//! `blocking::smtp::send` / `send_message` (a `lettre::Message`) and
//! `blocking::ftp::Client`; [`task`] has the same
//! drivers as `async` functions for copas-sched tasks. Not for servers.
//!
//! ```
//! use copas_clients::reply::ReplyParser;
//! let mut parser = ReplyParser::new();
//! assert!(parser.push_line(b"220-hello").unwrap().is_none());
//! let reply = parser.push_line(b"220 ready").unwrap().unwrap();
//! assert_eq!(reply.code, 220);
//! assert_eq!(reply.text, b"220-hello\n220 ready");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod blocking;
pub mod error;
pub mod ftp;
pub mod http;
pub mod reply;
pub mod smtp;
pub mod task;

pub use error::Error;
