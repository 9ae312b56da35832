//! Blocking drivers: the protocol code of this crate run over luasocket-core sockets,
//! with TLS from copas-tls, for Rust programs that want a request done and nothing else.
//!
//! [`http`] fetches URLs (`http` and `https`), streams request and response bodies and
//! follows redirects; [`smtp`] sends mail, a [`lettre`] message included (with the
//! default `lettre` feature); [`ftp`] logs in, uploads, downloads and lists over one
//! control connection. Each call waits on its own sockets with `poll(2)`, up to
//! its timeout; nothing here needs a scheduler. Inside a Copas loop use the Lua modules
//! instead (`copas.http`, `copas.smtp`, `copas.ftp`), which share this crate's protocol code and
//! yield while they wait.

pub(crate) mod conn;
pub mod ftp;
pub mod http;
pub mod smtp;

pub use conn::Connection;
