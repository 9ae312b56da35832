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
//! server.bind("127.0.0.1", "0").unwrap();
//! server.listen(32).unwrap();
//! let (_, port) = server.local_address().unwrap();
//!
//! let mut client = TcpSocket::new(Family::Unspec).unwrap();
//! client.connect("127.0.0.1", &port.to_string()).unwrap();
//! client.send(b"hello\r\n");
//!
//! let mut peer = server.accept().unwrap();
//! peer.timeout_mut().set(Some(1.0), TimeoutMode::Block);
//! let (line, error) = peer.receive_with(ReceivePattern::Line, |bytes| bytes.to_vec());
//! assert_eq!((line.as_slice(), error.is_none()), (&b"hello"[..], true));
//! ```

#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod addr;
mod buffer;
pub mod dns;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ltn12;
pub mod mime;
mod options;
mod pattern;
mod range;
pub mod select;
mod socket;
mod sys;
mod tcp;
pub mod time;
mod timeout;
mod udp;

pub use addr::{numeric_name, unix_address, unix_path, Family, SocketKind};
pub use buffer::{Complete, ReceiveBuffer};
pub use error::{Error, Result};
pub use options::{OptionAccess, OptionValue, SocketOption, ValueKind};
pub use pattern::ReceivePattern;
pub use range::SendRange;
pub use select::{select, Ready};
pub use socket::{share_stream_ports, wait, Interest};
pub use socket2::SockAddr;
pub use sys::{RawSocket, INVALID_SOCKET};
pub use tcp::{Stats, TcpSocket, TcpState};
pub use timeout::{Deadline, Timeout, TimeoutMode};
pub use udp::{UdpSocket, DATAGRAM_SIZE, MAX_DATAGRAM_SIZE};
