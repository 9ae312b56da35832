//! A server handshake that reads the ClientHello before choosing its configuration, so that
//! the application can pick the ALPN protocol (LuaSec's `alpn` callback).

use std::io;
use std::sync::Arc;

use rustls::server::Acceptor;
use rustls::{Connection, ServerConfig};

use crate::context::{Side, TlsContext};
use crate::stream::{Status, TlsStream};
use crate::transport::{Adapter, Transport};
use crate::Error;

/// The start of a server connection, up to the ClientHello.
///
/// [`TlsAccept::poll`] reads until the ClientHello is complete, asks `choose` for the ALPN
/// protocol among those the client offered, and gives back a [`TlsStream`] whose handshake
/// continues with [`TlsStream::handshake`].
pub struct TlsAccept<T> {
    acceptor: Acceptor,
    config: Arc<ServerConfig>,
    transport: Option<T>,
}

impl<T> std::fmt::Debug for TlsAccept<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAccept")
            .field("accepted", &self.transport.is_none())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> TlsAccept<T> {
    /// `context` must be a server's.
    pub fn new(context: &TlsContext, transport: T) -> Result<Self, Error> {
        let Side::Server(config) = context.side() else {
            return Err(Error::config(
                "mode",
                "an accepting handshake needs a server context",
            ));
        };
        Ok(Self {
            acceptor: Acceptor::default(),
            config: config.clone(),
            transport: Some(transport),
        })
    }

    /// Reads the ClientHello. `choose` gets the client's ALPN protocols (only when it offered
    /// some) and returns the one to use, or `None` for none.
    pub fn poll(
        &mut self,
        choose: impl FnOnce(&[&[u8]]) -> Option<Vec<u8>>,
    ) -> Result<Status<TlsStream<T>>, Error> {
        let Some(transport) = self.transport.as_mut() else {
            return Err(Error::Closed);
        };
        let accepted = loop {
            match self.acceptor.read_tls(&mut Adapter(&mut *transport)) {
                Ok(0) => return Err(Error::ClosedWithoutNotify),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Status::WantRead),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            match self.acceptor.accept() {
                Ok(Some(accepted)) => break accepted,
                Ok(None) => {}
                Err((error, mut alert)) => {
                    // Tell the client why; it may not be able to take it.
                    let _ = alert.write(&mut Adapter(&mut *transport));
                    return Err(error.into());
                }
            }
        };
        let offered: Option<Vec<&[u8]>> = accepted.client_hello().alpn().map(Iterator::collect);
        let mut config = (*self.config).clone();
        config.alpn_protocols = offered.and_then(|list| choose(&list)).into_iter().collect();
        match accepted.into_connection(Arc::new(config)) {
            Ok(connection) => {
                let transport = self.transport.take().ok_or(Error::Closed)?;
                Ok(Status::Done(TlsStream::from_parts(
                    Connection::Server(connection),
                    transport,
                )))
            }
            Err((error, mut alert)) => {
                let _ = alert.write(&mut Adapter(&mut *transport));
                Err(error.into())
            }
        }
    }

    /// The transport, until [`TlsAccept::poll`] handed it to the stream.
    pub fn transport(&self) -> Option<&T> {
        self.transport.as_ref()
    }
}
