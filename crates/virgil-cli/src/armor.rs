//! ASCII armor for envelopes: a header line, base64 in lines of 64 characters, a footer
//! line (docs/cli.md). Streaming in both directions, with bounded line lengths.

use std::io::{self, BufRead, Read, Write};
use virgil_crypto::encoding::{from_base64, to_base64};

/// The first line of an armored message.
pub(crate) const BEGIN: &str = "-----BEGIN VIRGIL MESSAGE-----";
/// The last line of an armored message.
pub(crate) const END: &str = "-----END VIRGIL MESSAGE-----";
/// Bytes per line (64 base64 characters).
const LINE_BYTES: usize = 48;
/// The longest line a reader accepts (64 characters, CR LF, and some slack).
const MAX_LINE: u64 = 128;

/// Armors what is written to it; call [`ArmorWriter::finish`] at the end.
pub(crate) struct ArmorWriter<W: Write> {
    out: W,
    pending: Vec<u8>,
}

impl<W: Write> ArmorWriter<W> {
    /// Writes the header line.
    pub(crate) fn new(mut out: W) -> io::Result<Self> {
        writeln!(out, "{BEGIN}")?;
        Ok(Self {
            out,
            pending: Vec::with_capacity(LINE_BYTES),
        })
    }

    /// Writes the last line and the footer; returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            writeln!(self.out, "{}", to_base64(&self.pending))?;
        }
        writeln!(self.out, "{END}")?;
        Ok(self.out)
    }
}

impl<W: Write> Write for ArmorWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let written = data.len();
        while !data.is_empty() {
            let take = (LINE_BYTES - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
            if self.pending.len() == LINE_BYTES {
                writeln!(self.out, "{}", to_base64(&self.pending))?;
                self.pending.clear();
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads an armored message, yielding the envelope's bytes.
pub(crate) struct ArmorReader<R: BufRead> {
    input: R,
    decoded: Vec<u8>,
    position: usize,
    /// A short line was seen: only the footer may follow.
    last_line_seen: bool,
    done: bool,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("armor: {message}"))
}

impl<R: BufRead> ArmorReader<R> {
    /// Checks the header line.
    pub(crate) fn new(mut input: R) -> io::Result<Self> {
        let line = read_line(&mut input)?;
        if line.as_deref() != Some(BEGIN) {
            return Err(invalid("missing the BEGIN VIRGIL MESSAGE line"));
        }
        Ok(Self {
            input,
            decoded: Vec::new(),
            position: 0,
            last_line_seen: false,
            done: false,
        })
    }
}

/// One line without its line ending; `None` at the end of input.
fn read_line(input: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut line = String::new();
    let read = input.take(MAX_LINE).read_line(&mut line)?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') && read as u64 == MAX_LINE {
        return Err(invalid("line too long"));
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

impl<R: BufRead> Read for ArmorReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.decoded.len() {
            if self.done {
                return Ok(0);
            }
            let line = read_line(&mut self.input)?
                .ok_or_else(|| invalid("cut short: no END VIRGIL MESSAGE line"))?;
            if line == END {
                self.done = true;
                return Ok(0);
            }
            if self.last_line_seen {
                return Err(invalid("data after a short line"));
            }
            let bytes = from_base64(&line).map_err(|_| invalid("a line is not base64"))?;
            if bytes.len() > LINE_BYTES {
                return Err(invalid("line too long"));
            }
            self.last_line_seen = bytes.len() < LINE_BYTES;
            self.decoded = bytes;
            self.position = 0;
        }
        let available = self.decoded.get(self.position..).unwrap_or_default();
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
