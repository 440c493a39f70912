//! Positions and leading comments of a file's elements, read from its encoded
//! `SourceCodeInfo` without decoding it into messages.
//!
//! A large request's source info is tens of thousands of locations; decoding each into a
//! `Location` (two vectors and up to three strings) cost more than all the plugin's other work.
//! The index keeps the bytes and maps each location's packed path, as it is on the wire, to the
//! location's position and comment.

use std::borrow::Cow;
use std::collections::HashMap;

use prost::encoding::{WireType, decode_key, decode_varint, encode_varint};

/// One file's locations by path.
#[derive(Debug, Default)]
pub(crate) struct SourceIndex<'a> {
    by_path: HashMap<Cow<'a, [u8]>, Entry<'a>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Entry<'a> {
    /// 1-based line and column of the last location of the path with a full span.
    position: Option<(usize, usize)>,
    /// The leading comment of the first location of the path, if it has one.
    comment: Option<&'a str>,
    /// Whether a location of the path has been seen (the first one decides the comment).
    commented: bool,
}

impl<'a> SourceIndex<'a> {
    /// The index of an encoded `SourceCodeInfo`; what does not scan is left out (it only costs
    /// positions and comments, never the generated code).
    pub(crate) fn new(info: &'a [u8]) -> Self {
        let mut index = Self::default();
        let mut buf = info;
        while let Ok((tag, wire_type)) = decode_key(&mut buf) {
            let Some(value) = field(&mut buf, wire_type) else {
                break;
            };
            if let (1, Some(location)) = (tag, value) {
                index.add(location);
            }
        }
        index
    }

    fn add(&mut self, location: &'a [u8]) {
        let mut path: Option<Cow<'a, [u8]>> = None;
        let mut span = Vec::new();
        let mut comment = None;
        let mut buf = location;
        while let Ok((tag, wire_type)) = decode_key(&mut buf) {
            if wire_type == WireType::Varint {
                // An unpacked element of `path` or `span`.
                let Ok(element) = decode_varint(&mut buf) else {
                    return;
                };
                match tag {
                    1 => {
                        let mut key = path.take().map(Cow::into_owned).unwrap_or_default();
                        encode_varint(element, &mut key);
                        path = Some(Cow::Owned(key));
                    }
                    2 => span.push(element),
                    _ => {}
                }
                continue;
            }
            let Some(value) = field(&mut buf, wire_type) else {
                return;
            };
            match (tag, value) {
                // Packed, as protoc writes it: the key is the bytes as they are.
                (1, Some(bytes)) => {
                    path = Some(match path.take() {
                        None => Cow::Borrowed(bytes),
                        Some(earlier) => {
                            let mut key = earlier.into_owned();
                            key.extend_from_slice(bytes);
                            Cow::Owned(key)
                        }
                    });
                }
                (2, Some(mut bytes)) => {
                    while span.len() < 3
                        && let Ok(v) = decode_varint(&mut bytes)
                    {
                        span.push(v);
                    }
                }
                (3, Some(bytes)) => comment = std::str::from_utf8(bytes).ok(),
                _ => {}
            }
        }
        let entry = self.by_path.entry(path.unwrap_or_default()).or_default();
        if span.len() >= 3 {
            // int32 values on the wire; a negative one is not a position.
            let at = |v: u64| usize::try_from(i32::try_from(v).unwrap_or(-1)).unwrap_or(0) + 1;
            entry.position = Some((at(span[0]), at(span[1])));
        }
        if !entry.commented {
            entry.commented = true;
            entry.comment = comment;
        }
    }

    /// The position of the element at `path`.
    pub(crate) fn position(&self, path: &[i32]) -> Option<(usize, usize)> {
        self.by_path.get(packed(path).as_slice())?.position
    }

    /// The leading comment of the element at `path`, if it has a non-empty one.
    pub(crate) fn comment(&self, path: &[i32]) -> Option<&'a str> {
        self.by_path
            .get(packed(path).as_slice())?
            .comment
            .filter(|c| !c.is_empty())
    }
}

/// `path` as a packed repeated `int32` field's bytes.
fn packed(path: &[i32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 2);
    for &element in path {
        // int32 is sign-extended to 64 bits on the wire.
        encode_varint(i64::from(element) as u64, &mut out);
    }
    out
}

/// Skips one field's value: `Some(Some(bytes))` for a length-delimited one, `Some(None)` for
/// the others, `None` when the buffer ends inside it or it is a group.
fn field<'a>(buf: &mut &'a [u8], wire_type: WireType) -> Option<Option<&'a [u8]>> {
    match wire_type {
        WireType::Varint => decode_varint(buf).ok().map(|_| None),
        WireType::LengthDelimited => {
            let len = usize::try_from(decode_varint(buf).ok()?).ok()?;
            let value = buf.get(..len)?;
            *buf = &buf[len..];
            Some(Some(value))
        }
        WireType::SixtyFourBit => {
            *buf = buf.get(8..)?;
            Some(None)
        }
        WireType::ThirtyTwoBit => {
            *buf = buf.get(4..)?;
            Some(None)
        }
        WireType::StartGroup | WireType::EndGroup => None,
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_types::SourceCodeInfo;
    use prost_types::source_code_info::Location;

    use super::*;

    fn location(path: &[i32], span: &[i32], comment: Option<&str>) -> Location {
        Location {
            path: path.to_vec(),
            span: span.to_vec(),
            leading_comments: comment.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn positions_take_the_last_full_span_and_comments_the_first_location() {
        let info = SourceCodeInfo {
            location: vec![
                location(&[6, 0], &[4, 0, 20, 1], Some(" The service.\n")),
                location(&[6, 0, 2, 300], &[9, 2, 40], None),
                location(&[6, 0, 2, 300], &[10, 4, 40], Some(" too late\n")),
                location(&[4, 1], &[30, 0], Some(" short span\n")),
                location(&[], &[0, 0, 50, 1], None),
            ],
        }
        .encode_to_vec();
        let index = SourceIndex::new(&info);
        assert_eq!(index.position(&[6, 0]), Some((5, 1)));
        assert_eq!(index.comment(&[6, 0]), Some(" The service.\n"));
        assert_eq!(index.position(&[6, 0, 2, 300]), Some((11, 5)));
        assert_eq!(index.comment(&[6, 0, 2, 300]), None);
        assert_eq!(index.position(&[4, 1]), None);
        assert_eq!(index.comment(&[4, 1]), Some(" short span\n"));
        assert_eq!(index.position(&[]), Some((1, 1)));
        assert_eq!(index.position(&[7]), None);
    }

    #[test]
    fn unpacked_paths_and_spans_are_read_too() {
        // Location { path: 4, 2 (unpacked), span: 3, 7, 9 (unpacked), leading_comments }
        let mut location = Vec::new();
        for (tag, value) in [(1u32, 4u64), (1, 2), (2, 3), (2, 7), (2, 9)] {
            prost::encoding::encode_key(tag, WireType::Varint, &mut location);
            encode_varint(value, &mut location);
        }
        prost::encoding::string::encode(3, &" c\n".to_owned(), &mut location);
        let mut info = Vec::new();
        prost::encoding::bytes::encode(1, &location, &mut info);
        let index = SourceIndex::new(&info);
        assert_eq!(index.position(&[4, 2]), Some((4, 8)));
        assert_eq!(index.comment(&[4, 2]), Some(" c\n"));
    }

    #[test]
    fn garbage_gives_an_empty_index() {
        for bytes in [&b"\xff\xff\xff"[..], b"\x0a\x05ab", b"\x0b"] {
            let index = SourceIndex::new(bytes);
            assert_eq!(index.position(&[]), None);
        }
    }
}
