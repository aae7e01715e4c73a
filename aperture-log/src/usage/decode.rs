//! Incremental decoding of the observed copy: `gzip` (also a bare `1f 8b` magic), `deflate`
//! (zlib, or raw deflate when the bytes have no zlib header) and `br`.
//!
//! Output is handed to a sink in pieces; each step is bounded (input is fed in small slices and
//! the sink refuses more than [`STEP_LIMIT`] bytes per slice), so a decompression bomb cannot
//! make the observer buffer without limit. A decoding error stops decoding for good.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

/// Compressed bytes fed to a decoder in one step.
const INPUT_SLICE: usize = 4096;
/// Decoded bytes one step may produce before decoding is abandoned.
pub(crate) const STEP_LIMIT: usize = 16 << 20;

/// A `Vec` that refuses to grow past [`STEP_LIMIT`] between drains.
#[derive(Debug, Default)]
pub(crate) struct Sink(Vec<u8>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.len() + buf.len() > STEP_LIMIT {
            return Err(io::Error::other("decoded step too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The declared encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Declared {
    /// None or `identity`: decoded only if the bytes start with the gzip magic.
    Identity,
    Gzip,
    Deflate,
    Brotli,
    /// Something we cannot decode (`zstd`, `compress`, several codings).
    Unsupported,
}

enum State {
    /// Waiting for two bytes to choose a decoder.
    Sniff(Declared, Vec<u8>),
    Plain,
    Gzip(Box<MultiGzDecoder<Sink>>),
    Zlib(Box<ZlibDecoder<Sink>>),
    Deflate(Box<DeflateDecoder<Sink>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Sink>>),
    /// Finished: nothing more is written (flate2 may panic on writes after finishing).
    Done,
    Failed,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            State::Sniff(..) => "Sniff",
            State::Plain => "Plain",
            State::Gzip(_) => "Gzip",
            State::Zlib(_) => "Zlib",
            State::Deflate(_) => "Deflate",
            State::Brotli(_) => "Brotli",
            State::Done => "Done",
            State::Failed => "Failed",
        };
        f.write_str(name)
    }
}

/// An incremental decoder for one response body.
#[derive(Debug)]
pub(crate) struct Decoder {
    state: State,
}

impl Decoder {
    /// A decoder for a `Content-Encoding` value (case-insensitive; `x-gzip` is gzip).
    pub(crate) fn new(content_encoding: Option<&str>) -> Self {
        let declared = match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
            None => Declared::Identity,
            Some(e) => match e.as_str() {
                "" | "identity" => Declared::Identity,
                "gzip" | "x-gzip" => Declared::Gzip,
                "deflate" => Declared::Deflate,
                "br" => Declared::Brotli,
                _ => Declared::Unsupported,
            },
        };
        let state = match declared {
            Declared::Unsupported => State::Failed,
            Declared::Brotli => State::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(Sink::default(), 4096),
            )),
            d => State::Sniff(d, Vec::new()),
        };
        Self { state }
    }

    /// Whether decoding failed (bad data, unsupported coding, or a bomb).
    #[cfg(test)]
    pub(crate) fn failed(&self) -> bool {
        matches!(self.state, State::Failed)
    }

    /// Decodes `input`, passing decoded pieces to `sink`.
    pub(crate) fn push(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) {
        if input.is_empty() {
            return;
        }
        if let State::Sniff(declared, buf) = &mut self.state {
            buf.extend_from_slice(input);
            if buf.len() < 2 {
                return;
            }
            let head = std::mem::take(buf);
            self.state = choose(*declared, &head);
            self.feed(&head, sink);
        } else {
            self.feed(input, sink);
        }
    }

    /// Ends the body: flushes what the decoder still holds.
    pub(crate) fn finish(&mut self, sink: &mut dyn FnMut(&[u8])) {
        if let State::Sniff(declared, buf) = &mut self.state {
            let head = std::mem::take(buf);
            self.state = choose(*declared, &head);
            self.feed(&head, sink);
        }
        let result = match &mut self.state {
            State::Gzip(d) => d.try_finish().map(|()| drain(d.get_mut(), sink)),
            State::Zlib(d) => d.try_finish().map(|()| drain(d.get_mut(), sink)),
            State::Deflate(d) => d.try_finish().map(|()| drain(d.get_mut(), sink)),
            State::Brotli(d) => d.close().map(|()| drain(d.get_mut(), sink)),
            _ => Ok(()),
        };
        self.state = match (result, &self.state) {
            (Err(_), _) | (_, State::Failed) => State::Failed,
            _ => State::Done,
        };
    }

    fn feed(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) {
        match &mut self.state {
            State::Plain => {
                sink(input);
                return;
            }
            State::Failed | State::Done | State::Sniff(..) => return,
            _ => {}
        }
        for slice in input.chunks(INPUT_SLICE) {
            let ok = match &mut self.state {
                State::Gzip(d) => write_slice(d.as_mut(), slice, sink),
                State::Zlib(d) => write_slice(d.as_mut(), slice, sink),
                State::Deflate(d) => write_slice(d.as_mut(), slice, sink),
                State::Brotli(d) => write_slice(d.as_mut(), slice, sink),
                _ => true,
            };
            if !ok {
                self.state = State::Failed;
                return;
            }
        }
    }
}

/// What the first bytes say.
fn choose(declared: Declared, head: &[u8]) -> State {
    let gzip_magic = head.starts_with(&[0x1f, 0x8b]);
    match declared {
        Declared::Gzip => State::Gzip(Box::new(MultiGzDecoder::new(Sink::default()))),
        Declared::Identity if gzip_magic => {
            State::Gzip(Box::new(MultiGzDecoder::new(Sink::default())))
        }
        Declared::Identity => State::Plain,
        Declared::Deflate if gzip_magic => {
            State::Gzip(Box::new(MultiGzDecoder::new(Sink::default())))
        }
        Declared::Deflate if is_zlib_header(head) => {
            State::Zlib(Box::new(ZlibDecoder::new(Sink::default())))
        }
        Declared::Deflate => State::Deflate(Box::new(DeflateDecoder::new(Sink::default()))),
        Declared::Brotli => State::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
            Sink::default(),
            4096,
        ))),
        Declared::Unsupported => State::Failed,
    }
}

/// RFC 1950: method 8, window ≤ 32K, header checksum.
fn is_zlib_header(head: &[u8]) -> bool {
    match head {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) * 256 + u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// A write-side decoder whose inner writer is a [`Sink`].
trait SinkWriter: Write {
    fn sink(&mut self) -> &mut Sink;
}

impl SinkWriter for MultiGzDecoder<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
}

impl SinkWriter for ZlibDecoder<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
}

impl SinkWriter for DeflateDecoder<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
}

impl SinkWriter for brotli_decompressor::DecompressorWriter<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
}

/// Writes one slice fully, draining decoded output after every step. False on error.
fn write_slice(w: &mut dyn SinkWriter, mut slice: &[u8], sink: &mut dyn FnMut(&[u8])) -> bool {
    while !slice.is_empty() {
        match w.write(slice) {
            Ok(0) => {
                // The stream ended; trailing bytes are ignored.
                drain(w.sink(), sink);
                return true;
            }
            Ok(n) => slice = &slice[n..],
            Err(_) => return false,
        }
        drain(w.sink(), sink);
    }
    // flate2 keeps the last step's output in its own buffer until the next call.
    if w.flush().is_err() {
        return false;
    }
    drain(w.sink(), sink);
    true
}

fn drain(buf: &mut Sink, sink: &mut dyn FnMut(&[u8])) {
    if !buf.0.is_empty() {
        sink(&buf.0);
        buf.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};

    fn decode(enc: Option<&str>, data: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut d = Decoder::new(enc);
        let mut out = Vec::new();
        for c in data.chunks(step.max(1)) {
            d.push(c, &mut |b| out.extend_from_slice(b));
        }
        d.finish(&mut |b| out.extend_from_slice(b));
        (out, d.failed())
    }

    #[test]
    fn gzip_declared_and_sniffed() {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"hello gzip world").unwrap();
        let gz = e.finish().unwrap();
        for enc in [Some("gzip"), None, Some("identity")] {
            for step in [1, 2, 3, 1000] {
                assert_eq!(
                    decode(enc, &gz, step),
                    (b"hello gzip world".to_vec(), false)
                );
            }
        }
    }

    #[test]
    fn deflate_zlib_and_raw() {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"zlib body").unwrap();
        let z = e.finish().unwrap();
        assert_eq!(decode(Some("deflate"), &z, 1).0, b"zlib body");
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"raw body").unwrap();
        let r = e.finish().unwrap();
        assert_eq!(decode(Some("Deflate"), &r, 5).0, b"raw body");
    }

    #[test]
    fn brotli_uncompressed_meta_block() {
        // "hello\n" as a brotli stream (from the brotli-decompressor test suite).
        let br = b"\x8f\x02\x80\x68\x65\x6c\x6c\x6f\x0a\x03";
        for step in [1, 4, 100] {
            assert_eq!(decode(Some("br"), br, step), (b"hello\n".to_vec(), false));
        }
    }

    #[test]
    fn garbage_fails_without_panicking() {
        assert!(decode(Some("gzip"), b"\x1f\x8bnot really gzip at all", 3).1);
        assert!(decode(Some("zstd"), b"abc", 3).1);
        assert_eq!(decode(None, b"plain", 2), (b"plain".to_vec(), false));
    }
}
