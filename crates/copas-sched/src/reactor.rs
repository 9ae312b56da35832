//! Readiness of file descriptors, from one edge-triggered epoll/kqueue set (via
//! `polling`; oneshot registrations re-armed per wait on Windows, see `MODE`).
//!
//! A descriptor is added once, for reading and writing, the first time something
//! waits on it, and stays until it is deregistered. Edge triggering means a waiter
//! must only be parked after an operation returned `EAGAIN`: then the next change of
//! state is guaranteed to produce an event, and no `epoll_ctl` call is needed per wait.
//!
//! The reactor also remembers, per descriptor, whether an event arrived since the
//! caller last found the kernel drained ([`Reactor::is_ready`], [`Reactor::clear_ready`]).
//! A reader whose last `recv` is known to have emptied the queue can then park without
//! the `recv` that would only return `EAGAIN`: one syscall fewer per message in a
//! request/reply loop.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use polling::{Event, Events, PollMode, Poller};

/// A descriptor as the OS numbers it: a file descriptor on Unix, a `SOCKET` on Windows.
#[cfg(unix)]
pub type RawFd = std::os::fd::RawFd;
/// A descriptor as the OS numbers it: a file descriptor on Unix, a `SOCKET` on Windows.
#[cfg(windows)]
pub type RawFd = std::os::windows::io::RawSocket;

/// epoll and kqueue report each change of state once (edge), so a descriptor is added
/// once for both directions. Windows (AFD through `polling`) has no edge mode: a
/// registration there fires once and is re-armed, for the directions someone waits
/// on, whenever a waiter parks.
#[cfg(unix)]
const MODE: PollMode = PollMode::Edge;
#[cfg(windows)]
const MODE: PollMode = PollMode::Oneshot;

/// The slot of a descriptor in the reactor's table. Winsock handles are kernel handle
/// values, multiples of 4, so they are divided down to stay dense.
fn index_of(fd: RawFd) -> Option<usize> {
    #[cfg(unix)]
    let index = usize::try_from(fd).ok();
    #[cfg(windows)]
    let index = usize::try_from(fd / 4).ok();
    index
}

/// `fd` borrowed for a `polling` call.
///
/// # Safety
///
/// `fd` must be open for the duration of the borrow.
#[cfg(unix)]
unsafe fn borrow(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: forwarded to our caller.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}
/// `fd` borrowed for a `polling` call.
///
/// # Safety
///
/// `fd` must be open for the duration of the borrow.
#[cfg(windows)]
unsafe fn borrow(fd: RawFd) -> std::os::windows::io::BorrowedSocket<'static> {
    // SAFETY: forwarded to our caller.
    unsafe { std::os::windows::io::BorrowedSocket::borrow_raw(fd) }
}

/// Which readiness a waiter needs: luasocket-core's type, so what a socket says it
/// would block on goes to [`Reactor::wait`] as it is.
pub use luasocket_core::Interest;

/// A descriptor registered with a [`Reactor`].
///
/// The generation tells registrations of the same descriptor number apart, so a handle
/// kept past its socket's close never touches the next socket that gets that number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    fd: RawFd,
    generation: u64,
}

impl Source {
    /// The registered descriptor.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

#[derive(Debug)]
struct SourceSlot<W> {
    /// Zero while the descriptor number is not registered.
    generation: u64,
    /// The registered descriptor (the table's index is derived from it).
    fd: RawFd,
    readers: VecDeque<W>,
    writers: VecDeque<W>,
    /// An event (or the registration itself, as the state is unknown then) came after
    /// the last [`Reactor::clear_ready`] for reading.
    readable: bool,
    /// The peer hung up or the socket has an error (a RST): reads never block again, so
    /// a `TCP_INQ` of 0 (which does not count a RST) must not make readers park.
    hung_up: bool,
}

impl<W> Default for SourceSlot<W> {
    fn default() -> Self {
        SourceSlot {
            generation: 0,
            fd: RawFd::default(),
            readers: VecDeque::new(),
            writers: VecDeque::new(),
            readable: true,
            hung_up: false,
        }
    }
}

/// The epoll set and, per descriptor, who waits for which readiness.
///
/// `W` identifies a waiter (the scheduler uses its task ids).
#[derive(Debug)]
pub struct Reactor<W> {
    poller: Arc<Poller>,
    events: Events,
    /// Indexed by descriptor number: descriptors are small and dense, so a vector beats
    /// a hash map on the hot path.
    sources: Vec<SourceSlot<W>>,
    next_generation: u64,
    /// Waiters of registrations replaced or removed: woken by the next poll so they
    /// find out their socket is gone instead of waiting forever.
    orphans: Vec<(W, Interest)>,
    registered: usize,
}

impl<W: Copy + PartialEq> Reactor<W> {
    /// A reactor with its own epoll set.
    pub fn new() -> io::Result<Self> {
        let poller = Poller::new()?;
        if MODE == PollMode::Edge && !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "edge-triggered polling is not available",
            ));
        }
        Ok(Reactor {
            poller: Arc::new(poller),
            events: Events::new(),
            sources: Vec::new(),
            next_generation: 1,
            orphans: Vec::new(),
            registered: 0,
        })
    }

    /// The poller, for waking [`Reactor::poll`] from another thread with `notify`.
    pub fn poller(&self) -> &Arc<Poller> {
        &self.poller
    }

    /// Number of registered descriptors.
    pub fn len(&self) -> usize {
        self.registered
    }

    /// True when no descriptor is registered.
    pub fn is_empty(&self) -> bool {
        self.registered == 0
    }

    /// Adds `fd` for edge-triggered read and write readiness.
    ///
    /// A stale registration of the same number (its socket was closed without being
    /// deregistered) is replaced, and its waiters are woken by the next poll.
    /// The descriptor must stay open until [`Reactor::deregister`] is called for it.
    pub fn register(&mut self, fd: RawFd) -> io::Result<Source> {
        let index = index_of(fd).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        if index >= self.sources.len() {
            self.sources.resize_with(index + 1, SourceSlot::default);
        }
        if self.sources[index].generation != 0 {
            let stale = Source {
                fd,
                generation: self.sources[index].generation,
            };
            self.deregister(stale);
        }
        let interest = if MODE == PollMode::Edge {
            Event::all(index)
        } else {
            // Armed when a waiter parks (`wait`).
            Event::none(index)
        };
        // SAFETY: the descriptor is open now (callers register a live socket), and epoll
        // forgets a descriptor by itself once it is closed, so a registration that
        // outlives its socket cannot make the kernel touch freed memory; our own record
        // of it is replaced by the next `register` of the same number.
        let added = unsafe { self.poller.add_with_mode(fd, interest, MODE) };
        match added {
            Ok(()) => {}
            // Still in the set under a number we had forgotten (dup'ed descriptor).
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                // SAFETY: `fd` is open (epoll just reported it as a member of the set).
                let borrowed = unsafe { borrow(fd) };
                self.poller.modify_with_mode(borrowed, interest, MODE)?;
            }
            Err(err) => return Err(err),
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = &mut self.sources[index];
        slot.generation = generation;
        slot.fd = fd;
        slot.readable = true;
        slot.hung_up = false;
        self.registered += 1;
        Ok(Source { fd, generation })
    }

    /// True while `source` is the current registration of its descriptor.
    pub fn is_registered(&self, source: Source) -> bool {
        self.slot(source).is_some()
    }

    /// Removes `source` from the epoll set; call it before closing the descriptor.
    /// Its waiters are woken by the next poll. Stale handles are ignored.
    pub fn deregister(&mut self, source: Source) {
        let Some(slot) = self.slot_mut(source) else {
            return;
        };
        slot.generation = 0;
        let readers: Vec<W> = slot.readers.drain(..).collect();
        let writers: Vec<W> = slot.writers.drain(..).collect();
        self.orphans
            .extend(readers.into_iter().map(|w| (w, Interest::Read)));
        self.orphans
            .extend(writers.into_iter().map(|w| (w, Interest::Write)));
        self.registered -= 1;
        // SAFETY: the caller deregisters before closing, so `fd` is open; if it was
        // closed behind our back, epoll_ctl fails with EBADF, which is ignored below.
        let borrowed = unsafe { borrow(source.fd) };
        // A descriptor closed behind our back is already gone from the set.
        let _ = self.poller.delete(borrowed);
    }

    /// Parks `waiter` until `source` reports `interest`. Returns false for a stale handle.
    pub fn wait(&mut self, source: Source, interest: Interest, waiter: W) -> bool {
        let Some(slot) = self.slot_mut(source) else {
            return false;
        };
        let queue = match interest {
            Interest::Read => &mut slot.readers,
            Interest::Write => &mut slot.writers,
        };
        if !queue.contains(&waiter) {
            queue.push_back(waiter);
        }
        if MODE == PollMode::Oneshot {
            self.arm(source);
        }
        true
    }

    /// Re-arms a oneshot registration for the directions that have waiters.
    fn arm(&mut self, source: Source) {
        let Some(slot) = self.slot(source) else {
            return;
        };
        let Some(index) = index_of(source.fd) else {
            return;
        };
        let interest = Event::new(index, !slot.readers.is_empty(), !slot.writers.is_empty());
        // SAFETY: a registered descriptor is open (callers deregister before closing).
        let borrowed = unsafe { borrow(source.fd) };
        // A failure leaves the waiters to their deadlines, as a lost event would.
        let _ = self.poller.modify_with_mode(borrowed, interest, MODE);
    }

    /// False only when the caller found the kernel's read queue empty (and said so with
    /// [`Reactor::clear_ready`]) and no event came since: a read would block. True for
    /// a stale handle, so callers fall back to trying. On Windows no event comes while
    /// nobody waits, so false there means "park first": parking arms the registration,
    /// which reports data already queued at once.
    pub fn is_ready(&self, source: Source) -> bool {
        self.slot(source).is_none_or(|slot| slot.readable)
    }

    /// Records that a read of `source` left nothing in the kernel: `EAGAIN`, or a read
    /// whose `TCP_INQ` hint was 0 (which also rules out a queued FIN). Edge triggering
    /// reports the next arrival, which sets the flag again.
    pub fn clear_ready(&mut self, source: Source) {
        if let Some(slot) = self.slot_mut(source) {
            slot.readable = slot.hung_up;
        }
    }

    /// Unparks `waiter` (its wait timed out or was cancelled).
    pub fn cancel(&mut self, source: Source, interest: Interest, waiter: W) {
        if let Some(slot) = self.slot_mut(source) {
            let queue = match interest {
                Interest::Read => &mut slot.readers,
                Interest::Write => &mut slot.writers,
            };
            queue.retain(|w| *w != waiter);
        }
    }

    /// Waits for events until `deadline` (`None`: no limit; a past deadline: just look)
    /// and hands every woken waiter to `wake`. Returns how many were woken.
    pub fn poll(
        &mut self,
        deadline: Option<Instant>,
        mut wake: impl FnMut(W, Interest),
    ) -> io::Result<usize> {
        let mut woken = 0;
        // Orphans are due now: do not sleep while they wait.
        let deadline = if self.orphans.is_empty() {
            deadline
        } else {
            Some(Instant::now())
        };
        for (waiter, interest) in self.orphans.drain(..) {
            wake(waiter, interest);
            woken += 1;
        }
        self.events.clear();
        match deadline {
            Some(deadline) => self.poller.wait_deadline(&mut self.events, deadline)?,
            None => self.poller.wait(&mut self.events, None)?,
        };
        let mut rearm = Vec::new();
        for event in self.events.iter() {
            let Some(slot) = self.sources.get_mut(event.key) else {
                continue;
            };
            if event.is_interrupt() || event.is_err() == Some(true) {
                slot.hung_up = true;
            }
            // A hang-up or error wakes readers too: their next read reports it.
            if event.readable || slot.hung_up {
                slot.readable = true;
                while let Some(waiter) = slot.readers.pop_front() {
                    wake(waiter, Interest::Read);
                    woken += 1;
                }
            }
            if event.writable {
                while let Some(waiter) = slot.writers.pop_front() {
                    wake(waiter, Interest::Write);
                    woken += 1;
                }
            }
            if MODE == PollMode::Oneshot && !(slot.readers.is_empty() && slot.writers.is_empty()) {
                rearm.push(Source {
                    fd: slot.fd,
                    generation: slot.generation,
                });
            }
        }
        for source in rearm {
            self.arm(source);
        }
        Ok(woken)
    }

    fn slot(&self, source: Source) -> Option<&SourceSlot<W>> {
        let slot = self.sources.get(index_of(source.fd)?)?;
        (slot.generation == source.generation).then_some(slot)
    }

    fn slot_mut(&mut self, source: Source) -> Option<&mut SourceSlot<W>> {
        let slot = self.sources.get_mut(index_of(source.fd)?)?;
        (slot.generation == source.generation).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    fn raw(stream: &TcpStream) -> RawFd {
        #[cfg(unix)]
        let raw = std::os::fd::AsRawFd::as_raw_fd(stream);
        #[cfg(windows)]
        let raw = std::os::windows::io::AsRawSocket::as_raw_socket(stream);
        raw
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.set_nonblocking(true).unwrap();
        server.set_nonblocking(true).unwrap();
        (client, server)
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_millis(200))
    }

    #[test]
    fn wakes_reader_on_data_once_per_edge() {
        let mut reactor = Reactor::new().unwrap();
        let (mut client, mut server) = pair();
        let source = reactor.register(raw(&server)).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            server.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        assert!(reactor.wait(source, Interest::Read, 7u32));
        client.write_all(b"hi").unwrap();
        let mut woken = Vec::new();
        reactor.poll(soon(), |w, i| woken.push((w, i))).unwrap();
        assert_eq!(woken, vec![(7, Interest::Read)]);
        // Nobody waits now: the next poll wakes no one.
        woken.clear();
        reactor
            .poll(Some(Instant::now()), |w, i| woken.push((w, i)))
            .unwrap();
        assert!(woken.is_empty());
        assert_eq!(server.read(&mut buf).unwrap(), 2);
        reactor.deregister(source);
        assert!(reactor.is_empty());
    }

    #[test]
    fn readiness_flag_follows_events_and_clears() {
        let mut reactor = Reactor::<u32>::new().unwrap();
        let (mut client, server) = pair();
        let source = reactor.register(raw(&server)).unwrap();
        // Unknown state after registering: callers must try.
        assert!(reactor.is_ready(source));
        reactor.clear_ready(source);
        assert!(!reactor.is_ready(source));
        client.write_all(b"x").unwrap();
        if MODE == PollMode::Edge {
            // An event with nobody waiting still marks the descriptor.
            reactor.poll(soon(), |_, _| {}).unwrap();
        } else {
            // A oneshot registration is armed by a waiter, and arming reports the
            // current state: one parking after the data came is woken at once.
            reactor.wait(source, Interest::Read, 1);
            let mut woken = Vec::new();
            reactor.poll(soon(), |w, _| woken.push(w)).unwrap();
            assert_eq!(woken, vec![1]);
        }
        assert!(reactor.is_ready(source));
        reactor.deregister(source);
        assert!(reactor.is_ready(source));
    }

    #[test]
    fn deregister_wakes_waiters_and_stale_handles_are_ignored() {
        let mut reactor = Reactor::new().unwrap();
        let (_client, server) = pair();
        let source = reactor.register(raw(&server)).unwrap();
        reactor.wait(source, Interest::Read, 1u32);
        reactor.deregister(source);
        assert!(!reactor.wait(source, Interest::Read, 2));
        let mut woken = Vec::new();
        reactor.poll(None, |w, i| woken.push((w, i))).unwrap();
        assert_eq!(woken, vec![(1, Interest::Read)]);
    }

    #[test]
    fn reregistering_a_number_orphans_the_old_waiters() {
        let mut reactor = Reactor::new().unwrap();
        let (_client, server) = pair();
        let old = reactor.register(raw(&server)).unwrap();
        reactor.wait(old, Interest::Write, 5u32);
        let new = reactor.register(raw(&server)).unwrap();
        assert_ne!(old, new);
        assert!(!reactor.is_registered(old));
        let mut woken = Vec::new();
        reactor.poll(None, |w, i| woken.push((w, i))).unwrap();
        assert!(woken.contains(&(5, Interest::Write)));
        assert_eq!(reactor.len(), 1);
    }
}
