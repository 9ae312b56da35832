//! The drivers as copas-sched tasks: `async` functions to await inside a
//! [`copas_sched::future::AsyncTask`], so other tasks run while they wait. They share
//! the protocol code and the request logic with [`crate::blocking`]; only the waiting
//! differs.
//!
//! Name resolution still blocks the loop for its length (pass addresses where that
//! matters), and request bodies are read from their `Read` synchronously between sends.

mod conn;
pub mod ftp;
pub mod http;
pub mod smtp;
