//! ltn12's model of streaming data as traits: a [`Source`] produces chunks, a
//! [`Filter`] transforms them, a [`Sink`] consumes them, and [`pump`] moves chunks
//! from a source to a sink.
//!
//! Lua's ltn12 marks the end of a stream with a `nil` chunk and "no output yet" with
//! an empty string, and filters are called again and again until they have given all
//! their output. Here the end of a stream is a method of its own ([`Filter::finish`],
//! [`Sink::finish`]) or `None` ([`Source::next_chunk`]), and a filter appends all the
//! output it can produce to a buffer in one call, so "nothing yet" is simply nothing
//! appended.
//!
//! ```
//! use luasocket_core::ltn12::{pump, BytesSource, Cycle, Filter, FilteredSource};
//!
//! // A filter that upper-cases, and at the end of the stream says so.
//! let shout = Cycle::new((), |_: &mut (), chunk: Option<&[u8]>, out: &mut Vec<u8>| match chunk {
//!     Some(data) => out.extend(data.iter().map(u8::to_ascii_uppercase)),
//!     None => out.extend_from_slice(b"!"),
//! });
//! let mut source = FilteredSource::new(BytesSource::new(b"hello".to_vec()), shout);
//! let mut sink = Vec::new();
//! pump::all(&mut source, &mut sink).unwrap();
//! assert_eq!(sink, b"HELLO!");
//! ```

use std::fmt;
use std::io::{Read, Write};

use crate::{Error, Result};

/// Size of the chunks that sources cut from buffers and readers (ltn12's `BLOCKSIZE`).
pub const BLOCKSIZE: usize = 2048;

/// Something that produces a stream of chunks (an ltn12 source).
pub trait Source {
    /// The next chunk, or `None` once the stream has ended. Chunks are never empty.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>>;
}

/// Something that consumes a stream of chunks (an ltn12 sink).
pub trait Sink {
    /// Takes one chunk.
    fn put(&mut self, chunk: &[u8]) -> Result<()>;

    /// Told that the stream has ended: no chunk follows.
    fn finish(&mut self) -> Result<()>;
}

/// A stateful transformation of a stream (an ltn12 filter).
///
/// Input that a filter cannot decide on yet (half a base64 atom, a space that may
/// end a line) stays inside it until more input or the end of the stream arrives.
pub trait Filter {
    /// Transforms `chunk`, appending all the output it allows to `out`.
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>);

    /// Appends the output still held back at the end of the stream to `out`, and
    /// leaves the filter ready for a new stream.
    fn finish(&mut self, out: &mut Vec<u8>);

    /// Transforms a whole stream given at once.
    fn filter_all(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.filter(data, &mut out);
        self.finish(&mut out);
        out
    }

    /// This filter followed by `next` (ltn12's `filter.chain`).
    fn chain<F: Filter>(self, next: F) -> Chain<Self, F>
    where
        Self: Sized,
    {
        Chain::new(self, next)
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        (**self).next_chunk()
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        (**self).next_chunk()
    }
}

impl<K: Sink + ?Sized> Sink for &mut K {
    fn put(&mut self, chunk: &[u8]) -> Result<()> {
        (**self).put(chunk)
    }

    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
}

impl<K: Sink + ?Sized> Sink for Box<K> {
    fn put(&mut self, chunk: &[u8]) -> Result<()> {
        (**self).put(chunk)
    }

    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
}

impl<F: Filter + ?Sized> Filter for &mut F {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        (**self).filter(chunk, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        (**self).finish(out)
    }
}

impl<F: Filter + ?Sized> Filter for Box<F> {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        (**self).filter(chunk, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        (**self).finish(out)
    }
}

/// A filter made of a context and a step function (ltn12's `filter.cycle`): the step
/// gets the context, the chunk (`None` at the end of the stream) and the output buffer.
pub struct Cycle<C, F> {
    context: C,
    step: F,
}

impl<C, F> Cycle<C, F>
where
    F: FnMut(&mut C, Option<&[u8]>, &mut Vec<u8>),
{
    /// A filter that calls `step` with `context` for every chunk and at the end.
    pub fn new(context: C, step: F) -> Self {
        Cycle { context, step }
    }
}

impl<C, F> Filter for Cycle<C, F>
where
    F: FnMut(&mut C, Option<&[u8]>, &mut Vec<u8>),
{
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        (self.step)(&mut self.context, Some(chunk), out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        (self.step)(&mut self.context, None, out)
    }
}

impl<C: fmt::Debug, F> fmt::Debug for Cycle<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cycle")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Two filters in a row: the output of the first is the input of the second.
#[derive(Debug)]
pub struct Chain<A, B> {
    first: A,
    second: B,
    /// The first filter's output, kept to reuse its allocation.
    between: Vec<u8>,
}

impl<A: Filter, B: Filter> Chain<A, B> {
    /// `first` followed by `second`.
    pub fn new(first: A, second: B) -> Self {
        Chain {
            first,
            second,
            between: Vec::new(),
        }
    }
}

impl<A: Filter, B: Filter> Filter for Chain<A, B> {
    fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.between.clear();
        self.first.filter(chunk, &mut self.between);
        if !self.between.is_empty() {
            self.second.filter(&self.between, out);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.between.clear();
        self.first.finish(&mut self.between);
        if !self.between.is_empty() {
            self.second.filter(&self.between, out);
        }
        self.second.finish(out);
    }
}

/// A byte buffer given out in chunks of at most [`BLOCKSIZE`] (ltn12's `source.string`).
#[derive(Debug, Clone)]
pub struct BytesSource {
    data: Vec<u8>,
    position: usize,
}

impl BytesSource {
    /// A source of `data`; an empty buffer is an empty stream.
    pub fn new(data: Vec<u8>) -> Self {
        BytesSource { data, position: 0 }
    }
}

impl Source for BytesSource {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.position >= self.data.len() {
            return Ok(None);
        }
        let end = self.data.len().min(self.position + BLOCKSIZE);
        let chunk = self.data[self.position..end].to_vec();
        self.position = end;
        Ok(Some(chunk))
    }
}

/// A reader given out in chunks of at most [`BLOCKSIZE`] until it reports its end
/// (ltn12's `source.file`).
#[derive(Debug)]
pub struct ReaderSource<R> {
    reader: R,
}

impl<R: Read> ReaderSource<R> {
    /// A source reading `reader`.
    pub fn new(reader: R) -> Self {
        ReaderSource { reader }
    }
}

impl<R: Read> Source for ReaderSource<R> {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut chunk = vec![0; BLOCKSIZE];
        let count = loop {
            match self.reader.read(&mut chunk) {
                Ok(count) => break count,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::from_io(err)),
            }
        };
        if count == 0 {
            return Ok(None);
        }
        chunk.truncate(count);
        Ok(Some(chunk))
    }
}

/// A source whose chunks go through a filter (ltn12's `source.chain`).
#[derive(Debug)]
pub struct FilteredSource<S, F> {
    source: S,
    filter: F,
    ended: bool,
}

impl<S: Source, F: Filter> FilteredSource<S, F> {
    /// The chunks of `source`, transformed by `filter`.
    pub fn new(source: S, filter: F) -> Self {
        FilteredSource {
            source,
            filter,
            ended: false,
        }
    }
}

impl<S: Source, F: Filter> Source for FilteredSource<S, F> {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while !self.ended {
            match self.source.next_chunk()? {
                Some(chunk) => self.filter.filter(&chunk, &mut out),
                None => {
                    self.ended = true;
                    self.filter.finish(&mut out);
                }
            }
            if !out.is_empty() {
                return Ok(Some(out));
            }
        }
        Ok(None)
    }
}

/// Collects the whole stream (ltn12's `sink.table`, already concatenated).
impl Sink for Vec<u8> {
    fn put(&mut self, chunk: &[u8]) -> Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Throws everything away (ltn12's `sink.null`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn put(&mut self, _chunk: &[u8]) -> Result<()> {
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Writes the stream to a writer, flushing it at the end (ltn12's `sink.file`).
#[derive(Debug)]
pub struct WriterSink<W> {
    writer: W,
}

impl<W: Write> WriterSink<W> {
    /// A sink writing to `writer`.
    pub fn new(writer: W) -> Self {
        WriterSink { writer }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.writer
    }
}

impl<W: Write> Sink for WriterSink<W> {
    fn put(&mut self, chunk: &[u8]) -> Result<()> {
        self.writer.write_all(chunk).map_err(Error::from_io)
    }

    fn finish(&mut self) -> Result<()> {
        self.writer.flush().map_err(Error::from_io)
    }
}

/// A sink that filters chunks before passing them on (ltn12's `sink.chain`).
#[derive(Debug)]
pub struct FilteredSink<F, K> {
    filter: F,
    sink: K,
    buffer: Vec<u8>,
}

impl<F: Filter, K: Sink> FilteredSink<F, K> {
    /// Chunks go through `filter`, then into `sink`.
    pub fn new(filter: F, sink: K) -> Self {
        FilteredSink {
            filter,
            sink,
            buffer: Vec::new(),
        }
    }

    /// Gives the inner sink back.
    pub fn into_inner(self) -> K {
        self.sink
    }
}

impl<F: Filter, K: Sink> Sink for FilteredSink<F, K> {
    fn put(&mut self, chunk: &[u8]) -> Result<()> {
        self.buffer.clear();
        self.filter.filter(chunk, &mut self.buffer);
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.sink.put(&self.buffer)
    }

    fn finish(&mut self) -> Result<()> {
        self.buffer.clear();
        self.filter.finish(&mut self.buffer);
        if !self.buffer.is_empty() {
            self.sink.put(&self.buffer)?;
        }
        self.sink.finish()
    }
}

/// Moving chunks from a source to a sink (ltn12's `pump`).
pub mod pump {
    use super::{Sink, Source};
    use crate::Result;

    /// What one [`step`] moved.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Step {
        /// A chunk went to the sink; the stream goes on.
        Chunk,
        /// The source ended and the sink was told so.
        End,
    }

    /// Moves one chunk from `source` to `sink`, or tells the sink the stream ended.
    ///
    /// A source error is returned without finishing the sink, as the stream did not
    /// end well.
    pub fn step<S, K>(source: &mut S, sink: &mut K) -> Result<Step>
    where
        S: Source + ?Sized,
        K: Sink + ?Sized,
    {
        match source.next_chunk()? {
            Some(chunk) => {
                sink.put(&chunk)?;
                Ok(Step::Chunk)
            }
            None => {
                sink.finish()?;
                Ok(Step::End)
            }
        }
    }

    /// Moves the whole stream from `source` to `sink`.
    pub fn all<S, K>(source: &mut S, sink: &mut K) -> Result<()>
    where
        S: Source + ?Sized,
        K: Sink + ?Sized,
    {
        while step(source, sink)? == Step::Chunk {}
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives out fixed chunks, then optionally fails.
    struct Scripted {
        chunks: Vec<&'static [u8]>,
        fail_at_end: bool,
    }

    impl Source for Scripted {
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
            if self.chunks.is_empty() {
                return if self.fail_at_end {
                    Err(Error::Closed)
                } else {
                    Ok(None)
                };
            }
            Ok(Some(self.chunks.remove(0).to_vec()))
        }
    }

    /// Holds bytes back until it has a pair, and swaps each pair; at the end, a lone
    /// byte is given out as is.
    #[derive(Default)]
    struct SwapPairs {
        held: Option<u8>,
    }

    impl Filter for SwapPairs {
        fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
            for &byte in chunk {
                match self.held.take() {
                    Some(first) => out.extend_from_slice(&[byte, first]),
                    None => self.held = Some(byte),
                }
            }
        }

        fn finish(&mut self, out: &mut Vec<u8>) {
            out.extend(self.held.take());
        }
    }

    /// Counts the calls a sink gets.
    #[derive(Default)]
    struct Recorder {
        chunks: Vec<Vec<u8>>,
        finished: usize,
    }

    impl Sink for Recorder {
        fn put(&mut self, chunk: &[u8]) -> Result<()> {
            self.chunks.push(chunk.to_vec());
            Ok(())
        }

        fn finish(&mut self) -> Result<()> {
            self.finished += 1;
            Ok(())
        }
    }

    fn upper() -> impl Filter {
        Cycle::new((), |_: &mut (), chunk: Option<&[u8]>, out: &mut Vec<u8>| {
            out.extend(chunk.unwrap_or_default().iter().map(u8::to_ascii_uppercase))
        })
    }

    #[test]
    fn bytes_source_cuts_blocks() {
        let data: Vec<u8> = (0..BLOCKSIZE * 2 + 5).map(|i| i as u8).collect();
        let mut source = BytesSource::new(data.clone());
        let mut sizes = Vec::new();
        let mut joined = Vec::new();
        while let Some(chunk) = source.next_chunk().unwrap() {
            sizes.push(chunk.len());
            joined.extend(chunk);
        }
        assert_eq!(sizes, [BLOCKSIZE, BLOCKSIZE, 5]);
        assert_eq!(joined, data);
        assert!(source.next_chunk().unwrap().is_none());
        assert!(BytesSource::new(Vec::new()).next_chunk().unwrap().is_none());
    }

    #[test]
    fn reader_source_reads_to_end() {
        let data = vec![7u8; BLOCKSIZE + 1];
        let mut source = ReaderSource::new(&data[..]);
        assert_eq!(source.next_chunk().unwrap().unwrap().len(), BLOCKSIZE);
        assert_eq!(source.next_chunk().unwrap().unwrap(), [7]);
        assert!(source.next_chunk().unwrap().is_none());
    }

    #[test]
    fn cycle_sees_chunks_then_end() {
        let mut counter = Cycle::new(
            0usize,
            |seen: &mut usize, chunk: Option<&[u8]>, out: &mut Vec<u8>| match chunk {
                Some(data) => *seen += data.len(),
                None => out.extend_from_slice(seen.to_string().as_bytes()),
            },
        );
        let mut out = Vec::new();
        counter.filter(b"abc", &mut out);
        counter.filter(b"de", &mut out);
        assert!(out.is_empty());
        counter.finish(&mut out);
        assert_eq!(out, b"5");
    }

    #[test]
    fn chain_flushes_both_filters_in_order() {
        let mut chain = SwapPairs::default().chain(upper());
        assert_eq!(chain.filter_all(b"abcde"), b"BADCE");
        let mut twice = SwapPairs::default().chain(SwapPairs::default());
        let mut out = Vec::new();
        for byte in b"abcde" {
            twice.filter(&[*byte], &mut out);
        }
        twice.finish(&mut out);
        assert_eq!(out, b"abcde");
    }

    #[test]
    fn filtered_source_skips_empty_output_and_flushes_at_end() {
        let source = Scripted {
            chunks: vec![b"a", b"bc", b"d", b"e"],
            fail_at_end: false,
        };
        let mut filtered = FilteredSource::new(source, SwapPairs::default());
        let mut chunks = Vec::new();
        while let Some(chunk) = filtered.next_chunk().unwrap() {
            chunks.push(chunk);
        }
        assert_eq!(chunks, [b"ba".to_vec(), b"dc".to_vec(), b"e".to_vec()]);
        assert!(filtered.next_chunk().unwrap().is_none());
    }

    #[test]
    fn filtered_sink_passes_only_output_and_finishes_once() {
        let mut sink = FilteredSink::new(SwapPairs::default(), Recorder::default());
        for chunk in [&b"a"[..], b"bc", b"d"] {
            sink.put(chunk).unwrap();
        }
        sink.put(b"e").unwrap();
        sink.finish().unwrap();
        let recorder = sink.into_inner();
        assert_eq!(
            recorder.chunks,
            [b"ba".to_vec(), b"dc".to_vec(), b"e".to_vec()]
        );
        assert_eq!(recorder.finished, 1);
    }

    #[test]
    fn pump_moves_everything_and_finishes_the_sink() {
        let mut source = BytesSource::new(b"xyz".to_vec());
        let mut recorder = Recorder::default();
        assert_eq!(
            pump::step(&mut source, &mut recorder).unwrap(),
            pump::Step::Chunk
        );
        assert_eq!(
            pump::step(&mut source, &mut recorder).unwrap(),
            pump::Step::End
        );
        assert_eq!(recorder.finished, 1);

        let mut writer = WriterSink::new(Vec::new());
        pump::all(&mut BytesSource::new(vec![1; 5000]), &mut writer).unwrap();
        assert_eq!(writer.into_inner(), vec![1; 5000]);
    }

    #[test]
    fn pump_stops_at_a_source_error() {
        let mut source = Scripted {
            chunks: vec![b"a"],
            fail_at_end: true,
        };
        let mut recorder = Recorder::default();
        let err = pump::all(&mut source, &mut recorder).unwrap_err();
        assert!(matches!(err, Error::Closed));
        assert_eq!(recorder.chunks, [b"a".to_vec()]);
        assert_eq!(recorder.finished, 0);
    }

    #[test]
    fn trait_objects_compose() {
        let mut source: Box<dyn Source> = Box::new(BytesSource::new(b"ab".to_vec()));
        let filter: Box<dyn Filter> = Box::new(upper());
        let mut sink: Box<dyn Sink> = Box::new(FilteredSink::new(filter, NullSink));
        pump::all(&mut source, &mut sink).unwrap();
        let mut collected = FilteredSink::new(upper(), Vec::new());
        pump::all(&mut BytesSource::new(b"cd".to_vec()), &mut collected).unwrap();
        assert_eq!(collected.into_inner(), b"CD");
    }
}
