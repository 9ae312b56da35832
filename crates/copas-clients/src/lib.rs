//! HTTP(S), FTP and SMTP clients on the copas-rs scheduler (issue #5).
//!
//! The FTP and SMTP parts are sans-I/O protocol code: the Lua modules `socket.ftp`,
//! `socket.smtp` and their `copas.*` twins read and write the sockets (so a Copas
//! thread yields while it waits) and call in here to parse replies and to format
//! what goes on the wire. Nothing here touches a socket or Lua.
//!
//! ```
//! use copas_clients::reply::ReplyParser;
//! let mut parser = ReplyParser::new();
//! assert!(parser.push_line(b"220-hello").unwrap().is_none());
//! let reply = parser.push_line(b"220 ready").unwrap().unwrap();
//! assert_eq!(reply.code, 220);
//! assert_eq!(reply.text, b"220-hello\n220 ready");
//! ```

pub mod error;
pub mod ftp;
pub mod reply;
pub mod smtp;

pub use error::Error;
