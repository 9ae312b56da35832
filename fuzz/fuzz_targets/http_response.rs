//! Fuzzes the HTTP response parser: any bytes, fed in pieces of any size, to a parser
//! for a GET or a HEAD request, with small limits so they are reached. The parser must
//! never panic, must account for the bytes it takes, and must end in a state that
//! `finish` can settle.
#![no_main]

use copas_clients::http::{Limits, ResponseParser, Want};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let method = if control & 1 == 1 { "HEAD" } else { "GET" };
    let piece = usize::from(control >> 1).max(1);
    let limits = Limits {
        max_head: 512,
        max_headers: 16,
        max_line: 64,
    };
    let mut parser = ResponseParser::with_limits(method, limits);
    let mut body = Vec::new();
    for part in input.chunks(piece) {
        match parser.feed(part, &mut body) {
            Ok(used) => {
                assert!(used <= part.len());
                if used < part.len() {
                    assert_eq!(parser.want(), Want::Done);
                    break;
                }
            }
            Err(_) => {
                assert!(parser.feed(b"x", &mut body).is_err());
                break;
            }
        }
    }
    assert!(body.len() <= input.len());
    let finished = parser.finish();
    if finished.is_ok() {
        assert_eq!(parser.want(), Want::Done);
    }
    assert!(!parser.keep_alive());
});
