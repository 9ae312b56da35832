//! A TLS connection with LuaSocket's receive patterns, receive buffer, statistics and
//! timeouts: what LuaSec's `SSL:Connection` is, without Lua.
//!
//! Every operation exists as a non-blocking step, which does what the socket allows and
//! returns a [`Step`] saying what it waits for (a scheduler parks the task on the
//! descriptor and calls the step again), and as a blocking call that waits with
//! luasocket-core's `wait` up to the socket's [`Timeout`], as a TCP object's calls do.
//! Received plaintext goes through luasocket-core's [`ReceiveBuffer`], so patterns and
//! partial results are exactly those of a TCP object.

use luasocket_core::RawSocket;
use std::fmt;
use std::io;

use luasocket_core::{
    wait, Complete, Deadline, Interest, ReceiveBuffer, ReceivePattern, Stats, Timeout,
};

use crate::accept::TlsAccept;
use crate::certificate::PeerCertificate;
use crate::context::TlsContext;
use crate::params::Mode;
use crate::stream::{SessionInfo, Status, TlsStream};
use crate::transport::Transport;
use crate::Error;

/// A server's choice of ALPN protocol, asked once the ClientHello is read: given the
/// protocols the client offered, the one to use or `None` for none. An `Err` fails the
/// handshake with [`Error::AlpnChooser`].
pub type AlpnChooser = Box<dyn FnMut(&[&[u8]]) -> Result<Option<Vec<u8>>, String>>;

/// The outcome of one non-blocking step of a [`TlsSocket`].
#[derive(Debug)]
#[must_use]
pub enum Step<T> {
    /// The operation finished.
    Done(T),
    /// Wait until the descriptor is ready for this, then call the same step again.
    Want(Interest),
    /// The operation failed. An error from TLS or from the transport breaks the socket:
    /// every later operation fails with it too.
    Failed(Error),
}

impl<T> Step<T> {
    /// A step that did not finish, as a step of another operation; `None` when done.
    fn pending<U>(self) -> Option<Step<U>> {
        match self {
            Step::Done(_) => None,
            Step::Want(interest) => Some(Step::Want(interest)),
            Step::Failed(error) => Some(Step::Failed(error)),
        }
    }
}

fn step_of<T>(status: Status<T>) -> Step<T> {
    match status {
        Status::Done(value) => Step::Done(value),
        Status::WantRead => Step::Want(Interest::Read),
        Status::WantWrite => Step::Want(Interest::Write),
    }
}

/// How the peer ended its side of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndOfStream {
    /// With a close_notify alert: everything it sent arrived.
    CloseNotify,
    /// The transport ended without one; LuaSec reports it as the end all the same.
    Truncated,
}

/// Where the socket's transport is.
#[derive(Debug)]
enum Link<T> {
    /// Handshake not started: the stream is made at the first step, so that a client's
    /// server name can still be set.
    Fresh(T),
    /// A server with an ALPN chooser, reading the ClientHello.
    Accepting(Box<TlsAccept<T>>),
    Open(Box<TlsStream<T>>),
    Closed,
}

/// A buffered TLS connection over a non-blocking [`Transport`] (a luasocket-core
/// `TcpSocket` in the `ssl` module).
///
/// Receives and sends handshake first when needed. Sent data counts as sent once the
/// transport took all of its records, so a close right after cannot strand it.
pub struct TlsSocket<T> {
    context: TlsContext,
    alpn: Option<AlpnChooser>,
    /// A server's contexts by the name a client asks for, and whether other names are
    /// refused (see [`TlsSocket::set_server_names`]).
    server_names: Option<(Vec<(String, TlsContext)>, bool)>,
    link: Link<T>,
    server_name: Option<String>,
    buffer: ReceiveBuffer,
    timeout: Timeout,
    handshaken: bool,
    end: Option<EndOfStream>,
    /// The error that broke the connection; every later operation reports it.
    broken: Option<Error>,
    /// What the last step waited for (LuaSec's `conn:want()`).
    want: Option<Interest>,
    /// Plaintext bytes handed out by receives and taken by sends.
    stats: Stats,
}

impl<T: fmt::Debug> fmt::Debug for TlsSocket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSocket")
            .field("mode", &self.context.mode())
            .field("link", &self.link)
            .field("alpn_chooser", &self.alpn.is_some())
            .field("handshaken", &self.handshaken)
            .field("end", &self.end)
            .field("broken", &self.broken)
            .field("buffered", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

impl<T: Transport> TlsSocket<T> {
    /// A connection with `context`'s side over a connected, non-blocking `transport`;
    /// nothing is sent before the first step. A server given an `alpn` chooser reads the
    /// ClientHello first and lets it pick the protocol. Timeouts start infinite, as
    /// LuaSec's do.
    pub fn new(context: &TlsContext, transport: T, alpn: Option<AlpnChooser>) -> Self {
        Self {
            context: context.clone(),
            alpn,
            server_names: None,
            link: Link::Fresh(transport),
            server_name: None,
            buffer: ReceiveBuffer::new(),
            timeout: Timeout::INFINITE,
            handshaken: false,
            end: None,
            broken: None,
            want: None,
            stats: Stats::new(),
        }
    }

    /// The configuration the connection was made with.
    pub fn context(&self) -> &TlsContext {
        &self.context
    }

    /// A client's name to send as SNI and verify, unless the context names one; without
    /// either, the peer's address is verified. `false` once the handshake has started.
    pub fn set_server_name(&mut self, name: impl Into<String>) -> bool {
        if !matches!(self.link, Link::Fresh(_)) {
            return false;
        }
        self.server_name = Some(name.into());
        true
    }

    /// A server's contexts by server name (LuaSec's server `sni(names, strict)`): a client
    /// asking for one of `names` is served with its context, another with this
    /// connection's, or with `strict` refused with an `unrecognized_name` alert. `false`
    /// for a client, or once the handshake has started.
    pub fn set_server_names(&mut self, names: Vec<(String, TlsContext)>, strict: bool) -> bool {
        if self.context.mode() != Mode::Server || !matches!(self.link, Link::Fresh(_)) {
            return false;
        }
        self.server_names = Some((names, strict));
        true
    }

    /// The descriptor to wait on, `None` once closed.
    pub fn fd(&self) -> Option<RawSocket> {
        match &self.link {
            Link::Fresh(transport) => transport.fd(),
            Link::Accepting(accept) => accept.transport().and_then(Transport::fd),
            Link::Open(stream) => stream.fd(),
            Link::Closed => None,
        }
    }

    /// The transport, while the connection has one and is not reading a ClientHello.
    pub fn transport_mut(&mut self) -> Option<&mut T> {
        match &mut self.link {
            Link::Fresh(transport) => Some(transport),
            Link::Open(stream) => Some(stream.transport_mut()),
            Link::Accepting(_) | Link::Closed => None,
        }
    }

    /// True once the handshake completed.
    pub fn is_handshaken(&self) -> bool {
        self.handshaken
    }

    /// What the last step waited for; `None` when it finished.
    pub fn want(&self) -> Option<Interest> {
        self.want
    }

    /// How the peer ended the stream, once it did.
    pub fn end_of_stream(&self) -> Option<EndOfStream> {
        self.end
    }

    /// Plaintext byte counts and age.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Mutable statistics (`setstats`).
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// The timeouts of the blocking calls.
    pub fn timeout(&self) -> &Timeout {
        &self.timeout
    }

    /// Changes the timeouts (`settimeout`).
    pub fn timeout_mut(&mut self) -> &mut Timeout {
        &mut self.timeout
    }

    /// True when received plaintext waits, decrypted or in the receive buffer (LuaSec's
    /// `dirty()`): a poller must not wait on the descriptor for it.
    pub fn has_buffered_data(&mut self) -> bool {
        let decrypted = match &mut self.link {
            Link::Open(stream) => stream.has_plaintext(),
            _ => false,
        };
        decrypted || !self.buffer.is_empty()
    }

    /// Sends close_notify if the transport takes it at once (never after a failure), then
    /// drops the transport, closing its descriptor, and what was buffered.
    pub fn close(&mut self) {
        if let Link::Open(stream) = &mut self.link {
            if self.handshaken && self.broken.is_none() {
                let _ = stream.close_notify();
            }
        }
        self.link = Link::Closed;
        self.buffer = ReceiveBuffer::new();
    }

    /// Drives the handshake.
    pub fn handshake_step(&mut self) -> Step<()> {
        let step = self.handshake_once();
        self.record(step)
    }

    /// Reads until `pattern` is complete in the receive buffer (handshaking first if
    /// needed); `Done` says where, for [`take`](Self::take). An incomplete pattern stays
    /// buffered across `Want`; after a failure, [`take_partial`](Self::take_partial)
    /// gives LuaSocket's partial result. The end of the stream fails with
    /// [`Error::Closed`], except for `All` with data buffered.
    pub fn receive_step(&mut self, pattern: ReceivePattern) -> Step<Complete> {
        let step = self.receive_once(pattern);
        self.record(step)
    }

    /// Takes the bytes of `complete` out of the buffer, handing them to `deliver`.
    pub fn take<R>(&mut self, complete: Complete, deliver: impl FnOnce(&[u8]) -> R) -> R {
        let (result, consumed) = self.buffer.take(complete, deliver);
        self.stats.received = self
            .stats
            .received
            .saturating_add(i64::try_from(consumed).unwrap_or(i64::MAX));
        result
    }

    /// Takes what a failed receive of `pattern` returns as partial data: everything
    /// buffered (at most the count; CRs removed for a line).
    pub fn take_partial<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let partial = self.buffer.partial(pattern);
        self.take(partial, deliver)
    }

    /// Sends `data[*sent..]` (handshaking first if needed), adding to `sent` what the
    /// connection took; `Done` once all of it went out to the transport.
    pub fn send_step(&mut self, data: &[u8], sent: &mut usize) -> Step<()> {
        let step = self.send_once(data, sent);
        self.record(step)
    }

    /// Repeats `step` until it is done, waiting for the descriptor up to `deadline`. With
    /// a zero block timeout it never waits and fails with [`Error::WouldBlock`]; a wait
    /// that runs out fails with [`Error::Timeout`]. Neither breaks the socket.
    pub fn drive<R>(
        &mut self,
        deadline: &Deadline,
        mut step: impl FnMut(&mut Self) -> Step<R>,
    ) -> Result<R, Error> {
        loop {
            match step(self) {
                Step::Done(value) => return Ok(value),
                Step::Failed(error) => return Err(error),
                Step::Want(interest) => {
                    if deadline.is_zero() {
                        return Err(Error::WouldBlock(interest));
                    }
                    let fd = self.fd().ok_or(Error::Closed)?;
                    wait(fd, interest, deadline)?;
                }
            }
        }
    }

    /// Completes the handshake, waiting per the timeouts.
    pub fn handshake(&mut self) -> Result<(), Error> {
        let deadline = self.timeout.start();
        self.drive(&deadline, Self::handshake_step)
    }

    /// Receives `pattern`, waiting per the timeouts. `deliver` is called exactly once:
    /// with the result, or on failure with the partial data. Returns what `deliver`
    /// returned and the error, as luasocket-core's `TcpSocket::receive_with`.
    pub fn receive_with<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> (R, Option<Error>) {
        let deadline = self.timeout.start();
        match self.drive(&deadline, |socket| socket.receive_step(pattern)) {
            Ok(complete) => (self.take(complete, deliver), None),
            Err(error) => (self.take_partial(pattern, deliver), Some(error)),
        }
    }

    /// Sends all of `data`, waiting per the timeouts. Returns how much was taken and the
    /// error that stopped it.
    pub fn send(&mut self, data: &[u8]) -> (usize, Option<Error>) {
        let deadline = self.timeout.start();
        let mut sent = 0;
        let result = self.drive(&deadline, |socket| socket.send_step(data, &mut sent));
        (sent, result.err())
    }

    /// The peer's certificate chain, leaf first; empty before the handshake completed.
    pub fn peer_certificates(&self) -> Result<Vec<PeerCertificate>, Error> {
        match &self.link {
            Link::Open(stream) if self.handshaken => stream.peer_certificates(),
            _ => Ok(Vec::new()),
        }
    }

    /// The ALPN protocol both sides agreed on.
    pub fn alpn(&self) -> Option<&[u8]> {
        match &self.link {
            Link::Open(stream) => stream.alpn(),
            _ => None,
        }
    }

    /// Server side: the name the client asked for with SNI.
    pub fn sni(&self) -> Option<&str> {
        match &self.link {
            Link::Open(stream) => stream.sni(),
            _ => None,
        }
    }

    /// Protocol version and suite, once the handshake completed.
    pub fn info(&self) -> Option<SessionInfo> {
        match &self.link {
            Link::Open(stream) if self.handshaken => stream.info(),
            _ => None,
        }
    }

    /// Notes what `step` waits for, as `want()` reports it.
    fn record<R>(&mut self, step: Step<R>) -> Step<R> {
        match step {
            Step::Done(_) => self.want = None,
            Step::Want(interest) => self.want = Some(interest),
            Step::Failed(_) => {}
        }
        step
    }

    /// Records `error` as what broke the connection.
    fn fail(&mut self, error: Error) -> Error {
        self.broken = Some(error.clone());
        error
    }

    /// The stream, made on first use: a client verifies the name it was given or, without
    /// one, the peer's address.
    fn open_stream(&mut self) -> Result<&mut TlsStream<T>, Error> {
        if let Some(error) = &self.broken {
            return Err(error.clone());
        }
        self.link = match std::mem::replace(&mut self.link, Link::Closed) {
            Link::Fresh(transport) => {
                let host = self
                    .server_name
                    .clone()
                    .or_else(|| match self.context.mode() {
                        Mode::Client => transport.peer_host(),
                        Mode::Server => None,
                    });
                match TlsStream::new(&self.context, transport, host.as_deref()) {
                    Ok(stream) => Link::Open(Box::new(stream)),
                    Err(error) => return Err(self.fail(error)),
                }
            }
            other => other,
        };
        match &mut self.link {
            Link::Open(stream) => Ok(stream),
            _ => Err(Error::Closed),
        }
    }

    /// A server with an ALPN chooser or contexts by server name reads the ClientHello
    /// first, to choose.
    fn accept_step(&mut self) -> Step<()> {
        if let Some(error) = &self.broken {
            return Step::Failed(error.clone());
        }
        if self.alpn.is_none() && self.server_names.is_none() {
            return Step::Done(());
        }
        if let Link::Fresh(_) = self.link {
            if let Link::Fresh(transport) = std::mem::replace(&mut self.link, Link::Closed) {
                let accept =
                    TlsAccept::new(&self.context, transport).and_then(|accept| {
                        match &self.server_names {
                            Some((names, strict)) => accept.with_server_names(names, *strict),
                            None => Ok(accept),
                        }
                    });
                match accept {
                    Ok(accept) => self.link = Link::Accepting(Box::new(accept)),
                    Err(error) => return Step::Failed(self.fail(error)),
                }
            }
        }
        let Link::Accepting(accept) = &mut self.link else {
            return Step::Done(());
        };
        let mut failure = None;
        let choose = self.alpn.as_mut().map(|chooser| {
            |offered: &[&[u8]]| {
                chooser(offered).unwrap_or_else(|message| {
                    failure = Some(message);
                    None
                })
            }
        });
        let polled = accept.poll(choose);
        match polled {
            Ok(Status::Done(stream)) => {
                self.link = Link::Open(Box::new(stream));
                match failure {
                    Some(message) => Step::Failed(self.fail(Error::AlpnChooser(message))),
                    None => Step::Done(()),
                }
            }
            Ok(Status::WantRead) => Step::Want(Interest::Read),
            Ok(Status::WantWrite) => Step::Want(Interest::Write),
            Err(error) => Step::Failed(self.fail(error)),
        }
    }

    fn handshake_once(&mut self) -> Step<()> {
        if self.handshaken {
            return Step::Done(());
        }
        if let Some(step) = self.accept_step().pending() {
            return step;
        }
        let handshake = match self.open_stream() {
            Ok(stream) => stream.handshake(),
            Err(error) => return Step::Failed(error),
        };
        match handshake {
            Ok(status) => {
                let step = step_of(status);
                self.handshaken = matches!(step, Step::Done(()));
                step
            }
            Err(error) => Step::Failed(self.fail(error)),
        }
    }

    fn receive_once(&mut self, pattern: ReceivePattern) -> Step<Complete> {
        if let Some(step) = self.handshake_once().pending() {
            return step;
        }
        loop {
            if let Some(complete) = self.buffer.find(pattern) {
                return Step::Done(complete);
            }
            if self.end.is_some() {
                return match pattern {
                    ReceivePattern::All if !self.buffer.is_empty() => {
                        Step::Done(self.buffer.everything())
                    }
                    _ => Step::Failed(Error::Closed),
                };
            }
            if let Some(error) = &self.broken {
                return Step::Failed(error.clone());
            }
            let wanted = match pattern {
                ReceivePattern::Count(count) => count,
                ReceivePattern::Line | ReceivePattern::All => 0,
            };
            let Link::Open(stream) = &mut self.link else {
                return Step::Failed(Error::Closed);
            };
            let mut stopped = None;
            let mut end = EndOfStream::CloseNotify;
            let read = self.buffer.fill(wanted, |free| match stream.read(free) {
                Ok(Status::Done(count)) => Ok(count),
                Ok(status) => {
                    stopped = Some(step_of(status.map(|_| ())));
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(Error::ClosedWithoutNotify) => {
                    end = EndOfStream::Truncated;
                    Ok(0)
                }
                Err(error) => {
                    stopped = Some(Step::Failed(error));
                    Err(io::ErrorKind::Other.into())
                }
            });
            match (read, stopped) {
                (Ok(0), _) => self.end = Some(end),
                (Ok(_), _) => {}
                (Err(_), Some(Step::Want(interest))) => {
                    self.buffer.park();
                    return Step::Want(interest);
                }
                (Err(_), Some(Step::Failed(error))) => return Step::Failed(self.fail(error)),
                (Err(error), _) => return Step::Failed(self.fail(error.into())),
            }
        }
    }

    fn send_once(&mut self, data: &[u8], sent: &mut usize) -> Step<()> {
        if let Some(step) = self.handshake_once().pending() {
            return step;
        }
        loop {
            let stream = match self.open_stream() {
                Ok(stream) => stream,
                Err(error) => return Step::Failed(error),
            };
            let result = if *sent < data.len() {
                stream.write(&data[*sent..]).map(|status| status.map(Some))
            } else {
                stream.flush().map(|status| status.map(|()| None))
            };
            match result.map(step_of) {
                Ok(Step::Done(Some(count))) => {
                    *sent += count;
                    self.stats.sent = self
                        .stats
                        .sent
                        .saturating_add(i64::try_from(count).unwrap_or(i64::MAX));
                }
                Ok(Step::Done(None)) => return Step::Done(()),
                Ok(Step::Want(interest)) => return Step::Want(interest),
                Ok(Step::Failed(error)) | Err(error) => return Step::Failed(self.fail(error)),
            }
        }
    }
}
