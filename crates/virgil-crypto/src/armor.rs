//! ASCII armor for envelopes (docs/format.md §11): a header line, base64 in lines of 64
//! characters, a footer line. Streaming in both directions, with bounded line lengths.
//!
//! ```
//! use std::io::{Read as _, Write as _};
//! use virgil_crypto::armor::{ArmorReader, ArmorWriter};
//!
//! let mut writer = ArmorWriter::new(Vec::new())?;
//! writer.write_all(b"an envelope's bytes")?;
//! let text = writer.finish()?;
//! assert!(text.starts_with(b"-----BEGIN VIRGIL MESSAGE-----\n"));
//!
//! let mut bytes = Vec::new();
//! ArmorReader::new(&text[..])?.read_to_end(&mut bytes)?;
//! assert_eq!(bytes, b"an envelope's bytes");
//! # Ok::<(), std::io::Error>(())
//! ```

use alloc::format;
use alloc::vec::Vec;
use std::io::{self, BufRead, Read, Write};

/// The first line of an armored message.
pub const BEGIN: &str = "-----BEGIN VIRGIL MESSAGE-----";
/// The last line of an armored message.
pub const END: &str = "-----END VIRGIL MESSAGE-----";
/// Bytes per line (64 base64 characters).
const LINE_BYTES: usize = 48;
/// The longest line a reader accepts (64 characters, CR LF, and some slack).
const MAX_LINE: u64 = 128;

/// Armors what is written to it; call [`ArmorWriter::finish`] at the end. Output is
/// buffered (about 64 KiB), so the inner writer need not be.
pub struct ArmorWriter<W: Write> {
    out: W,
    /// Input bytes of an incomplete line (< 48).
    pending: Vec<u8>,
    /// Encoded lines not yet written to `out`.
    text: Vec<u8>,
}

/// Encoded text is handed to the inner writer in pieces of about this size.
const TEXT_BUFFER: usize = 64 * 1024;

fn encode_line(bytes: &[u8], text: &mut Vec<u8>) {
    use base64::Engine as _;
    let start = text.len();
    text.resize(start + bytes.len().div_ceil(3) * 4, 0);
    if let Some(line) = text.get_mut(start..) {
        // The slice has exactly the encoded length, so this cannot fail.
        let _ = base64::engine::general_purpose::STANDARD.encode_slice(bytes, line);
    }
    text.push(b'\n');
}

impl<W: Write> ArmorWriter<W> {
    /// Starts the armor (the header line is written with the first data).
    pub fn new(out: W) -> io::Result<Self> {
        let mut text = Vec::with_capacity(TEXT_BUFFER + 128);
        text.extend_from_slice(BEGIN.as_bytes());
        text.push(b'\n');
        Ok(Self {
            out,
            pending: Vec::with_capacity(LINE_BYTES),
            text,
        })
    }

    /// Writes the last line and the footer, flushes; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            encode_line(&self.pending, &mut self.text);
        }
        self.text.extend_from_slice(END.as_bytes());
        self.text.push(b'\n');
        self.out.write_all(&self.text)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ArmorWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let written = data.len();
        if !self.pending.is_empty() {
            let take = (LINE_BYTES - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
            if self.pending.len() == LINE_BYTES {
                encode_line(&self.pending, &mut self.text);
                self.pending.clear();
            }
        }
        let mut lines = data.chunks_exact(LINE_BYTES);
        for line in &mut lines {
            encode_line(line, &mut self.text);
            if self.text.len() >= TEXT_BUFFER {
                self.out.write_all(&self.text)?;
                self.text.clear();
            }
        }
        self.pending.extend_from_slice(lines.remainder());
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.text)?;
        self.text.clear();
        self.out.flush()
    }
}

/// Reads an armored message, yielding the envelope's bytes. Any deviation from
/// docs/format.md §11 is an [`io::ErrorKind::InvalidData`] error.
pub struct ArmorReader<R: BufRead> {
    input: R,
    /// The current line, reused.
    line: Vec<u8>,
    /// The current line's bytes: `decoded[position..length]` are still to serve.
    decoded: [u8; LINE_BYTES],
    position: usize,
    length: usize,
    /// A short line was seen: only the footer may follow.
    last_line_seen: bool,
    done: bool,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("armor: {message}"))
}

impl<R: BufRead> ArmorReader<R> {
    /// Checks the header line.
    pub fn new(mut input: R) -> io::Result<Self> {
        let mut line = Vec::with_capacity(MAX_LINE as usize);
        if !read_line(&mut input, &mut line)? || line != BEGIN.as_bytes() {
            return Err(invalid("missing the BEGIN VIRGIL MESSAGE line"));
        }
        Ok(Self {
            input,
            line,
            decoded: [0; LINE_BYTES],
            position: 0,
            length: 0,
            last_line_seen: false,
            done: false,
        })
    }
}

/// Reads one line into `line`, without its line ending; `false` at the end of input.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<bool> {
    line.clear();
    let read = input.take(MAX_LINE).read_until(b'\n', line)?;
    if read == 0 {
        return Ok(false);
    }
    if line.last() != Some(&b'\n') && read as u64 == MAX_LINE {
        return Err(invalid("line too long"));
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(true)
}

impl<R: BufRead> Read for ArmorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use base64::Engine as _;
        while self.position == self.length {
            if self.done {
                return Ok(0);
            }
            if !read_line(&mut self.input, &mut self.line)? {
                return Err(invalid("cut short: no END VIRGIL MESSAGE line"));
            }
            if self.line == END.as_bytes() {
                self.done = true;
                return Ok(0);
            }
            if self.last_line_seen {
                return Err(invalid("data after a short line"));
            }
            if self.line.len() > LINE_BYTES / 3 * 4 {
                return Err(invalid("line too long"));
            }
            let length = base64::engine::general_purpose::STANDARD
                .decode_slice(&self.line, &mut self.decoded)
                .map_err(|_| invalid("a line is not base64"))?;
            self.last_line_seen = length < LINE_BYTES;
            self.length = length;
            self.position = 0;
        }
        let available = self
            .decoded
            .get(self.position..self.length)
            .unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    fn armor(data: &[u8]) -> Vec<u8> {
        let mut writer = ArmorWriter::new(Vec::new()).unwrap();
        writer.write_all(data).unwrap();
        writer.finish().unwrap()
    }

    fn unarmor(text: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        ArmorReader::new(text)?.read_to_end(&mut out)?;
        Ok(out)
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(unarmor(&armor(&data)).unwrap(), data);
        }

        #[test]
        fn arbitrary_text_never_panics(text in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut input = BEGIN.as_bytes().to_vec();
            input.push(b'\n');
            input.extend_from_slice(&text);
            let _ = unarmor(&input);
        }
    }

    #[test]
    fn lines_are_64_characters_and_damage_is_caught() {
        let text = armor(&[7u8; 100]);
        let lines: Vec<&str> = std::str::from_utf8(&text).unwrap().lines().collect();
        assert_eq!(lines.first(), Some(&BEGIN));
        assert_eq!(lines.get(1).map(|l| l.len()), Some(64));
        assert_eq!(lines.last(), Some(&END));
        let without_footer = &text[..text.len() - END.len() - 1];
        assert!(unarmor(without_footer).is_err(), "truncation is an error");
        let mut swapped = lines.clone();
        swapped.swap(1, 3);
        assert!(
            unarmor(swapped.join("\n").as_bytes()).is_err(),
            "a short line must be last"
        );
        assert!(unarmor(b"hello\n").is_err());
    }
}
