//! The mime filters (base64, quoted-printable, line wrapping, EOL normalisation, SMTP dot
//! stuffing) on arbitrary chunkings and parameters. There is no URL parser in Rust (socket.url
//! is Lua), so this target stands where a `url` target would. Checks: no panic, and the
//! encode/decode pairs give back the input whatever the chunking.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use luasocket_core::ltn12::Filter;
use luasocket_core::mime::{
    self, Base64Decoder, Base64Encoder, DotStuffer, EolNormalizer, LineWrapper,
    QuotedPrintableDecoder, QuotedPrintableEncoder, QuotedPrintableWrapper,
};

#[derive(Debug, Arbitrary)]
struct Input {
    chunks: Vec<Vec<u8>>,
    left: i64,
    length: i64,
    marker: Vec<u8>,
    context: u8,
    state: u8,
}

fn run<F: Filter>(mut filter: F, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        filter.filter(chunk, &mut out);
    }
    filter.finish(&mut out);
    out
}

fn rechunk(data: &[u8], sizes: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = data;
    for size in sizes.iter().map(|c| c.len().max(1)) {
        if rest.is_empty() {
            break;
        }
        let (head, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(head.to_vec());
        rest = tail;
    }
    if !rest.is_empty() {
        chunks.push(rest.to_vec());
    }
    chunks
}

fuzz_target!(|input: Input| {
    let data: Vec<u8> = input.chunks.concat();

    let encoded = run(Base64Encoder::new(), &input.chunks);
    let decoded = run(Base64Decoder::new(), &rechunk(&encoded, &input.chunks));
    assert_eq!(decoded, data, "base64 round trip");

    let encoded = run(QuotedPrintableEncoder::new(), &input.chunks);
    let wrapped = run(
        QuotedPrintableWrapper::new(76),
        &rechunk(&encoded, &input.chunks),
    );
    let decoded = run(
        QuotedPrintableDecoder::new(),
        &rechunk(&wrapped, &input.chunks),
    );
    assert_eq!(decoded, data, "quoted-printable round trip");

    // Arbitrary parameters: only "no panic" is checked.
    run(
        QuotedPrintableEncoder::with_line_break(&input.marker),
        &input.chunks,
    );
    run(LineWrapper::resume(input.left, input.length), &input.chunks);
    run(
        QuotedPrintableWrapper::resume(input.left, input.length),
        &input.chunks,
    );
    run(
        EolNormalizer::resume(input.context, &input.marker),
        &input.chunks,
    );
    run(DotStuffer::resume(input.state), &input.chunks);
    let more = input.chunks.get(1).map(Vec::as_slice);
    let first = input.chunks.first().map_or(&[][..], Vec::as_slice);
    mime::b64(first, more);
    mime::unb64(first, more);
    mime::qp(first, more, &input.marker);
    mime::unqp(first, more);
    mime::wrp(input.left, more, input.length);
    mime::qpwrp(input.left, more, input.length);
    mime::eol(input.context, more, &input.marker);
    mime::dot(input.state, more);
});
