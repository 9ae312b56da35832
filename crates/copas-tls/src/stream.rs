//! A TLS connection driven over a non-blocking [`Transport`].

use luasocket_core::RawSocket;
use std::io::{self, Read, Write};

use rustls::{ClientConnection, Connection, ServerConnection};
use rustls_pki_types::ServerName;

use crate::certificate::PeerCertificate;
use crate::context::{Side, TlsContext};
use crate::names::suite_name;
use crate::transport::{Adapter, FirstBytes, Transport};
use crate::Error;

/// The outcome of an operation that may have to wait for the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// The operation finished with this value.
    Done(T),
    /// Wait until the transport's fd is readable, then call the same operation again.
    WantRead,
    /// Wait until the transport's fd is writable, then call the same operation again.
    WantWrite,
}

impl<T> Status<T> {
    /// The same status, with `f` applied to the value of `Done`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Status<U> {
        match self {
            Status::Done(value) => Status::Done(f(value)),
            Status::WantRead => Status::WantRead,
            Status::WantWrite => Status::WantWrite,
        }
    }
}

/// What was negotiated, for LuaSec's `conn:info()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// `"TLSv1.2"` or `"TLSv1.3"`.
    pub protocol: String,
    /// OpenSSL's name for the suite, e.g. `"TLS_AES_256_GCM_SHA384"`.
    pub cipher: String,
}

/// Plaintext accepted per `write` call; rustls buffers it as TLS records until flushed.
const WRITE_CHUNK: usize = 64 * 1024;

/// A TLS client or server connection over `T`.
///
/// Every operation does as much as the socket allows and then says what it waits for. Pending
/// TLS output is flushed by every operation (and by [`TlsStream::flush`]), so a caller that
/// keeps calling the operation it is in, after waiting as told, never strands data.
#[derive(Debug)]
pub struct TlsStream<T> {
    connection: Connection,
    transport: T,
    close_notify_queued: bool,
    /// A server's first received bytes, while handshaking.
    first: Option<FirstBytes>,
}

impl<T: Transport> TlsStream<T> {
    /// Starts a connection with `context`'s side. `host` is the name a client verifies and
    /// sends as SNI when the parameters named none (LuaSec takes it from the connect call).
    pub fn new(context: &TlsContext, transport: T, host: Option<&str>) -> Result<Self, Error> {
        let connection = match context.side() {
            Side::Client {
                config,
                server_name,
                verifying,
            } => {
                let name = match server_name.as_deref().or(host) {
                    Some(name) => ServerName::try_from(name.to_owned()).map_err(|_| {
                        Error::config("servername", format!("invalid server name '{name}'"))
                    })?,
                    // Without verification a name is only needed for SNI; an IP sends none.
                    None if !verifying => {
                        ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into())
                    }
                    None => {
                        return Err(Error::config(
                            "servername",
                            "no server name to verify the certificate against",
                        ))
                    }
                };
                Connection::Client(
                    ClientConnection::new(config.clone(), name).map_err(Error::from)?,
                )
            }
            Side::Server(config) => {
                Connection::Server(ServerConnection::new(config.clone()).map_err(Error::from)?)
            }
        };
        let first = matches!(connection, Connection::Server(_)).then(FirstBytes::default);
        Ok(Self {
            connection,
            transport,
            close_notify_queued: false,
            first,
        })
    }

    /// A stream over a connection started elsewhere ([`crate::TlsAccept`]), which has
    /// looked at the first bytes already.
    pub(crate) fn from_parts(connection: Connection, transport: T) -> Self {
        Self {
            connection,
            transport,
            close_notify_queued: false,
            first: None,
        }
    }

    /// Drives the handshake; `Done(())` once it has completed and its last flight is sent.
    pub fn handshake(&mut self) -> Result<Status<()>, Error> {
        loop {
            if self.connection.wants_write() {
                if self.write_tls()? {
                    continue;
                }
                return Ok(Status::WantWrite);
            }
            if !self.connection.is_handshaking() {
                return Ok(Status::Done(()));
            }
            match self.read_tls()? {
                Some(0) => return Err(Error::EofInHandshake),
                Some(_) => {}
                None => return Ok(Status::WantRead),
            }
        }
    }

    /// Reads plaintext. `Done(0)` means the peer closed with close_notify; an end of stream
    /// without it is [`Error::Closed`].
    pub fn read(&mut self, buf: &mut [u8]) -> Result<Status<usize>, Error> {
        loop {
            // Pending output goes first, but a socket that cannot take it must not stop us
            // reading: the peer may itself be blocked until we drain what it sent.
            self.flush()?;
            match self.connection.reader().read(buf) {
                Ok(n) => return Ok(Status::Done(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(Error::ClosedWithoutNotify)
                }
                Err(e) => return Err(e.into()),
            }
            if self.read_tls()?.is_none() {
                return Ok(if self.connection.wants_write() {
                    Status::WantWrite
                } else {
                    Status::WantRead
                });
            }
        }
    }

    /// Writes plaintext; `Done(n)` says how much of `buf` was taken. Taken data may still sit
    /// in TLS records that the socket could not take yet: the next operation, or
    /// [`TlsStream::flush`], sends it.
    pub fn write(&mut self, buf: &[u8]) -> Result<Status<usize>, Error> {
        if let Status::WantWrite = self.flush()? {
            return Ok(Status::WantWrite);
        }
        let chunk = &buf[..buf.len().min(WRITE_CHUNK)];
        let taken = self.connection.writer().write(chunk)?;
        self.flush()?;
        Ok(Status::Done(taken))
    }

    /// Sends all pending TLS output.
    pub fn flush(&mut self) -> Result<Status<()>, Error> {
        while self.connection.wants_write() {
            if !self.write_tls()? {
                return Ok(Status::WantWrite);
            }
        }
        Ok(Status::Done(()))
    }

    /// Sends close_notify (once) and flushes it. The transport stays open: closing it is the
    /// caller's business, as with LuaSec's `conn:close()` closing the socket after this.
    pub fn close_notify(&mut self) -> Result<Status<()>, Error> {
        if !self.close_notify_queued {
            self.connection.send_close_notify();
            self.close_notify_queued = true;
        }
        self.flush()
    }

    /// The peer's certificate chain, leaf first (empty before the handshake, or on a server
    /// whose client sent none).
    pub fn peer_certificates(&self) -> Result<Vec<PeerCertificate>, Error> {
        self.connection
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|der| PeerCertificate::from_der(der))
            .collect()
    }

    /// The ALPN protocol both sides agreed on.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.connection.alpn_protocol()
    }

    /// Server side: the name the client asked for with SNI.
    pub fn sni(&self) -> Option<&str> {
        match &self.connection {
            Connection::Server(server) => server.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// Protocol version and suite, once negotiated.
    pub fn info(&self) -> Option<SessionInfo> {
        let protocol = match self.connection.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            other => format!("{other:?}"),
        };
        let cipher = suite_name(self.connection.negotiated_cipher_suite()?.suite());
        Some(SessionInfo { protocol, cipher })
    }

    /// True when decrypted data is waiting to be read (LuaSec's `dirty()`): `select` must
    /// not wait on the socket for it.
    pub fn has_plaintext(&mut self) -> bool {
        use std::io::BufRead;
        matches!(self.connection.reader().fill_buf(), Ok(chunk) if !chunk.is_empty())
    }

    /// True until the handshake completed.
    pub fn is_handshaking(&self) -> bool {
        self.connection.is_handshaking()
    }

    /// The transport's descriptor.
    pub fn fd(&self) -> Option<RawSocket> {
        self.transport.fd()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, for what the stream does not do (socket options, ...).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back, dropping any TLS state.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// One write to the transport; `false` when it would block.
    fn write_tls(&mut self) -> Result<bool, Error> {
        loop {
            match self.connection.write_tls(&mut Adapter(&mut self.transport)) {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One read from the transport, processed; `None` when it would block.
    fn read_tls(&mut self) -> Result<Option<usize>, Error> {
        if !self.connection.is_handshaking() {
            self.first = None;
        }
        let n = loop {
            let read = match &mut self.first {
                Some(first) => self
                    .connection
                    .read_tls(&mut first.reader(&mut self.transport)),
                None => self.connection.read_tls(&mut Adapter(&mut self.transport)),
            };
            match read {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        };
        if let Err(error) = self.connection.process_new_packets() {
            // Tell the peer why (rustls queued an alert); it may not be able to take it.
            let _ = self.write_tls();
            let error = Error::from(error);
            return Err(match &self.first {
                Some(first) => first.explain(error),
                None => error,
            });
        }
        Ok(Some(n))
    }
}
