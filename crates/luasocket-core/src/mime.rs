//! MIME encodings as ltn12 [`Filter`]s, and the "atom" functions of LuaSocket's
//! `mime.core` built on them, byte for byte.
//!
//! The filters ([`Base64Encoder`], [`QuotedPrintableEncoder`], [`LineWrapper`], ...)
//! are what Rust code uses. The functions [`b64`], [`unb64`], [`qp`], [`unqp`],
//! [`wrp`], [`qpwrp`], [`eol`] and [`dot`] keep `mime.core`'s calling convention,
//! where the state of a stream travels as a value between calls: `mime.lua` builds
//! its filters by cycling them (`A, B = b64(C, D)`).
//!
//! ```
//! use luasocket_core::ltn12::Filter;
//! use luasocket_core::mime::{self, Base64Encoder, LineWrapper};
//!
//! let mut encode = Base64Encoder::new().chain(LineWrapper::new(8));
//! assert_eq!(encode.filter_all(b"hello world"), b"aGVsbG8g\r\nd29ybGQ=\r\n");
//! // The same atom by atom, the way mime.core sees it:
//! assert_eq!(mime::b64(b"hell", Some(b"o")), (b"aGVs".to_vec(), Some(b"lo".to_vec())));
//! ```

use crate::ltn12::Filter;

/// The line break of every MIME format here.
pub const CRLF: &[u8] = b"\r\n";

/// A quoted-printable soft line break: a line cut that is not in the data.
const SOFT_BREAK: &[u8] = b"=\r\n";

/// Line length that `wrp` and `qpwrp` default to (RFC 2045's limit).
pub const LINE_LENGTH: i64 = 76;

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const HEX_DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// The value of a base64 character; `=` counts as zero, as padding decodes to nothing.
fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        b'=' => Some(0),
        _ => None,
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

/// Up to `N` bytes of input that a filter cannot decide on yet.
#[derive(Debug, Clone, Copy)]
struct Pending<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Pending<N> {
    const EMPTY: Self = Pending {
        bytes: [0; N],
        len: 0,
    };

    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Forgets the first byte.
    fn shift(&mut self) {
        self.bytes.copy_within(1..self.len, 0);
        self.len -= 1;
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// Base64 encoding (RFC 4648), without line breaks: wrap it with a [`LineWrapper`].
#[derive(Debug, Clone)]
pub struct Base64Encoder {
    atom: Pending<3>,
}

impl Base64Encoder {
    /// An encoder at the start of a stream, with no partial atom held.
    pub fn new() -> Self {
        Base64Encoder {
            atom: Pending::EMPTY,
        }
    }

    /// The input bytes not yet encoded: fewer than three.
    pub fn pending(&self) -> &[u8] {
        self.atom.as_slice()
    }

    fn encode_atom(bytes: [u8; 3], significant: usize, out: &mut Vec<u8>) {
        let value = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for index in 0..4 {
            if index <= significant {
                let sextet = (value >> (18 - 6 * index)) & 0x3f;
                out.push(BASE64_ALPHABET[sextet as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

impl Default for Base64Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter for Base64Encoder {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            self.atom.push(byte);
            if self.atom.len == 3 {
                Self::encode_atom(self.atom.bytes, 3, out);
                self.atom.clear();
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.atom.len > 0 {
            let mut bytes = [0; 3];
            bytes[..self.atom.len].copy_from_slice(self.atom.as_slice());
            Self::encode_atom(bytes, self.atom.len, out);
        }
        self.atom.clear();
    }
}

/// Base64 decoding as LuaSocket does it: characters outside the alphabet (line
/// breaks, spaces) are skipped, `=` anywhere in an atom counts as zero bits, and an
/// atom gives one byte if its third character is `=`, two if its fourth is, else
/// three. An incomplete atom at the end of the stream is dropped.
#[derive(Debug, Clone)]
pub struct Base64Decoder {
    atom: Pending<4>,
}

impl Base64Decoder {
    /// A decoder at the start of a stream, with no partial atom held.
    pub fn new() -> Self {
        Base64Decoder {
            atom: Pending::EMPTY,
        }
    }

    /// The base64 characters not yet decoded: fewer than four.
    pub fn pending(&self) -> &[u8] {
        self.atom.as_slice()
    }
}

impl Default for Base64Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter for Base64Decoder {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            if base64_value(byte).is_none() {
                continue;
            }
            self.atom.push(byte);
            if self.atom.len < 4 {
                continue;
            }
            let value = self.atom.bytes.iter().fold(0u32, |value, &c| {
                (value << 6) | u32::from(base64_value(c).unwrap_or(0))
            });
            let decoded = [(value >> 16) as u8, (value >> 8) as u8, value as u8];
            let significant = match self.atom.bytes {
                [_, _, b'=', _] => 1,
                [_, _, _, b'='] => 2,
                _ => 3,
            };
            out.extend_from_slice(&decoded[..significant]);
            self.atom.clear();
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) {
        self.atom.clear();
    }
}

/// How quoted-printable encoding treats a byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QpClass {
    /// Printable ASCII other than `=`: always written as is.
    Plain,
    /// Space and tab: quoted only when they end a line.
    Blank,
    /// CR: the start of a line break if LF follows.
    Cr,
    /// Everything else: always quoted.
    Quoted,
}

fn qp_class(byte: u8) -> QpClass {
    match byte {
        33..=60 | 62..=126 => QpClass::Plain,
        b' ' | b'\t' => QpClass::Blank,
        b'\r' => QpClass::Cr,
        _ => QpClass::Quoted,
    }
}

fn qp_quote(byte: u8, out: &mut Vec<u8>) {
    out.extend_from_slice(&[
        b'=',
        HEX_DIGITS[usize::from(byte >> 4)],
        HEX_DIGITS[usize::from(byte & 15)],
    ]);
}

/// Quoted-printable encoding (RFC 2045), without line wrapping: wrap it with a
/// [`QuotedPrintableWrapper`].
///
/// CRLF in the input is a line break and is written as the line-break marker: CRLF
/// for text, or `=0D=0A` to keep binary data exact. Any other CR or LF is quoted.
#[derive(Debug, Clone)]
pub struct QuotedPrintableEncoder {
    pending: Pending<3>,
    line_break: Vec<u8>,
}

impl QuotedPrintableEncoder {
    /// An encoder writing line breaks as CRLF.
    pub fn new() -> Self {
        Self::with_line_break(CRLF)
    }

    /// An encoder writing line breaks as `marker`.
    pub fn with_line_break(marker: &[u8]) -> Self {
        QuotedPrintableEncoder {
            pending: Pending::EMPTY,
            line_break: marker.to_vec(),
        }
    }

    /// The input bytes not yet encoded: a CR, or a blank and what follows it.
    pub fn pending(&self) -> &[u8] {
        self.pending.as_slice()
    }

    fn push(&mut self, byte: u8, out: &mut Vec<u8>) {
        self.pending.push(byte);
        while let Some(&first) = self.pending.as_slice().first() {
            let ahead = &self.pending.as_slice()[1..];
            match qp_class(first) {
                QpClass::Cr if ahead.is_empty() => return,
                QpClass::Cr if ahead[0] == b'\n' => {
                    out.extend_from_slice(&self.line_break);
                    self.pending.clear();
                    return;
                }
                QpClass::Blank if ahead.len() < 2 => return,
                QpClass::Blank if ahead == CRLF => {
                    qp_quote(first, out);
                    out.extend_from_slice(&self.line_break);
                    self.pending.clear();
                    return;
                }
                QpClass::Plain | QpClass::Blank => out.push(first),
                QpClass::Cr | QpClass::Quoted => qp_quote(first, out),
            }
            self.pending.shift();
        }
    }
}

impl Default for QuotedPrintableEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter for QuotedPrintableEncoder {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            self.push(byte, out);
        }
    }

    /// Encodes what is left, then ends with a soft line break, so a blank that ended
    /// the data is not taken for padding.
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending.len == 0 {
            return;
        }
        for &byte in self.pending.as_slice() {
            match qp_class(byte) {
                QpClass::Plain => out.push(byte),
                _ => qp_quote(byte, out),
            }
        }
        out.extend_from_slice(SOFT_BREAK);
        self.pending.clear();
    }
}

/// Quoted-printable decoding as LuaSocket does it: `=XX` becomes the byte, soft line
/// breaks vanish, an `=` sequence that is not hexadecimal is kept as is, CRLF is
/// kept, and a CR not followed by LF is dropped together with the byte after it.
/// Other control bytes and bytes above 126 (never valid unquoted) are dropped.
#[derive(Debug, Clone)]
pub struct QuotedPrintableDecoder {
    pending: Pending<3>,
}

impl QuotedPrintableDecoder {
    /// A decoder at the start of a stream, with no partial `=XX` or CR held.
    pub fn new() -> Self {
        QuotedPrintableDecoder {
            pending: Pending::EMPTY,
        }
    }

    /// The input bytes not yet decoded: an incomplete `=` sequence or a CR.
    pub fn pending(&self) -> &[u8] {
        self.pending.as_slice()
    }

    fn push(&mut self, byte: u8, out: &mut Vec<u8>) {
        self.pending.push(byte);
        match *self.pending.as_slice() {
            [b'=', _] | [b'='] | [b'\r'] => return,
            [b'=', b'\r', b'\n'] => {}
            [b'=', high, low] => match (hex_value(high), hex_value(low)) {
                (Some(high), Some(low)) => out.push((high << 4) | low),
                _ => out.extend_from_slice(self.pending.as_slice()),
            },
            [b'\r', next] => {
                if next == b'\n' {
                    out.extend_from_slice(CRLF);
                }
            }
            [plain, ..] => {
                if plain == b'\t' || (32..=126).contains(&plain) {
                    out.push(plain);
                }
            }
            // Never empty: a byte was just pushed.
            [] => {}
        }
        self.pending.clear();
    }
}

impl Default for QuotedPrintableDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter for QuotedPrintableDecoder {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            self.push(byte, out);
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) {
        self.pending.clear();
    }
}

/// Breaks text into lines of at most a given length with CRLF (for base64 and plain
/// text). Existing line breaks are kept, normalized to CRLF: a bare CR is dropped.
#[derive(Debug, Clone)]
pub struct LineWrapper {
    left: i64,
    length: i64,
}

impl LineWrapper {
    /// A wrapper for lines of `length` bytes.
    pub fn new(length: i64) -> Self {
        Self::resume(length, length)
    }

    /// A wrapper whose current line has room for `left` more bytes.
    pub fn resume(left: i64, length: i64) -> Self {
        LineWrapper { left, length }
    }

    /// Room left on the current line.
    pub fn left(&self) -> i64 {
        self.left
    }
}

impl Filter for LineWrapper {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            match byte {
                b'\r' => {}
                b'\n' => {
                    out.extend_from_slice(CRLF);
                    self.left = self.length;
                }
                _ => {
                    if self.left <= 0 {
                        out.extend_from_slice(CRLF);
                        self.left = self.length;
                    }
                    out.push(byte);
                    self.left -= 1;
                }
            }
        }
    }

    /// Ends an unterminated last line.
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.left < self.length {
            out.extend_from_slice(CRLF);
        }
        self.left = self.length;
    }
}

/// Breaks quoted-printable text into lines of at most a given length with soft line
/// breaks, never inside an `=XX` sequence. Hard line breaks are kept as CRLF.
#[derive(Debug, Clone)]
pub struct QuotedPrintableWrapper {
    left: i64,
    length: i64,
}

impl QuotedPrintableWrapper {
    /// A wrapper for lines of `length` bytes, the soft break's `=` included.
    pub fn new(length: i64) -> Self {
        Self::resume(length, length)
    }

    /// A wrapper whose current line has room for `left` more bytes.
    pub fn resume(left: i64, length: i64) -> Self {
        QuotedPrintableWrapper { left, length }
    }

    /// Room left on the current line.
    pub fn left(&self) -> i64 {
        self.left
    }

    fn make_room(&mut self, needed: i64, out: &mut Vec<u8>) {
        if self.left <= needed {
            out.extend_from_slice(SOFT_BREAK);
            self.left = self.length;
        }
    }
}

impl Filter for QuotedPrintableWrapper {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            match byte {
                b'\r' => continue,
                b'\n' => {
                    out.extend_from_slice(CRLF);
                    self.left = self.length;
                    continue;
                }
                // An `=XX` sequence and the soft break's own `=` must fit.
                b'=' => self.make_room(3, out),
                _ => self.make_room(1, out),
            }
            out.push(byte);
            self.left -= 1;
        }
    }

    /// Ends an unterminated last line with a soft line break.
    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.left < self.length {
            out.extend_from_slice(SOFT_BREAK);
        }
        self.left = self.length;
    }
}

/// The line-break byte an [`EolNormalizer`] saw last, if the byte before it was one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LastBreak {
    None,
    Cr,
    Lf,
}

/// Turns every line break (CRLF, LFCR, lone CR or lone LF) into one marker.
///
/// A CR and an LF next to each other are one break; two equal ones are two breaks.
#[derive(Debug, Clone)]
pub struct EolNormalizer {
    last: LastBreak,
    marker: Vec<u8>,
}

impl EolNormalizer {
    /// A normalizer writing `marker` for each line break.
    pub fn new(marker: &[u8]) -> Self {
        Self::resume(0, marker)
    }

    /// A normalizer that has just seen `last` (`b'\r'`, `b'\n'`, or anything else
    /// for no line break): `mime.core`'s context number.
    pub fn resume(last: u8, marker: &[u8]) -> Self {
        let last = match last {
            b'\r' => LastBreak::Cr,
            b'\n' => LastBreak::Lf,
            _ => LastBreak::None,
        };
        EolNormalizer {
            last,
            marker: marker.to_vec(),
        }
    }

    /// The context to resume from: `b'\r'`, `b'\n'` or 0.
    pub fn context(&self) -> u8 {
        match self.last {
            LastBreak::None => 0,
            LastBreak::Cr => b'\r',
            LastBreak::Lf => b'\n',
        }
    }
}

impl Filter for EolNormalizer {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            let current = match byte {
                b'\r' => LastBreak::Cr,
                b'\n' => LastBreak::Lf,
                _ => {
                    out.push(byte);
                    self.last = LastBreak::None;
                    continue;
                }
            };
            if self.last == LastBreak::None {
                out.extend_from_slice(&self.marker);
                self.last = current;
            } else {
                // Same byte twice is a new break; CR with LF completes the last one.
                if self.last == current {
                    out.extend_from_slice(&self.marker);
                }
                self.last = LastBreak::None;
            }
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) {
        self.last = LastBreak::None;
    }
}

/// Where a [`DotStuffer`] is relative to the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinePosition {
    Inside,
    AfterCr,
    LineStart,
}

/// SMTP dot-stuffing (RFC 5321 4.5.2): a `.` starting a line is doubled, so the
/// message cannot end early with `CRLF.CRLF`. Lines end with CRLF.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    position: LinePosition,
}

impl DotStuffer {
    /// A stuffer at the start of a message, which is the start of a line.
    pub fn new() -> Self {
        Self::resume(2)
    }

    /// A stuffer in `mime.core`'s state number: 1 just after a CR, 2 at the start of
    /// a line, anything else inside a line.
    pub fn resume(state: u8) -> Self {
        let position = match state {
            1 => LinePosition::AfterCr,
            2 => LinePosition::LineStart,
            _ => LinePosition::Inside,
        };
        DotStuffer { position }
    }

    /// The state number to resume from.
    pub fn state(&self) -> u8 {
        match self.position {
            LinePosition::Inside => 0,
            LinePosition::AfterCr => 1,
            LinePosition::LineStart => 2,
        }
    }
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Filter for DotStuffer {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &byte in chunk {
            out.push(byte);
            self.position = match (byte, self.position) {
                (b'\r', _) => LinePosition::AfterCr,
                (b'\n', LinePosition::AfterCr) => LinePosition::LineStart,
                (b'.', LinePosition::LineStart) => {
                    out.push(b'.');
                    LinePosition::Inside
                }
                _ => LinePosition::Inside,
            };
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) {
        self.position = LinePosition::LineStart;
    }
}

/// Runs `input` and then `more` through `filter`, `mime.core` style: without `more`
/// the stream ends (`(all output, None)`); with it, the output so far and the input
/// still undecided come back.
fn atom<F: Filter>(
    mut filter: F,
    input: &[u8],
    more: Option<&[u8]>,
    pending: impl Fn(&F) -> &[u8],
) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut out = Vec::new();
    filter.filter(input, &mut out);
    match more {
        Some(more) => {
            filter.filter(more, &mut out);
            let rest = pending(&filter).to_vec();
            (out, Some(rest))
        }
        None => {
            filter.finish(&mut out);
            (out, None)
        }
    }
}

/// `mime.core.b64(C, D)`: the base64 encoding of the longest prefix of `C..D` that
/// is a whole number of 3-byte atoms, and the bytes after it. Without `D`, all of `C`
/// is encoded with padding and there is no rest.
pub fn b64(input: &[u8], more: Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>) {
    atom(Base64Encoder::new(), input, more, Base64Encoder::pending)
}

/// `mime.core.unb64(C, D)`: decodes the complete atoms of `C..D` and gives back the
/// base64 characters after them. Without `D`, an incomplete last atom is dropped.
pub fn unb64(input: &[u8], more: Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>) {
    atom(Base64Decoder::new(), input, more, Base64Decoder::pending)
}

/// `mime.core.qp(C, D, marker)`: quoted-printable encoding of `C..D` with line breaks
/// written as `marker`, and the bytes still undecided. Without `D`, everything is
/// encoded, ending with a soft line break if bytes were left.
pub fn qp(input: &[u8], more: Option<&[u8]>, marker: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    atom(
        QuotedPrintableEncoder::with_line_break(marker),
        input,
        more,
        QuotedPrintableEncoder::pending,
    )
}

/// `mime.core.unqp(C, D)`: quoted-printable decoding of `C..D`, and the bytes still
/// undecided. Without `D`, an incomplete sequence at the end is dropped.
pub fn unqp(input: &[u8], more: Option<&[u8]>) -> (Vec<u8>, Option<Vec<u8>>) {
    atom(
        QuotedPrintableDecoder::new(),
        input,
        more,
        QuotedPrintableDecoder::pending,
    )
}

/// `mime.core.wrp(n, B, length)`: wraps `B` into lines of `length` bytes when the
/// current line has room for `n` more, and returns the text and the room left.
/// Without `B` (end of stream): a CRLF if the last line is unterminated, and `length`.
pub fn wrp(left: i64, input: Option<&[u8]>, length: i64) -> (Option<Vec<u8>>, i64) {
    let Some(input) = input else {
        return ((left < length).then(|| CRLF.to_vec()), length);
    };
    let mut wrapper = LineWrapper::resume(left, length);
    let mut out = Vec::new();
    wrapper.filter(input, &mut out);
    (Some(out), wrapper.left())
}

/// `mime.core.qpwrp(n, B, length)`: [`wrp`] for quoted-printable text, with soft line
/// breaks. Without `B`: a soft break if the last line is unterminated, and `length`.
pub fn qpwrp(left: i64, input: Option<&[u8]>, length: i64) -> (Option<Vec<u8>>, i64) {
    let Some(input) = input else {
        return ((left < length).then(|| SOFT_BREAK.to_vec()), length);
    };
    let mut wrapper = QuotedPrintableWrapper::resume(left, length);
    let mut out = Vec::new();
    wrapper.filter(input, &mut out);
    (Some(out), wrapper.left())
}

/// `mime.core.eol(C, D, marker)`: `D` with every line break replaced by `marker`,
/// given the context `C` (the line-break byte seen last, or 0), and the new context.
/// Without `D`: nothing, and context 0.
pub fn eol(context: u8, input: Option<&[u8]>, marker: &[u8]) -> (Option<Vec<u8>>, u8) {
    let Some(input) = input else {
        return (None, 0);
    };
    let mut normalizer = EolNormalizer::resume(context, marker);
    let mut out = Vec::new();
    normalizer.filter(input, &mut out);
    (Some(out), normalizer.context())
}

/// `mime.core.dot(m, B)`: `B` dot-stuffed from state `m` (2 at the start of a
/// message), and the new state. Without `B`: nothing, and state 2.
pub fn dot(state: u8, input: Option<&[u8]>) -> (Option<Vec<u8>>, u8) {
    let Some(input) = input else {
        return (None, 2);
    };
    let mut stuffer = DotStuffer::resume(state);
    let mut out = Vec::new();
    stuffer.filter(input, &mut out);
    (Some(out), stuffer.state())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn some(bytes: &[u8]) -> Option<Vec<u8>> {
        Some(bytes.to_vec())
    }

    /// A small xorshift generator: deterministic random data without extra crates.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound as u64) as usize
        }

        /// Bytes biased towards the ones the encoders treat specially.
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            const SPECIAL: &[u8] = b"\r\n \t=.";
            (0..len)
                .map(|_| match self.below(4) {
                    0 => SPECIAL[self.below(SPECIAL.len())],
                    _ => self.next() as u8,
                })
                .collect()
        }
    }

    /// Runs `data` through `filter` in random-sized chunks.
    fn in_pieces(filter: &mut impl Filter, data: &[u8], rng: &mut XorShift) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let size = 1 + rng.below(rest.len().min(7));
            filter.filter(&rest[..size], &mut out);
            rest = &rest[size..];
        }
        filter.finish(&mut out);
        out
    }

    #[test]
    fn base64_rfc4648_vectors() {
        let vectors: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(Base64Encoder::new().filter_all(plain), encoded);
            assert_eq!(Base64Decoder::new().filter_all(encoded), plain);
        }
    }

    #[test]
    fn b64_atoms() {
        assert_eq!(b64(b"abcd", None), (b"YWJjZA==".to_vec(), None));
        assert_eq!(b64(b"abcd", Some(b"e")), (b"YWJj".to_vec(), some(b"de")));
        assert_eq!(b64(b"", Some(b"")), (Vec::new(), some(b"")));
        assert_eq!(b64(b"\xff\xfe", None), (b"//4=".to_vec(), None));
    }

    #[test]
    fn unb64_atoms() {
        assert_eq!(unb64(b"YWJj", Some(b"ZA")), (b"abc".to_vec(), some(b"ZA")));
        assert_eq!(unb64(b"YWJj\r\nZA", None), (b"abc".to_vec(), None));
        assert_eq!(unb64(b"Y*W==", None), (b"a".to_vec(), None));
        assert_eq!(unb64(b"=AAA", None), (vec![0, 0, 0], None));
        assert_eq!(unb64(b"YW=J", None), (b"a".to_vec(), None));
        assert_eq!(unb64(b"Y W\tJ", Some(b"!j")), (b"abc".to_vec(), some(b"")));
    }

    #[test]
    fn qp_atoms() {
        assert_eq!(qp(b"a b \r\nc\t\r\n", None, CRLF).0, b"a b=20\r\nc=09\r\n");
        assert_eq!(qp(b"a ", None, CRLF).0, b"a=20=\r\n");
        assert_eq!(qp(b"x\r", None, CRLF).0, b"x=0D=\r\n");
        assert_eq!(qp(b"x\ry", None, CRLF).0, b"x=0Dy");
        assert_eq!(qp(b"x", Some(b"\r"), CRLF), (b"x".to_vec(), some(b"\r")));
        assert_eq!(qp(b"a=b\x80\n", None, b"Z").0, b"a=3Db=80=0A");
        assert_eq!(qp(b"line\r\nnext", None, b"=0D=0A").0, b"line=0D=0Anext");
        assert_eq!(qp(b"a ", Some(b" "), CRLF), (b"a".to_vec(), some(b"  ")));
        assert_eq!(qp(b"  x", None, CRLF).0, b" =20x=\r\n");
        assert_eq!(qp(b"  xy", None, CRLF).0, b"  xy");
        assert_eq!(qp(b"", None, CRLF), (Vec::new(), None));
    }

    #[test]
    fn qp_rfc2045_rules() {
        // Rule 1: '=' and non-printables are quoted with upper-case hex.
        assert_eq!(
            qp(b"caf\xc3\xa9 = \x7f!", None, CRLF).0,
            b"caf=C3=A9 =3D =7F!"
        );
        // Rule 3: blanks at the end of an encoded line are quoted.
        assert_eq!(qp(b"end \t\r\n", None, CRLF).0, b"end =09\r\n");
        // Rule 5: soft line breaks keep lines at 76 characters.
        let long = vec![b'x'; 80];
        let (wrapped, _) = qpwrp(76, Some(&qp(&long, None, CRLF).0), 76);
        let wrapped = wrapped.unwrap();
        assert_eq!(
            &wrapped[..78],
            [&[b'x'; 75][..], b"=\r\n"].concat().as_slice()
        );
        assert_eq!(unqp(&wrapped, None).0, long);
    }

    #[test]
    fn unqp_atoms() {
        assert_eq!(
            unqp(b"a=3D=\r\nb=zz\rX\r\n\x01\xff\t", None).0,
            b"a=b=zz\r\n\t"
        );
        assert_eq!(unqp(b"a=", Some(b"4")), (b"a".to_vec(), some(b"=4")));
        assert_eq!(unqp(b"=4", Some(b"1=4a")), (b"AJ".to_vec(), some(b"")));
        assert_eq!(unqp(b"=\rX", None).0, b"=\rX");
        assert_eq!(unqp(b"a\nb c~", None).0, b"ab c~");
        assert_eq!(unqp(b"=00", None).0, b"\0");
        assert_eq!(unqp(b"tail=4", None), (b"tail".to_vec(), None));
    }

    #[test]
    fn wrp_atoms() {
        assert_eq!(wrp(3, Some(b"abcdef"), 76), (some(b"abc\r\ndef"), 73));
        assert_eq!(wrp(3, Some(b"ab\r\ncd"), 4), (some(b"ab\r\ncd"), 2));
        assert_eq!(wrp(5, None, 76), (some(b"\r\n"), 76));
        assert_eq!(wrp(76, None, 76), (None, 76));
        assert_eq!(wrp(0, Some(b"x"), 2), (some(b"\r\nx"), 1));
        assert_eq!(wrp(-4, Some(b""), 2), (some(b""), -4));
    }

    #[test]
    fn qpwrp_atoms() {
        assert_eq!(
            qpwrp(5, Some(b"ab=20cd=41ef"), 76),
            (some(b"ab=\r\n=20cd=41ef"), 66)
        );
        assert_eq!(qpwrp(2, Some(b"abc"), 4), (some(b"a=\r\nbc"), 2));
        assert_eq!(qpwrp(5, None, 76), (some(b"=\r\n"), 76));
        assert_eq!(qpwrp(76, None, 76), (None, 76));
        assert_eq!(qpwrp(9, Some(b"x\r\ny"), 10), (some(b"x\r\ny"), 9));
    }

    #[test]
    fn eol_atoms() {
        let (out, context) = eol(0, Some(b"a\rb\nc\r\nd\n\re\r\rf\n\n"), CRLF);
        assert_eq!(out.unwrap(), b"a\r\nb\r\nc\r\nd\r\ne\r\n\r\nf\r\n\r\n");
        assert_eq!(context, 0);
        assert_eq!(eol(0, Some(b"x\r"), b"M"), (some(b"xM"), b'\r'));
        assert_eq!(eol(b'\r', Some(b"\n"), CRLF), (some(b""), 0));
        assert_eq!(eol(b'\n', Some(b"\n"), b"|"), (some(b"|"), 0));
        assert_eq!(eol(0, None, CRLF), (None, 0));
        assert_eq!(eol(0, Some(b"\r\r\r"), b"."), (some(b"..."), b'\r'));
    }

    #[test]
    fn dot_atoms() {
        assert_eq!(
            dot(2, Some(b".a\r\n.b\r\n..")),
            (some(b"..a\r\n..b\r\n..."), 0)
        );
        assert_eq!(dot(0, None), (None, 2));
        assert_eq!(dot(1, Some(b"\n.")), (some(b"\n.."), 0));
        assert_eq!(dot(0, Some(b"\n.")), (some(b"\n."), 0));
        assert_eq!(dot(0, Some(b"x\r\n")), (some(b"x\r\n"), 2));
        assert_eq!(dot(2, Some(b"\r")), (some(b"\r"), 1));
    }

    #[test]
    fn base64_round_trips_random_data() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let len = rng.below(200);
            let data = rng.bytes(len);
            let encoded = b64(&data, None).0;
            assert_eq!(encoded.len(), data.len().div_ceil(3) * 4);
            assert_eq!(unb64(&encoded, None).0, data);
            let wrapped = LineWrapper::new(76).filter_all(&encoded);
            assert!(wrapped.split(|&b| b == b'\n').all(|line| line.len() <= 77));
            assert_eq!(
                in_pieces(&mut Base64Decoder::new(), &wrapped, &mut rng),
                data
            );
            assert_eq!(
                in_pieces(&mut Base64Encoder::new(), &data, &mut rng),
                encoded
            );
        }
    }

    #[test]
    fn quoted_printable_round_trips_random_data() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for _ in 0..300 {
            let len = rng.below(200);
            let data = rng.bytes(len);
            let encoded = qp(&data, None, CRLF).0;
            assert_eq!(unqp(&encoded, None).0, data);
            let mut pieces = QuotedPrintableEncoder::new();
            assert_eq!(in_pieces(&mut pieces, &data, &mut rng), encoded);
            let wrapped = QuotedPrintableWrapper::new(76).filter_all(&encoded);
            assert!(wrapped.split(|&b| b == b'\n').all(|line| line.len() <= 77));
            assert_eq!(
                in_pieces(&mut QuotedPrintableDecoder::new(), &wrapped, &mut rng),
                data
            );
            let binary = qp(&data, None, b"=0D=0A").0;
            assert!(!binary.windows(2).any(|w| w == CRLF) || binary.ends_with(SOFT_BREAK));
            assert_eq!(unqp(&binary, None).0, data);
        }
    }

    #[test]
    fn chunking_does_not_change_output() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d);
        for _ in 0..200 {
            let len = rng.below(120);
            let data = rng.bytes(len);
            let mut filters: Vec<Box<dyn Filter>> = vec![
                Box::new(QuotedPrintableDecoder::new()),
                Box::new(LineWrapper::new(5)),
                Box::new(QuotedPrintableWrapper::new(6)),
                Box::new(EolNormalizer::new(b"\n")),
                Box::new(DotStuffer::new()),
            ];
            for filter in &mut filters {
                let whole = filter.filter_all(&data);
                assert_eq!(in_pieces(filter, &data, &mut rng), whole);
            }
        }
    }

    #[test]
    fn eol_normalization_is_idempotent_and_stuffing_matches_reference() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for _ in 0..200 {
            let len = rng.below(100);
            let data = rng.bytes(len);
            let once = EolNormalizer::new(CRLF).filter_all(&data);
            assert_eq!(EolNormalizer::new(CRLF).filter_all(&once), once);
            // Dot-stuffing a CRLF text: "." at the start of each line doubled.
            let lines: Vec<Vec<u8>> = once
                .split(|&b| b == b'\n')
                .map(|line| match line.first() {
                    Some(b'.') => [b".", line].concat(),
                    _ => line.to_vec(),
                })
                .collect();
            assert_eq!(DotStuffer::new().filter_all(&once), lines.join(&b'\n'));
        }
    }
}
