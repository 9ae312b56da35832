//! A server handshake that reads the ClientHello before choosing its configuration, so that
//! the application can pick the ALPN protocol (LuaSec's `alpn` callback) and the context
//! by the server name the client asked for (LuaSec's server `sni`).

use std::io;
use std::sync::Arc;

use rustls::server::Acceptor;
use rustls::{Connection, ServerConfig};

use crate::context::{Side, TlsContext};
use crate::stream::{Status, TlsStream};
use crate::transport::{Adapter, FirstBytes, Transport};
use crate::Error;

/// The start of a server connection, up to the ClientHello.
///
/// [`TlsAccept::poll`] reads until the ClientHello is complete, asks `choose` for the ALPN
/// protocol among those the client offered, and gives back a [`TlsStream`] whose handshake
/// continues with [`TlsStream::handshake`].
pub struct TlsAccept<T> {
    acceptor: Acceptor,
    config: Arc<ServerConfig>,
    /// Configurations by server name, chosen from the ClientHello's SNI.
    names: Vec<(String, Arc<ServerConfig>)>,
    /// Refuse a server name that is not in `names`.
    strict: bool,
    transport: Option<T>,
    first: FirstBytes,
}

/// A fatal `unrecognized_name` alert as a plaintext TLS 1.2 record: what a server sends
/// before any key exchange when it refuses the name (rustls' acceptor has no call for
/// refusing a ClientHello it parsed).
const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [21, 3, 3, 0, 2, 2, 112];

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
            names: Vec::new(),
            strict: false,
            transport: Some(transport),
            first: FirstBytes::default(),
        })
    }

    /// Serves a client that asks for one of `names` (by SNI, compared without case) with
    /// that name's context; another name gets the context given to [`TlsAccept::new`],
    /// or with `strict` an `unrecognized_name` alert. A client that sends no name gets the
    /// context given to [`TlsAccept::new`]. Every context must be a server's.
    pub fn with_server_names(
        mut self,
        names: &[(String, TlsContext)],
        strict: bool,
    ) -> Result<Self, Error> {
        for (name, context) in names {
            let Side::Server(config) = context.side() else {
                return Err(Error::config(
                    "sni",
                    format!("the context for '{name}' is not a server's"),
                ));
            };
            self.names.push((name.clone(), config.clone()));
        }
        self.strict = strict;
        Ok(self)
    }

    /// Reads the ClientHello and chooses the configuration by its server name (see
    /// [`TlsAccept::with_server_names`]). `choose`, if given, gets the client's ALPN
    /// protocols (only when it offered some) and returns the one to use, or `None` for
    /// none; without it the configuration's own ALPN list applies.
    pub fn poll(
        &mut self,
        choose: Option<impl FnOnce(&[&[u8]]) -> Option<Vec<u8>>>,
    ) -> Result<Status<TlsStream<T>>, Error> {
        let Some(transport) = self.transport.as_mut() else {
            return Err(Error::Closed);
        };
        let accepted = loop {
            match self
                .acceptor
                .read_tls(&mut self.first.reader(&mut *transport))
            {
                Ok(0) => return Err(Error::EofInHandshake),
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
                    return Err(self.first.explain(error.into()));
                }
            }
        };
        let hello = accepted.client_hello();
        let named = hello.server_name().map(|sent| {
            let found = self
                .names
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(sent));
            (sent.to_owned(), found.map(|(_, config)| config.clone()))
        });
        let mut config = match named {
            Some((_, Some(config))) => config,
            Some((sent, None)) if self.strict => {
                let _ = transport.write(&UNRECOGNIZED_NAME_ALERT);
                return Err(Error::UnrecognizedName(sent));
            }
            _ => self.config.clone(),
        };
        if let Some(choose) = choose {
            let offered: Option<Vec<&[u8]>> = hello.alpn().map(Iterator::collect);
            let chosen = offered.and_then(|list| choose(&list));
            Arc::make_mut(&mut config).alpn_protocols = chosen.into_iter().collect();
        }
        match accepted.into_connection(config) {
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
