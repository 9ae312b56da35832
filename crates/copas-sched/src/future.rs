//! Tasks written as `async` blocks, so a connection handler reads as a loop.
//!
//! A hand-written [`Task`] is a state machine: every place it may block is a state, and
//! `resume` finds its way back to it. [`AsyncTask`] lets the compiler write that state
//! machine: the task is a `Future`, and each `.await` on [`Async`] I/O, [`sleep`] or
//! [`yield_now`] is a point where it parks in the [`Scheduler`].
//!
//! ```
//! use copas_sched::future::{self, Async, AsyncTask};
//! use copas_sched::Scheduler;
//! use luasocket_core::{Family, ReceivePattern, TcpSocket};
//!
//! let mut server = TcpSocket::new(Family::Inet).unwrap();
//! server.bind("127.0.0.1", "0").unwrap();
//! server.listen(8).unwrap();
//! let port = server.local_address().unwrap().1;
//! let mut scheduler: Scheduler<AsyncTask> = Scheduler::new().unwrap();
//! future::spawn(&mut scheduler, async move {
//!     let mut server = Async::new(server);
//!     let mut peer = Async::new(server.accept().await.unwrap());
//!     let line = peer.receive(ReceivePattern::Line).await.unwrap();
//!     peer.send_all(&[&line[..], b"\n"].concat()).await.unwrap();
//! });
//! future::spawn(&mut scheduler, async move {
//!     let mut client = Async::new(TcpSocket::new(Family::Inet).unwrap());
//!     client.connect("127.0.0.1", port).await.unwrap();
//!     client.send_all(b"hi\n").await.unwrap();
//!     assert_eq!(client.receive(ReceivePattern::Line).await.unwrap(), b"hi");
//! });
//! scheduler.run().unwrap();
//! ```
//!
//! # The trade-off
//!
//! The adapter is optional: nothing else in the crate depends on it, and a [`Task`]
//! written by hand stays the cheapest form (no allocation per task, no dynamic call).
//! An `AsyncTask` costs one boxed future per task and a thread-local hand-off per
//! park. In exchange, code that waits reads top to bottom.
//!
//! It is not a general executor. The futures it runs must only wait on what this module
//! provides: a foreign future (a tokio socket, a channel from another runtime) returning
//! `Pending` would park the task with nothing to wake it, so the task is dropped (as a
//! [`Task`] that returns without parking is). The `Context` it polls with has a no-op
//! waker because the scheduler, not the future, knows when the task can go on.

use crate::RawFd;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use luasocket_core::{Interest, ReceivePattern, TcpSocket};

use crate::{Scheduler, Source, Step, Task, TaskId, Wake};

/// A boxed future run as a [`Task`]; create it with [`spawn`] or [`AsyncTask::new`].
pub struct AsyncTask {
    future: Pin<Box<dyn Future<Output = ()>>>,
}

impl AsyncTask {
    /// Wraps `future`; it first runs at the scheduler's next turn.
    pub fn new(future: impl Future<Output = ()> + 'static) -> Self {
        AsyncTask {
            future: Box::pin(future),
        }
    }
}

impl fmt::Debug for AsyncTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncTask").finish_non_exhaustive()
    }
}

/// Adds `future` to `scheduler` as a task.
pub fn spawn(
    scheduler: &mut Scheduler<AsyncTask>,
    future: impl Future<Output = ()> + 'static,
) -> TaskId {
    scheduler.spawn(AsyncTask::new(future))
}

/// Adds `future` as a task of the scheduler running the current task; it starts once
/// the current task parks. Outside a running [`AsyncTask`] the future is dropped.
pub fn spawn_local(future: impl Future<Output = ()> + 'static) {
    CURRENT.with(|current| {
        if let Some(turn) = current.borrow_mut().as_mut() {
            turn.spawned.push(AsyncTask::new(future));
        }
    });
}

/// What the running future asked for when it returned `Pending`.
enum Park {
    Io {
        fd: RawFd,
        source: Rc<Cell<Option<Source>>>,
        interest: Interest,
        deadline: Option<Instant>,
    },
    Sleep(Duration),
    Yield,
}

/// What passes between [`AsyncTask::resume`] and the futures it polls.
struct Turn {
    wake: Wake,
    park: Option<Park>,
    spawned: Vec<AsyncTask>,
    released: Vec<Source>,
    failure: Option<crate::Error>,
}

thread_local! {
    static CURRENT: RefCell<Option<Turn>> = const { RefCell::new(None) };
}

fn with_turn<R>(f: impl FnOnce(&mut Turn) -> R) -> Option<R> {
    CURRENT.with(|current| current.borrow_mut().as_mut().map(f))
}

impl Task for AsyncTask {
    fn resume(&mut self, id: TaskId, wake: Wake, scheduler: &mut Scheduler<Self>) -> Step {
        let failure = PENDING_FAILURE.with(|f| f.take());
        let outer = CURRENT.with(|current| {
            current.borrow_mut().replace(Turn {
                wake,
                park: None,
                spawned: Vec::new(),
                released: Vec::new(),
                failure,
            })
        });
        let mut context = Context::from_waker(std::task::Waker::noop());
        let poll = self.future.as_mut().poll(&mut context);
        let turn = CURRENT.with(|current| std::mem::replace(&mut *current.borrow_mut(), outer));
        let Some(turn) = turn else {
            return Step::Done;
        };
        for source in turn.released {
            scheduler.deregister(source);
        }
        for task in turn.spawned {
            scheduler.spawn(task);
        }
        if poll.is_ready() {
            return Step::Done;
        }
        let parked = match turn.park {
            Some(Park::Io {
                fd,
                source,
                interest,
                deadline,
            }) => {
                let registered = match source.get() {
                    Some(existing) if existing.fd() == fd && scheduler.is_registered(existing) => {
                        Ok(existing)
                    }
                    _ => scheduler.register(fd),
                };
                registered.and_then(|registered| {
                    source.set(Some(registered));
                    scheduler.wait_io(id, registered, interest, deadline)
                })
            }
            Some(Park::Sleep(duration)) => scheduler.sleep(id, duration),
            Some(Park::Yield) => scheduler.yield_now(id),
            // A foreign future is pending: nothing of ours can wake it.
            None => return Step::Done,
        };
        match parked {
            Ok(()) => Step::Parked,
            Err(err) => {
                // The future learns about it when it runs again, right away.
                PENDING_FAILURE.with(|f| f.set(Some(err)));
                match scheduler.yield_now(id) {
                    Ok(()) => Step::Parked,
                    Err(_) => Step::Done,
                }
            }
        }
    }
}

thread_local! {
    /// A failure to park, for the next resume of the same task (which comes next:
    /// the task yielded right after it).
    static PENDING_FAILURE: Cell<Option<crate::Error>> = const { Cell::new(None) };
}

/// The future of one park: `Pending` once with `park` posted, then `Ready` with the
/// reason the task was woken.
struct Parking(Option<Park>);

impl Future for Parking {
    type Output = Result<Wake, crate::Error>;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.take() {
            Some(park) => {
                with_turn(|turn| turn.park = Some(park));
                Poll::Pending
            }
            None => Poll::Ready(
                with_turn(|turn| match turn.failure.take() {
                    Some(err) => Err(err),
                    None => Ok(turn.wake),
                })
                .unwrap_or(Err(crate::Error::NotRunning)),
            ),
        }
    }
}

/// Parks the current task for `duration`.
pub async fn sleep(duration: Duration) {
    let _ = Parking(Some(Park::Sleep(duration))).await;
}

/// Lets every other ready task run once before this one goes on.
pub async fn yield_now() {
    let _ = Parking(Some(Park::Yield)).await;
}

/// Errors of [`Async`] I/O: LuaSocket's, with its messages (`"timeout"`, `"closed"`...).
pub type IoError = luasocket_core::Error;

/// A descriptor's readiness wait, as the scheduler reports it.
async fn ready(
    fd: RawFd,
    source: &Rc<Cell<Option<Source>>>,
    interest: Interest,
    deadline: Option<Instant>,
) -> Result<(), IoError> {
    let park = Park::Io {
        fd,
        source: source.clone(),
        interest,
        deadline,
    };
    match Parking(Some(park)).await {
        Ok(Wake::TimedOut) => Err(IoError::Timeout),
        Ok(_) => Ok(()),
        Err(err) => Err(IoError::Os(std::io::Error::other(err))),
    }
}

/// A luasocket-core socket whose operations park the current [`AsyncTask`] instead of
/// blocking. Each operation may also be given a deadline with [`Async::set_timeout`].
pub struct Async<S> {
    socket: S,
    source: Registration,
    timeout: Option<Duration>,
}

/// The socket's registration with the scheduler, shared with the park requests.
#[derive(Default)]
struct Registration(Rc<Cell<Option<Source>>>);

impl Drop for Registration {
    fn drop(&mut self) {
        // The scheduler forgets the descriptor before the socket closes it, so a new
        // socket given the same number is not mistaken for this one.
        if let Some(source) = self.0.take() {
            with_turn(|turn| turn.released.push(source));
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Async<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("socket", &self.socket)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Async<S> {
    /// Wraps `socket`; it is registered with the scheduler at its first wait.
    pub fn new(socket: S) -> Self {
        Async {
            socket,
            source: Registration::default(),
            timeout: None,
        }
    }

    /// The socket back; its registration is dropped (a later `Async` of the same
    /// descriptor registers it again).
    pub fn into_inner(self) -> S {
        self.socket
    }

    /// Waits until `fd` (the wrapped socket's descriptor, or one it is built on) is
    /// ready for `interest`, within the timeout ([`set_timeout`](Self::set_timeout))
    /// counted from now: for socket types this module has no operations for, such as a
    /// TLS socket that says what it waits for.
    pub async fn ready(&mut self, fd: RawFd, interest: Interest) -> Result<(), IoError> {
        let deadline = self.deadline();
        ready(fd, &self.source.0, interest, deadline).await
    }

    /// How long each later operation may wait in all (`None`: no limit). Past it, the
    /// operation fails with `"timeout"`.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.timeout = timeout;
    }

    /// The socket, for options and addresses.
    pub fn get_ref(&self) -> &S {
        &self.socket
    }

    /// The socket, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.socket
    }

    fn deadline(&self) -> Option<Instant> {
        self.timeout.map(|t| Instant::now() + t)
    }
}

impl Async<TcpSocket> {
    fn fd(&self) -> Result<RawFd, IoError> {
        self.socket.fd().ok_or(IoError::Closed)
    }

    /// Waits for and accepts a connection (a listening socket).
    pub async fn accept(&mut self) -> Result<TcpSocket, IoError> {
        let deadline = self.deadline();
        loop {
            match self.socket.try_accept() {
                Poll::Ready(result) => return result,
                Poll::Pending => {
                    ready(self.fd()?, &self.source.0, Interest::Read, deadline).await?
                }
            }
        }
    }

    /// Connects to `host`:`port` (names are resolved first, blocking: pass addresses
    /// to keep the loop responsive).
    pub async fn connect(&mut self, host: &str, port: u16) -> Result<(), IoError> {
        let deadline = self.deadline();
        let addresses = self.socket.resolve_peer(host, &port.to_string())?;
        let mut last = IoError::Closed;
        for address in &addresses {
            let mut attempt = self.socket.start_connect(address);
            while attempt.is_pending() {
                ready(self.fd()?, &self.source.0, Interest::Write, deadline).await?;
                attempt = self.socket.finish_connect();
            }
            match attempt {
                Poll::Ready(Ok(())) => return Ok(()),
                Poll::Ready(Err(err)) => last = err,
                Poll::Pending => unreachable!("the loop above ends on Ready"),
            }
        }
        Err(last)
    }

    /// Receives `pattern` (a line without its end of line, everything until close, or a
    /// byte count), waiting as long as it takes.
    pub async fn receive(&mut self, pattern: ReceivePattern) -> Result<Vec<u8>, IoError> {
        let deadline = self.deadline();
        loop {
            match self.socket.try_receive_with(pattern, <[u8]>::to_vec) {
                Poll::Ready(result) => return result,
                Poll::Pending => {
                    let interest = if self.socket.has_deferred() {
                        Interest::Write
                    } else {
                        Interest::Read
                    };
                    ready(self.fd()?, &self.source.0, interest, deadline).await?;
                }
            }
        }
    }

    /// Sends all of `data`.
    pub async fn send_all(&mut self, mut data: &[u8]) -> Result<(), IoError> {
        let deadline = self.deadline();
        while !data.is_empty() {
            match self.socket.try_send(data) {
                Poll::Ready(Ok(sent)) => data = &data[sent..],
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => {
                    ready(self.fd()?, &self.source.0, Interest::Write, deadline).await?
                }
            }
        }
        Ok(())
    }
}
