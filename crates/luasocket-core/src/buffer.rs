//! The receive buffer every socket reads through, as LuaSocket's `buffer.c` does, so
//! blocking and non-blocking callers see one stream.

use std::io;

use socket2::Socket;

/// Smallest read attempted: one syscall should bring in whatever the kernel has queued.
const READ_CHUNK: usize = 16 * 1024;

/// Bytes received but not yet handed to the caller.
#[derive(Debug, Default)]
pub struct RecvBuffer {
    data: Vec<u8>,
    start: usize,
}

impl RecvBuffer {
    /// The bytes waiting to be consumed.
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.data.len()
    }

    /// Drops `n` bytes from the front.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Takes everything buffered (the partial result of a failed receive).
    pub fn take_all(&mut self) -> Vec<u8> {
        let taken = self.data.split_off(self.start);
        self.data.clear();
        self.start = 0;
        taken
    }

    /// One `recv(2)` into the free space; `Ok(0)` means the peer closed.
    pub fn fill(&mut self, socket: &Socket) -> io::Result<usize> {
        if self.start > 0 && self.start >= self.data.len() / 2 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        if self.data.capacity() - self.data.len() < READ_CHUNK {
            self.data.reserve(READ_CHUNK.max(self.data.len()));
        }
        let spare = self.data.spare_capacity_mut();
        let n = socket.recv(spare)?;
        // SAFETY: recv(2) initialised the first `n` bytes of the spare capacity.
        unsafe { self.data.set_len(self.data.len() + n) };
        Ok(n)
    }

    /// Appends bytes as if received (tests).
    #[cfg(test)]
    fn push(&mut self, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
    }
}

/// Where a complete result ends in the buffer, if it is there yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Complete {
    /// Bytes of the result (a line without its line feed).
    pub(crate) len: usize,
    /// Bytes to consume (the line feed included).
    pub(crate) consumed: usize,
}

pub(crate) fn find_line(pending: &[u8]) -> Option<Complete> {
    pending.iter().position(|&b| b == b'\n').map(|at| Complete {
        len: at,
        consumed: at + 1,
    })
}

pub(crate) fn find_count(pending: &[u8], wanted: usize) -> Option<Complete> {
    (pending.len() >= wanted).then_some(Complete {
        len: wanted,
        consumed: wanted,
    })
}

/// Line results drop every carriage return, as LuaSocket does.
pub(crate) fn strip_cr(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if line.contains(&b'\r') {
        std::borrow::Cow::Owned(line.iter().copied().filter(|&b| b != b'\r').collect())
    } else {
        std::borrow::Cow::Borrowed(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_and_take() {
        let mut b = RecvBuffer::default();
        b.push(b"hello\nworld");
        let line = find_line(b.pending()).unwrap();
        assert_eq!(
            line,
            Complete {
                len: 5,
                consumed: 6
            }
        );
        b.consume(line.consumed);
        assert_eq!(b.pending(), b"world");
        assert_eq!(find_line(b.pending()), None);
        assert_eq!(
            find_count(b.pending(), 3),
            Some(Complete {
                len: 3,
                consumed: 3
            })
        );
        assert_eq!(b.take_all(), b"world");
        assert!(b.is_empty());
    }

    #[test]
    fn strips_every_carriage_return() {
        assert_eq!(&*strip_cr(b"a\rb\r"), b"ab");
        assert!(matches!(strip_cr(b"plain"), std::borrow::Cow::Borrowed(_)));
    }
}
