//! TLS for copas-rs: rustls connections driven over non-blocking sockets, configured with
//! LuaSec's parameters.
//!
//! This crate is the Rust core under the `ssl` Lua module and `copas.dohandshake`. It does no
//! waiting and no I/O scheduling: every operation on a [`TlsStream`] does what the socket
//! allows and returns a [`Status`] telling the caller (the Copas scheduler) whether to wait for
//! the descriptor to become readable or writable. It is not a general TLS library: it offers
//! what LuaSec users configure (see docs/tls.md), on rustls with the ring provider, TLS 1.2 and
//! 1.3 only.
//!
//! Clients verify the certificate chain and the host name by default, against `cafile` /
//! `capath` or, without them, the Mozilla roots from webpki-roots. `verify = "none"` on a
//! client accepts any certificate: only for tests and for peers authenticated some other way.
//!
//! Streams run over any [`Transport`]: std's `TcpStream` and `UnixStream`, and
//! luasocket-core's `TcpSocket` (TCP or Unix stream). `examples/tls_client.rs` is a
//! client over a `TcpSocket` in 25 lines.
//!
//! [`TlsSocket`] builds LuaSec's connection on a stream: LuaSocket's receive patterns and
//! partial results, statistics, `want()`, and blocking calls that wait up to a timeout.
//!
//! ```no_run
//! use copas_tls::{Status, TlsContext, TlsParams, TlsStream};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let context = TlsContext::new(&TlsParams::default())?; // a verifying client
//! let socket = std::net::TcpStream::connect("example.org:443")?;
//! socket.set_nonblocking(true)?;
//! let mut tls = TlsStream::new(&context, socket, Some("example.org"))?;
//! loop {
//!     match tls.handshake()? {
//!         Status::Done(()) => break,
//!         Status::WantRead | Status::WantWrite => { /* wait on tls.fd(), then retry */ }
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod accept;
mod certificate;
mod context;
mod error;
mod names;
mod params;
mod socket;
mod stream;
mod transport;
mod trust;

pub use accept::TlsAccept;
pub use certificate::{NameEntry, PeerCertificate, PublicKeyInfo};
pub use context::TlsContext;
pub use error::{Error, VerifyReason};
pub use params::{Mode, Protocol, TlsParams, Verify};
/// rustls' account of a refused certificate, carried by [`Error::CertificateVerify`].
pub use rustls::CertificateError;
pub use socket::{AlpnChooser, EndOfStream, Step, TlsSocket};
pub use stream::{SessionInfo, Status, TlsStream};
pub use transport::Transport;
