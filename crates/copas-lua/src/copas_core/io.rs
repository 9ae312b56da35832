//! The one driver of Copas socket operations, for every transport we own.
//!
//! In the manner of mio's `IoSource::do_io`: [`drive`] tries the operation; when the
//! socket would block it registers interest with the reactor and parks the task;
//! when the task runs again, the caller retries. `receive`, `send`, `accept` and
//! `receivefrom`, and `connect` on TCP, UDP and TLS objects are each one function here over the
//! [`Stream`] or [`Pollable`] traits, with one implementation of receive patterns and
//! prefixes; the C functions in `hot` and the mlua functions in `copas_core` only
//! read arguments and push results. Objects that are not ours (any Lua object with
//! LuaSocket's methods) are driven through their methods by `copas.lua`.

use luasocket_core::RawSocket;
use std::task::Poll;
use std::time::Duration;

use copas_sched::Interest;
use luasocket_core::{Error, ReceivePattern, TcpSocket, TcpState};
use mlua::Result;

use crate::dispatch::{
    park, runtime_error, seconds, timed_out, Attempt, Registration, SharedDispatcher,
};
use crate::socket_core::tcp::{Flavor, StreamObject};
use crate::socket_core::udp::UdpObject;
use crate::ssl::{self, SslConnection};

/// One non-blocking try of an operation.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Finished with this result.
    Done(T),
    /// Would block until the socket is ready for this.
    Want(Interest),
    /// Failed with LuaSocket's (or LuaSec's) message.
    Failed(String),
}

/// How a driven operation ended this time.
#[derive(Debug)]
pub(crate) enum Progress<T> {
    /// Finished with this result.
    Done(T),
    /// The task is parked until the socket is ready; call again with `first` false.
    Parked,
    /// Failed with this message (a timeout is `"timeout"`).
    Failed(String),
}

/// A socket object the reactor can wait on.
pub(crate) trait Pollable {
    /// The descriptor, or `None` once closed.
    fn fd(&self) -> Option<RawSocket>;
    /// Where the object keeps its place in the reactor.
    fn registration(&mut self) -> &mut Option<Registration>;
}

/// The limits `copas.settimeouts` gave a stream object, in seconds (`None`: none).
/// The object keeps them so that `copas.receive` and `copas.send` read them with the
/// object itself, not from a table keyed by it; `copas.lua` keeps its own tables for
/// the objects of other libraries.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Timeouts {
    pub(crate) send: Option<f64>,
    pub(crate) receive: Option<f64>,
}

/// A byte stream with LuaSocket's receive semantics.
pub(crate) trait Stream: Pollable {
    /// The object's Copas timeouts.
    fn timeouts(&mut self) -> &mut Timeouts;
    /// Whether the object is ready for stream I/O (a TCP client, a TLS connection);
    /// the other states leave the call to the object's own methods.
    fn is_stream(&self) -> bool;
    /// Completes `pattern` from buffered and readable data, passing the bytes to
    /// `deliver`; an incomplete pattern stays buffered.
    fn try_receive(
        &mut self,
        dispatcher: &SharedDispatcher,
        pattern: ReceivePattern,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Step<()>;
    /// Removes and passes to `deliver` what a failed receive returns as partial data.
    fn take_partial(&mut self, pattern: ReceivePattern, deliver: &mut dyn FnMut(&[u8]));
    /// Sends from `data[*sent..]`, adding to `sent`, until all is taken.
    fn try_send(&mut self, data: &[u8], sent: &mut usize) -> Step<()>;
    /// Holds `data` back to leave with the next send (see `TcpSocket::defer_send`);
    /// false if it must go now.
    fn defer(&mut self, _data: &[u8]) -> bool {
        false
    }
}

/// Tries `operation` on `source` for the task of `attempt`; parks the task if the
/// socket would block and its deadline has not passed.
pub(crate) fn drive<S: Pollable + ?Sized, T>(
    dispatcher: &SharedDispatcher,
    source: &mut S,
    attempt: Attempt,
    operation: impl FnOnce(&mut S) -> Step<T>,
) -> Result<Progress<T>> {
    let expired = timed_out(dispatcher, attempt.id, attempt.first)?;
    Ok(match operation(source) {
        Step::Done(value) => Progress::Done(value),
        Step::Want(interest) if !expired => match source.fd() {
            Some(fd) => {
                park(dispatcher, source.registration(), fd, interest, attempt)?;
                Progress::Parked
            }
            None => Progress::Failed(Error::Closed.to_string()),
        },
        Step::Want(_) => Progress::Failed(Error::Timeout.to_string()),
        Step::Failed(message) => Progress::Failed(message),
    })
}

/// `copas.receive`: leaves in `out` the data (after `prefix`) or, on failure, the
/// partial data. A count includes the prefix, as in LuaSocket's `receive`.
pub(crate) fn receive<S: Stream + ?Sized>(
    dispatcher: &SharedDispatcher,
    stream: &mut S,
    pattern: ReceivePattern,
    prefix: &[u8],
    attempt: Attempt,
    out: &mut Vec<u8>,
) -> Result<Progress<()>> {
    let pattern = match pattern {
        ReceivePattern::Count(count) => ReceivePattern::Count(count.saturating_sub(prefix.len())),
        other => other,
    };
    let mut fill = |bytes: &[u8]| {
        out.clear();
        out.extend_from_slice(prefix);
        out.extend_from_slice(bytes);
    };
    let progress = drive(dispatcher, stream, attempt, |stream| {
        stream.try_receive(dispatcher, pattern, &mut fill)
    })?;
    if let Progress::Failed(_) = progress {
        stream.take_partial(pattern, &mut fill);
    }
    Ok(progress)
}

/// How a `copas.send` ended: the index of the last byte sent, and whether the data
/// was held back to leave with the next send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// Bytes of the wanted range taken so far.
    pub(crate) count: usize,
    /// Held back (TCP only, see [`Stream::defer`]).
    pub(crate) deferred: bool,
}

/// `copas.send` of `data` (the wanted range already sliced); `sent` counts what was
/// taken, also when the task parks or the send fails.
pub(crate) fn send<S: Stream + ?Sized>(
    dispatcher: &SharedDispatcher,
    stream: &mut S,
    data: &[u8],
    sent: &mut usize,
    attempt: Attempt,
) -> Result<Progress<Sent>> {
    if attempt.first && stream.defer(data) {
        *sent = data.len();
        return Ok(Progress::Done(Sent {
            count: data.len(),
            deferred: true,
        }));
    }
    let progress = drive(dispatcher, stream, attempt, |stream| {
        stream.try_send(data, sent)
    })?;
    Ok(match progress {
        Progress::Done(()) => Progress::Done(Sent {
            count: *sent,
            deferred: false,
        }),
        Progress::Parked => Progress::Parked,
        Progress::Failed(message) => Progress::Failed(message),
    })
}

/// `copas.accept` on a stream server (TCP or Unix).
pub(crate) fn accept<F: Flavor>(
    dispatcher: &SharedDispatcher,
    server: &mut StreamObject<F>,
    attempt: Attempt,
) -> Result<Progress<TcpSocket>> {
    drive(dispatcher, server, attempt, |server| {
        match server.socket.try_accept() {
            Poll::Pending => Step::Want(Interest::Read),
            Poll::Ready(Ok(client)) => Step::Done(client),
            Poll::Ready(Err(err)) => Step::Failed(err.to_string()),
        }
    })
}

/// `copas.connect` of a stream object (TCP or Unix): starts connecting to `address`
/// on the first attempt (`Some`), and after each wait (`None`) checks how it went.
pub(crate) fn connect<F: Flavor>(
    dispatcher: &SharedDispatcher,
    socket: &mut StreamObject<F>,
    address: Option<&luasocket_core::SockAddr>,
    attempt: Attempt,
) -> Result<Progress<()>> {
    if address.is_some() {
        // Connecting may give the object a new descriptor.
        socket.forget_registration();
    }
    drive(dispatcher, socket, attempt, |socket| {
        let connected = match address {
            Some(address) => socket.socket.start_connect(address),
            None => socket.socket.finish_connect(),
        };
        match connected {
            Poll::Pending => Step::Want(Interest::Write),
            Poll::Ready(Ok(())) => Step::Done(()),
            Poll::Ready(Err(err)) => Step::Failed(err.to_string()),
        }
    })
}

/// How long a Unix connect sleeps before trying again while the listener's backlog is
/// full: short, as accepting makes room at once.
const BACKLOG_RETRY: Duration = Duration::from_millis(10);

/// `copas.connect` of a Unix stream to `address`. A Unix connect completes at once or
/// fails, except when the listener's backlog is full (`EAGAIN`): then no readiness
/// event announces room, so the task sleeps briefly and tries again, until the
/// deadline its first attempt set.
pub(crate) fn connect_unix<F: Flavor>(
    dispatcher: &SharedDispatcher,
    socket: &mut StreamObject<F>,
    address: &luasocket_core::SockAddr,
    attempt: Attempt,
) -> Result<Progress<()>> {
    let (deadline, now) = {
        let mut d = dispatcher.borrow_mut();
        let task = d.task(attempt.id)?;
        let now = d.scheduler.now();
        let data = d
            .scheduler
            .get_mut(task)
            .ok_or_else(|| runtime_error("no such Copas task"))?;
        if attempt.first {
            data.deadline = seconds(attempt.timeout).and_then(|t| now.checked_add(t));
        }
        (data.deadline, now)
    };
    match socket.socket.start_connect(address) {
        Poll::Ready(Ok(())) => Ok(Progress::Done(())),
        Poll::Ready(Err(err)) => Ok(Progress::Failed(err.to_string())),
        Poll::Pending => {
            let wait = match deadline {
                Some(deadline) if deadline <= now => {
                    return Ok(Progress::Failed(Error::Timeout.to_string()))
                }
                Some(deadline) => BACKLOG_RETRY.min(deadline - now),
                None => BACKLOG_RETRY,
            };
            let mut d = dispatcher.borrow_mut();
            let task = d.task(attempt.id)?;
            d.scheduler.sleep(task, wait).map_err(runtime_error)?;
            Ok(Progress::Parked)
        }
    }
}

/// `copas.receivefrom` on a UDP socket: `deliver` gets the datagram and its sender.
pub(crate) fn receive_from<R>(
    dispatcher: &SharedDispatcher,
    socket: &mut UdpObject,
    size: usize,
    attempt: Attempt,
    deliver: impl FnOnce(&[u8], &luasocket_core::SockAddr) -> R,
) -> Result<Progress<R>> {
    drive(dispatcher, socket, attempt, |socket| {
        match socket.socket.try_receive_from_with(size, deliver) {
            Poll::Pending => Step::Want(Interest::Read),
            Poll::Ready(Ok(value)) => Step::Done(value),
            Poll::Ready(Err(err)) => Step::Failed(err.to_string()),
        }
    })
}

impl<F: Flavor> Pollable for StreamObject<F> {
    fn fd(&self) -> Option<RawSocket> {
        self.socket.fd()
    }

    fn registration(&mut self) -> &mut Option<Registration> {
        &mut self.registration
    }
}

impl<F: Flavor> Stream for StreamObject<F> {
    fn timeouts(&mut self) -> &mut Timeouts {
        &mut self.timeouts
    }

    fn is_stream(&self) -> bool {
        self.socket.state() == TcpState::Client && self.socket.fd().is_some()
    }

    fn try_receive(
        &mut self,
        dispatcher: &SharedDispatcher,
        pattern: ReceivePattern,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Step<()> {
        // Once the socket waits through the reactor, a read that is known to have
        // emptied the kernel's queue lets the next receive park without the `recv`
        // that would return EAGAIN (one syscall of three per message in a
        // request/reply loop).
        let source = self.registration.as_ref().map(|r| r.source);
        let readable = match source {
            Some(source) if self.socket.track_drain() => {
                dispatcher.borrow().scheduler.is_ready(source)
            }
            _ => true,
        };
        let received = self
            .socket
            .try_receive_tracked_with(pattern, readable, |bytes| deliver(bytes));
        if let Some(source) = source.filter(|_| self.socket.drained()) {
            dispatcher.borrow_mut().scheduler.clear_ready(source);
        }
        match received {
            Poll::Ready(Ok(())) => Step::Done(()),
            // Replies held back by `send` that the kernel had no room for go out
            // before the task waits for the peer, who may be waiting for them.
            Poll::Pending if self.socket.has_deferred() => Step::Want(Interest::Write),
            Poll::Pending => Step::Want(Interest::Read),
            Poll::Ready(Err(err)) => Step::Failed(err.to_string()),
        }
    }

    fn take_partial(&mut self, pattern: ReceivePattern, deliver: &mut dyn FnMut(&[u8])) {
        self.socket
            .take_partial_with(pattern, |bytes| deliver(bytes));
    }

    fn try_send(&mut self, data: &[u8], sent: &mut usize) -> Step<()> {
        while *sent < data.len() {
            match self.socket.try_send(&data[*sent..]) {
                Poll::Ready(Ok(n)) => *sent += n,
                Poll::Pending => return Step::Want(Interest::Write),
                Poll::Ready(Err(err)) => return Step::Failed(err.to_string()),
            }
        }
        Step::Done(())
    }

    /// More requests are buffered already: this reply can wait for the next send (or
    /// the end of the batch) and leave with it in one syscall.
    fn defer(&mut self, data: &[u8]) -> bool {
        self.socket.has_buffered_data() && self.socket.defer_send(data)
    }
}

impl Pollable for UdpObject {
    fn fd(&self) -> Option<RawSocket> {
        self.socket.fd()
    }

    fn registration(&mut self) -> &mut Option<Registration> {
        &mut self.registration
    }
}

fn from_ssl<T>(step: ssl::Step<T>) -> Step<T> {
    match step {
        ssl::Step::Done(value) => Step::Done(value),
        ssl::Step::Want(interest) => Step::Want(interest),
        ssl::Step::Failed(message) => Step::Failed(message),
    }
}

impl Pollable for SslConnection {
    fn fd(&self) -> Option<RawSocket> {
        SslConnection::fd(self)
    }

    fn registration(&mut self) -> &mut Option<Registration> {
        &mut self.registration
    }
}

impl Stream for SslConnection {
    fn timeouts(&mut self) -> &mut Timeouts {
        &mut self.timeouts
    }

    fn is_stream(&self) -> bool {
        true
    }

    /// An incomplete pattern stays in the connection's buffer while the task waits,
    /// so a large body is not copied into a growing prefix at every wait. As for TCP,
    /// a read known to have emptied the socket's queue spares the next receive the
    /// `recv` that would return EAGAIN.
    fn try_receive(
        &mut self,
        dispatcher: &SharedDispatcher,
        pattern: ReceivePattern,
        deliver: &mut dyn FnMut(&[u8]),
    ) -> Step<()> {
        let source = self.registration.as_ref().map(|r| r.source);
        let readable = match source {
            Some(source) if self.track_drain() => dispatcher.borrow().scheduler.is_ready(source),
            _ => true,
        };
        let (step, drained) = self.receive_step(pattern, readable);
        if let Some(source) = source.filter(|_| drained) {
            dispatcher.borrow_mut().scheduler.clear_ready(source);
        }
        match from_ssl(step) {
            Step::Done(complete) => {
                self.take(complete, |bytes| deliver(bytes));
                Step::Done(())
            }
            Step::Want(interest) => Step::Want(interest),
            Step::Failed(message) => Step::Failed(message),
        }
    }

    fn take_partial(&mut self, pattern: ReceivePattern, deliver: &mut dyn FnMut(&[u8])) {
        SslConnection::take_partial(self, pattern, |bytes| deliver(bytes));
    }

    fn try_send(&mut self, data: &[u8], sent: &mut usize) -> Step<()> {
        let mut taken = 0;
        let step = from_ssl(self.send_step(&data[*sent..], &mut taken));
        *sent += taken;
        step
    }
}
