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
//! use luasocket_core::{Family, ReceivePattern, TcpSocket, TimeoutMode};
//!
//! let mut server = TcpSocket::new(Family::Inet).unwrap();
//! server.bind("127.0.0.1", 0).unwrap();
//! server.listen(32).unwrap();
//! let port = server.local_addr().unwrap().port();
//!
//! let mut client = TcpSocket::new(Family::Unspec).unwrap();
//! client.connect("127.0.0.1", port).unwrap();
//! client.send(b"hello\r\n");
//!
//! let mut peer = server.accept().unwrap();
//! peer.timeout_mut().set(Some(1.0), TimeoutMode::Block);
//! let mut line = Vec::new();
//! peer.receive(ReceivePattern::Line, &mut line).unwrap();
//! assert_eq!(line, b"hello");
//! ```

mod addr;
mod buffer;
pub mod dns;
mod error;
pub mod ltn12;
pub mod mime;
pub mod options;
mod pattern;
pub mod select;
mod tcp;
pub mod time;
mod timeout;
mod udp;
mod wait;

pub use addr::{port_number, resolve, Family};
pub use error::{Error, Result};
pub use options::OptionValue;
pub use pattern::ReceivePattern;
pub use select::{select, Ready};
pub use tcp::{Received, Stats, TcpSocket, TcpState};
pub use timeout::{Deadline, Timeout, TimeoutMode};
pub use udp::{UdpSocket, UdpState, DATAGRAM_SIZE, MAX_DATAGRAM};
pub use wait::{wait_fd, Direction};
