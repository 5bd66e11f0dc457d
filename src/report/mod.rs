//! Reports: models built from what the application gathered, and their renderers, one per
//! format, all writing to `dyn Write`. The one JSON writer and the one Markdown escaping live here.

pub mod check;
pub mod compliance;
pub mod diff;
pub mod history;
pub mod markdown;
pub mod metrics;
pub mod notify;
pub mod restore;

/// Whether text for a terminal is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Plain,
    /// ANSI colours (stdout is a terminal and `NO_COLOR` is not set, or `--color always`).
    Ansi,
}

use std::io::{self, Write};

use serde::Serialize;

/// Writes a JSON document pretty-printed, with a final newline. Documents are built from structs
/// and BTreeMaps, so the bytes are deterministic.
pub fn write_json(w: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    // Serialized in memory and written at once: a fleet's report is many MB of small pieces,
    // and each piece through `dyn Write` cost more than the serializing.
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    w.write_all(&bytes)
}

/// A JSON array written an element at a time, in the bytes `serde_json`'s pretty printer gives
/// the whole array (so a document too large to hold is still the same document). An element is
/// rendered on its own ([`pretty_element`], on any thread) and pushed in order.
#[derive(Debug, Default)]
pub struct PrettyArray {
    written: usize,
}

/// `value` pretty-printed as an element of an array whose elements stand `depth` levels (two
/// spaces each) in: every line after the first indented as the whole document would have it,
/// and the first line too.
pub fn pretty_element(value: &impl Serialize, depth: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    out.extend(std::iter::repeat_n(b' ', 2 * depth));
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        Nested {
            depth,
            has_value: false,
        },
    );
    value.serialize(&mut ser)?;
    Ok(out)
}

/// `serde_json`'s pretty printer (two spaces a level), starting `depth` levels in. Written out
/// here because serde_json's own `PrettyFormatter` always starts at the left margin: its text
/// would have to be indented again line by line, a second pass over a fleet's hundreds of MB.
/// A unit test holds the two to the same bytes.
struct Nested {
    depth: usize,
    has_value: bool,
}

impl Nested {
    fn newline(&self, w: &mut (impl io::Write + ?Sized)) -> io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        w.write_all(b"\n")?;
        let mut n = 2 * self.depth;
        while n > 0 {
            let take = n.min(SPACES.len());
            w.write_all(&SPACES[..take])?;
            n -= take;
        }
        Ok(())
    }

    fn open<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(bracket)
    }

    fn next<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }
}

impl serde_json::ser::Formatter for Nested {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.next(w, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.next(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

impl PrettyArray {
    /// Writes one element that [`pretty_element`] rendered, after those already written.
    pub fn push(&mut self, element: &[u8], w: &mut dyn Write) -> io::Result<()> {
        w.write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
        self.written += 1;
        w.write_all(element)
    }

    /// How many elements were written.
    pub fn len(&self) -> usize {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// Opens an array that is a whole document.
    pub fn open(w: &mut dyn Write) -> io::Result<PrettyArray> {
        w.write_all(b"[")?;
        Ok(PrettyArray::default())
    }

    /// Closes an array that is a whole document as [`write_json`] would (`[]` when empty), its
    /// final newline included.
    pub fn close(&self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(if self.is_empty() { b"]\n" } else { b"\n]\n" })
    }
}

/// The first 12 hex digits of a hash, as people read it.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::test_support::json_value;

    /// What [`pretty_element`] must give: serde_json's whole pretty text, indented line by line.
    fn indented(value: &Value, depth: usize) -> Vec<u8> {
        let text = serde_json::to_vec_pretty(value).unwrap();
        let mut out = Vec::new();
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend(std::iter::repeat_n(b' ', 2 * depth));
            out.extend_from_slice(line);
        }
        out
    }

    #[test]
    fn an_element_is_serde_jsons_pretty_text_indented() {
        let values = [
            json!(null),
            json!([]),
            json!({}),
            json!([[], {}, [[]], {"a": {}}]),
            json!({"a": [1, 2, {"b": [true, null, "x\ny"]}], "c": {"d": {"e": []}}}),
            json!("a string with \"quotes\" and\nbreaks"),
        ];
        for v in &values {
            for depth in [0, 1, 2, 40] {
                let got = pretty_element(v, depth).unwrap();
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    String::from_utf8(indented(v, depth)).unwrap(),
                    "{v} at depth {depth}"
                );
            }
        }
    }

    #[test]
    fn an_array_pushed_an_element_at_a_time_is_the_whole_array() {
        for n in [0, 1, 3] {
            let items: Vec<Value> = (0..n).map(|i| json!({"i": i, "l": [i]})).collect();
            let mut expected = Vec::new();
            write_json(&mut expected, &items).unwrap();
            let mut got = Vec::new();
            let mut array = PrettyArray::open(&mut got).unwrap();
            for item in &items {
                array
                    .push(&pretty_element(item, 1).unwrap(), &mut got)
                    .unwrap();
            }
            array.close(&mut got).unwrap();
            assert_eq!(array.len(), n);
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap()
            );
        }
    }

    proptest! {
        #[test]
        fn any_element_is_serde_jsons_pretty_text_indented(v in json_value(), depth in 0usize..4) {
            prop_assert_eq!(pretty_element(&v, depth).unwrap(), indented(&v, depth));
        }
    }
}
