//! Receive patterns over arbitrary byte chunks: pattern parsing (`"*l"`, `"a"`, junk),
//! counts, read sizes, parking and end of stream, checked against a model of LuaSocket's
//! buffered receive (see `luasocket_core::fuzzing`).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use luasocket_core::fuzzing::{receive_script, Step};

#[derive(Debug, Arbitrary)]
enum Op {
    Feed(Vec<u8>),
    ReadSize(u16),
    Receive(Vec<u8>),
    ReceiveCount(u32),
    Park,
    Close,
}

fuzz_target!(|ops: Vec<Op>| {
    let steps: Vec<Step> = ops
        .into_iter()
        .map(|op| match op {
            Op::Feed(bytes) => Step::Feed(bytes),
            Op::ReadSize(size) => Step::ReadSize(usize::from(size)),
            Op::Receive(text) => Step::Receive(text),
            Op::ReceiveCount(count) => Step::ReceiveCount(count as usize),
            Op::Park => Step::Park,
            Op::Close => Step::Close,
        })
        .collect();
    receive_script(&steps);
});
