//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): not an API.
//!
//! [`receive_script`] drives the receive buffer exactly as `TcpSocket` does, but over a
//! scripted stream of byte chunks instead of a descriptor, and checks every result against
//! a plain model of LuaSocket's patterns. It panics on any disagreement, which is what a
//! fuzzer reports.
//!
//! ```
//! use luasocket_core::fuzzing::{receive_script, Step};
//! receive_script(&[Step::Feed(b"a\r\nb".to_vec()), Step::Receive(b"*l".to_vec())]);
//! ```

use std::collections::VecDeque;

use crate::buffer::ReceiveBuffer;
use crate::pattern::ReceivePattern;

/// One step of a scripted connection.
#[derive(Debug, Clone)]
pub enum Step {
    /// The peer sends these bytes (they arrive in reads of at most `read_size`).
    Feed(Vec<u8>),
    /// Sets the size of each simulated `recv` (at least 1).
    ReadSize(usize),
    /// `receive(pattern)` with a textual pattern, parsed like the binding does.
    Receive(Vec<u8>),
    /// `receive(count)`.
    ReceiveCount(usize),
    /// The socket waits (the buffer parks its block).
    Park,
    /// The peer closes: a following receive sees the end of the stream.
    Close,
}

/// Runs `steps` and panics when the buffer disagrees with the model.
pub fn receive_script(steps: &[Step]) {
    let mut buffer = ReceiveBuffer::new();
    let mut wire: VecDeque<u8> = VecDeque::new();
    let mut model: VecDeque<u8> = VecDeque::new();
    let mut read_size = 4096;
    let mut closed = false;
    for step in steps {
        match step {
            Step::Feed(bytes) => {
                if !closed {
                    wire.extend(bytes);
                    model.extend(bytes);
                }
            }
            Step::ReadSize(size) => read_size = (*size).clamp(1, 1 << 20),
            Step::Park => buffer.park(),
            Step::Close => closed = true,
            Step::Receive(text) => {
                if let Some(pattern) = ReceivePattern::parse(text) {
                    receive(
                        &mut buffer,
                        &mut wire,
                        &mut model,
                        read_size,
                        closed,
                        pattern,
                    );
                }
            }
            Step::ReceiveCount(count) => receive(
                &mut buffer,
                &mut wire,
                &mut model,
                read_size,
                closed,
                ReceivePattern::Count(*count % (1 << 20)),
            ),
        }
        assert_eq!(
            buffer.len() + wire.len(),
            model.len(),
            "bytes lost or made up"
        );
    }
}

/// One receive: the same loop as `TcpSocket::poll_complete`, then the model's answer.
fn receive(
    buffer: &mut ReceiveBuffer,
    wire: &mut VecDeque<u8>,
    model: &mut VecDeque<u8>,
    read_size: usize,
    closed: bool,
    pattern: ReceivePattern,
) {
    let outcome = loop {
        if let Some(complete) = buffer.find(pattern) {
            break Some(complete);
        }
        let wanted = match pattern {
            ReceivePattern::Count(count) => count,
            ReceivePattern::Line | ReceivePattern::All => 0,
        };
        let read = buffer.fill(wanted, |free| {
            let count = free.len().min(read_size).min(wire.len());
            for (slot, byte) in free.iter_mut().zip(wire.drain(..count)) {
                *slot = byte;
            }
            Ok(count)
        });
        match read {
            Ok(0) if closed => {
                break match pattern {
                    ReceivePattern::All if !buffer.is_empty() => Some(buffer.everything()),
                    _ => None,
                };
            }
            // Nothing more to read and the peer is still there: the socket would block.
            Ok(0) => {
                buffer.park();
                return;
            }
            Ok(_) => {}
            Err(err) => panic!("scripted read failed: {err}"),
        }
    };
    let got = match outcome {
        Some(complete) => buffer.take(complete, <[u8]>::to_vec).0,
        None => buffer.take(buffer.partial(pattern), <[u8]>::to_vec).0,
    };
    let want = expected(model, pattern, outcome.is_some());
    assert_eq!(got, want, "{pattern:?}");
}

/// What LuaSocket returns (result or partial), removed from the model stream.
fn expected(model: &mut VecDeque<u8>, pattern: ReceivePattern, complete: bool) -> Vec<u8> {
    match pattern {
        ReceivePattern::Line => {
            let taken: Vec<u8> = match model.iter().position(|&b| b == b'\n') {
                Some(lf) if complete => {
                    let line = model.drain(..=lf).collect::<Vec<u8>>();
                    line[..lf].to_vec()
                }
                _ => {
                    assert!(!complete, "a line completed without a LF");
                    model.drain(..).collect()
                }
            };
            taken.into_iter().filter(|&b| b != b'\r').collect()
        }
        ReceivePattern::All => model.drain(..).collect(),
        ReceivePattern::Count(count) => {
            if complete {
                assert!(model.len() >= count, "count completed short");
            }
            let count = count.min(model.len());
            model.drain(..count).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_lines_counts_and_close() {
        receive_script(&[
            Step::ReadSize(3),
            Step::Feed(b"one\r\ntwo\nthr".to_vec()),
            Step::Receive(b"*l".to_vec()),
            Step::Park,
            Step::ReceiveCount(2),
            Step::Receive(b"l".to_vec()),
            Step::Receive(b"*l".to_vec()),
            Step::Feed(b"ee\n".to_vec()),
            Step::Close,
            Step::Receive(b"*a".to_vec()),
            Step::Receive(b"*a".to_vec()),
        ]);
    }
}
