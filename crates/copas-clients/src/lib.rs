//! HTTP(S), FTP and SMTP clients on the copas-rs scheduler, as sans-I/O protocol code.
//!
//! [`http`] is an HTTP/1.1 engine (request heads, response parsing with limits, chunked
//! bodies, URLs, redirects, the keep-alive pool key); [`ftp`], [`smtp`] and [`reply`]
//! parse server replies and format what goes on the wire. The Lua modules
//! `socket.http`, `socket.ftp`, `socket.smtp` and their `copas.*` twins (in
//! crates/copas-lua) read and write the sockets, so a Copas thread yields while it
//! waits, and call in here. Nothing here touches a socket or Lua; not for servers.
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

pub mod error;
pub mod ftp;
pub mod http;
pub mod reply;
pub mod smtp;

pub use error::Error;
