//! The receive buffer of a TCP object, shared by blocking and non-blocking receives.
//!
//! Reads go into a 64 KiB block so one `recv(2)` takes whatever the kernel has.
//! Complete patterns are handed out as slices of that block, so a binding can build
//! its string straight from it. While a socket waits with unread bytes, those bytes
//! move to a small allocation and the block goes back to a per-thread spare slot:
//! thousands of idle connections cost only their pending bytes, not 64 KiB each.
//!
//! The buffer is public so that other byte streams with LuaSocket's receive patterns
//! (the TLS connections of the `ssl` module) share this code: they `fill` it from their
//! own reads, then `find` and `take` patterns exactly as a TCP socket does.

use std::cell::Cell;
use std::io;

use crate::pattern::ReceivePattern;

/// Size of one read block (also the largest UDP datagram we receive).
pub(crate) const READ_BLOCK: usize = 64 * 1024;

/// Pending data up to this size is moved out of the read block while waiting.
const PARK_LIMIT: usize = 16 * 1024;

/// A count larger than this does not make the buffer grow ahead of the data.
const MAX_GROW_HINT: usize = 4 * 1024 * 1024;

thread_local! {
    /// One spare read block per thread, so busy sockets do not allocate per read.
    static SPARE_BLOCK: Cell<Option<Vec<u8>>> = const { Cell::new(None) };
}

/// Takes the thread's spare read block, or allocates one (zero-filled once).
pub(crate) fn take_block() -> Vec<u8> {
    SPARE_BLOCK
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; READ_BLOCK])
}

/// Gives a read block back to the thread's spare slot; other sizes are freed.
pub(crate) fn give_block(block: Vec<u8>) {
    if block.len() == READ_BLOCK {
        let _ = SPARE_BLOCK.try_with(|slot| slot.set(Some(block)));
    }
}

/// Where a complete pattern lies at the front of the pending bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Complete {
    /// Bytes of pending data that make up the result (before CR removal).
    data: usize,
    /// Bytes to remove from the buffer (the data plus a line's LF).
    consumed: usize,
    /// Whether CRs are removed from the result.
    line: bool,
}

/// Bytes received from the OS but not yet returned by `receive`.
#[derive(Debug, Default)]
pub struct ReceiveBuffer {
    /// Storage, fully initialized; `start..end` is the unread part.
    bytes: Vec<u8>,
    start: usize,
    end: usize,
    /// Length of the unread prefix already searched for a LF without success.
    scanned: usize,
}

impl ReceiveBuffer {
    /// An empty buffer; it allocates on the first read.
    pub fn new() -> Self {
        ReceiveBuffer::default()
    }

    /// Number of unread bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when nothing is buffered (LuaSocket's `dirty()` is the opposite).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn pending(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// Drops everything buffered and frees the storage.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.scanned = 0;
        give_block(std::mem::take(&mut self.bytes));
    }

    fn consume(&mut self, count: usize) {
        self.start += count;
        self.scanned = self.scanned.saturating_sub(count);
        if self.start == self.end {
            self.clear();
        }
    }

    /// Reads once from `read` into free space after the unread bytes and returns what
    /// it returned. `wanted` is how many unread bytes the caller hopes to have after
    /// the read, so a large count is read in few syscalls.
    pub fn fill(
        &mut self,
        wanted: usize,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.make_room(wanted.min(MAX_GROW_HINT));
        let count = read(&mut self.bytes[self.end..])?;
        self.end += count.min(self.bytes.len() - self.end);
        Ok(count)
    }

    /// Ensures a read block (or larger) with free space at the end.
    fn make_room(&mut self, wanted: usize) {
        if self.bytes.len() < READ_BLOCK {
            let mut block = take_block();
            let pending = self.len();
            if block.len() < pending {
                block.resize(pending, 0);
            }
            block[..pending].copy_from_slice(self.pending());
            self.bytes = block;
            self.start = 0;
            self.end = pending;
        }
        let free = self.bytes.len() - self.end;
        let needed = wanted.saturating_sub(self.len()).max(1);
        if free >= needed && free >= READ_BLOCK / 4 {
            return;
        }
        if self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let free = self.bytes.len() - self.end;
        if free < needed || free == 0 {
            let size = (self.bytes.len() * 2).max(self.end + needed);
            self.bytes.resize(size, 0);
        }
    }

    /// Called before waiting: frees the read block, keeping small pending data in a
    /// small allocation of its own.
    pub fn park(&mut self) {
        if self.is_empty() {
            self.clear();
        } else if self.len() <= PARK_LIMIT && self.bytes.len() >= READ_BLOCK {
            let kept = self.pending().to_vec();
            give_block(std::mem::replace(&mut self.bytes, kept));
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Finds a complete match of `pattern` in the buffered bytes. `All` never
    /// completes here: it needs the end of the stream, which the caller detects.
    /// `Count(0)` completes as soon as anything is buffered, as in LuaSocket, where
    /// `receive(0)` waits for data without consuming it.
    pub fn find(&mut self, pattern: ReceivePattern) -> Option<Complete> {
        match pattern {
            ReceivePattern::Line => {
                let pending = &self.bytes[self.start + self.scanned..self.end];
                match memchr::memchr(b'\n', pending) {
                    Some(offset) => {
                        let data = self.scanned + offset;
                        Some(Complete {
                            data,
                            consumed: data + 1,
                            line: true,
                        })
                    }
                    None => {
                        self.scanned = self.len();
                        None
                    }
                }
            }
            ReceivePattern::Count(count) if self.len() >= count.max(1) => Some(Complete {
                data: count,
                consumed: count,
                line: false,
            }),
            ReceivePattern::Count(_) | ReceivePattern::All => None,
        }
    }

    /// Everything buffered, as the result of `All` at the end of the stream.
    pub fn everything(&self) -> Complete {
        Complete {
            data: self.len(),
            consumed: self.len(),
            line: false,
        }
    }

    /// What a failed receive returns as partial data: all buffered bytes, at most
    /// `count` of them for a count, with CRs removed for a line.
    pub fn partial(&self, pattern: ReceivePattern) -> Complete {
        let data = match pattern {
            ReceivePattern::Count(count) => count.min(self.len()),
            ReceivePattern::Line | ReceivePattern::All => self.len(),
        };
        Complete {
            data,
            consumed: data,
            line: pattern == ReceivePattern::Line,
        }
    }

    /// Hands the bytes of `complete` to `deliver`, then removes them from the buffer.
    /// Returns the result of `deliver` and the number of bytes consumed.
    pub fn take<R>(&mut self, complete: Complete, deliver: impl FnOnce(&[u8]) -> R) -> (R, usize) {
        let data = &self.pending()[..complete.data];
        let result = if complete.line {
            without_cr(data, deliver)
        } else {
            deliver(data)
        };
        self.consume(complete.consumed);
        (result, complete.consumed)
    }
}

/// Calls `deliver` with `line` minus every CR, copying only when a CR is not the
/// last byte (the common CRLF line is passed as a sub-slice).
fn without_cr<R>(line: &[u8], deliver: impl FnOnce(&[u8]) -> R) -> R {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if memchr::memchr(b'\r', line).is_none() {
        deliver(line)
    } else {
        let cleaned: Vec<u8> = line.iter().copied().filter(|&b| b != b'\r').collect();
        deliver(&cleaned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(buffer: &mut ReceiveBuffer, data: &[u8]) {
        let wanted = buffer.len() + data.len();
        let copied = buffer
            .fill(wanted, |free| {
                free[..data.len()].copy_from_slice(data);
                Ok(data.len())
            })
            .unwrap();
        assert_eq!(copied, data.len());
    }

    fn take_found(buffer: &mut ReceiveBuffer, pattern: ReceivePattern) -> Option<Vec<u8>> {
        let complete = buffer.find(pattern)?;
        Some(buffer.take(complete, |bytes| bytes.to_vec()).0)
    }

    #[test]
    fn lines_strip_cr_and_lf() {
        let mut buffer = ReceiveBuffer::new();
        feed(&mut buffer, b"one\r\ntw\ro\nthree\n\n");
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Line).unwrap(),
            b"one"
        );
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Line).unwrap(),
            b"two"
        );
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Line).unwrap(),
            b"three"
        );
        assert_eq!(take_found(&mut buffer, ReceivePattern::Line).unwrap(), b"");
        assert!(buffer.is_empty());
    }

    #[test]
    fn incomplete_line_stays_buffered() {
        let mut buffer = ReceiveBuffer::new();
        feed(&mut buffer, b"par");
        assert!(buffer.find(ReceivePattern::Line).is_none());
        buffer.park();
        assert_eq!(buffer.len(), 3);
        feed(&mut buffer, b"tial\r");
        assert!(buffer.find(ReceivePattern::Line).is_none());
        feed(&mut buffer, b"\nrest");
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Line).unwrap(),
            b"partial"
        );
        assert_eq!(buffer.len(), 4);
    }

    #[test]
    fn counts_and_zero_count() {
        let mut buffer = ReceiveBuffer::new();
        assert!(
            buffer.find(ReceivePattern::Count(0)).is_none(),
            "receive(0) waits for data"
        );
        feed(&mut buffer, b"abcdef");
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Count(0)).unwrap(),
            b""
        );
        assert!(buffer.find(ReceivePattern::Count(7)).is_none());
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Count(4)).unwrap(),
            b"abcd"
        );
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Count(2)).unwrap(),
            b"ef"
        );
        assert!(buffer.find(ReceivePattern::All).is_none());
    }

    #[test]
    fn partial_results() {
        let mut buffer = ReceiveBuffer::new();
        feed(&mut buffer, b"a\rb\r");
        let partial = buffer.partial(ReceivePattern::Line);
        assert_eq!(buffer.take(partial, |b| b.to_vec()), (b"ab".to_vec(), 4));
        feed(&mut buffer, b"12345");
        let partial = buffer.partial(ReceivePattern::Count(3));
        assert_eq!(buffer.take(partial, |b| b.to_vec()).0, b"123");
        let everything = buffer.everything();
        assert_eq!(buffer.take(everything, |b| b.to_vec()).0, b"45");
    }

    #[test]
    fn grows_beyond_one_block_and_compacts() {
        let mut buffer = ReceiveBuffer::new();
        let chunk = vec![b'x'; 40_000];
        for _ in 0..5 {
            feed(&mut buffer, &chunk);
        }
        assert_eq!(buffer.len(), 200_000);
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Count(150_000))
                .unwrap()
                .len(),
            150_000
        );
        feed(&mut buffer, b"\n");
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Line).unwrap().len(),
            50_000
        );
        assert!(buffer.is_empty());
    }

    #[test]
    fn park_keeps_small_pending_data() {
        let mut buffer = ReceiveBuffer::new();
        feed(&mut buffer, b"0123456789");
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Count(4)).unwrap(),
            b"0123"
        );
        buffer.park();
        assert!(buffer.bytes.len() < READ_BLOCK);
        feed(&mut buffer, b"ab");
        assert_eq!(
            take_found(&mut buffer, ReceivePattern::Count(8)).unwrap(),
            b"456789ab"
        );
    }

    #[test]
    fn read_errors_leave_data() {
        let mut buffer = ReceiveBuffer::new();
        feed(&mut buffer, b"keep");
        let err = buffer.fill(10, |_| Err(io::Error::from(io::ErrorKind::WouldBlock)));
        assert!(err.is_err());
        assert_eq!(buffer.len(), 4);
    }
}
