//! Decoding the `CodeGeneratorRequest` without losing custom options.
//!
//! prost-types' `FileDescriptorProto` drops extension options, so the files are kept as raw
//! bytes and handed to prost-reflect, which keeps them.
//!
//! Each file's `source_code_info` (every element's position and comments, often most of a
//! file's bytes) is cut out before the pool is built and kept apart, encoded: building the pool
//! with it took half of the plugin's time, and only the files whose positions or comments are
//! asked for need it decoded.

use std::collections::HashMap;

use crate::source::SourceIndex;
use prost::Message;
use prost::encoding::{WireType, decode_key, decode_varint};
use prost_reflect::DescriptorPool;

/// `google.protobuf.compiler.CodeGeneratorRequest` with the files left encoded.
#[derive(Clone, PartialEq, Message)]
struct RawRequest {
    #[prost(string, repeated, tag = "1")]
    file_to_generate: Vec<String>,
    #[prost(string, optional, tag = "2")]
    parameter: Option<String>,
    #[prost(bytes = "vec", repeated, tag = "15")]
    proto_file: Vec<Vec<u8>>,
}

/// What the plugin needs from a request.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) files_to_generate: Vec<String>,
    pub(crate) parameter: String,
    pub(crate) pool: DescriptorPool,
    pub(crate) sources: Sources,
}

/// The `source_code_info` of each file, encoded, by file name.
#[derive(Debug, Default)]
pub(crate) struct Sources(HashMap<String, Vec<u8>>);

impl Sources {
    /// The positions and comments of `file`: none when the request carries no source info for
    /// it.
    pub(crate) fn index(&self, file: &str) -> SourceIndex<'_> {
        self.0
            .get(file)
            .map(|info| SourceIndex::new(info))
            .unwrap_or_default()
    }

    /// Adds the encoded source info of `file`.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, file: &str, info: Vec<u8>) {
        self.0.insert(file.to_owned(), info);
    }
}

/// The request is not a `CodeGeneratorRequest` the plugin can use.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The bytes are not a `CodeGeneratorRequest`.
    #[error("the input is not a CodeGeneratorRequest: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The files in the request do not form a valid descriptor set.
    #[error("the request's files are not valid descriptors: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    /// A file's `syntax` is neither `proto2` nor `proto3` (`editions`, say).
    #[error("{file}: syntax `{syntax}` is not supported; use proto2 or proto3")]
    UnsupportedSyntax {
        /// The file's name.
        file: String,
        /// Its `syntax` field.
        syntax: String,
    },
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Request, RequestError> {
    let raw = RawRequest::decode(bytes)?;
    // A FileDescriptorSet is `repeated FileDescriptorProto file = 1`: re-frame the files as
    // one, byte for byte.
    let mut set = Vec::with_capacity(raw.proto_file.iter().map(|f| f.len() + 8).sum());
    let mut sources = Sources::default();
    for file in &raw.proto_file {
        match split_source_info(file) {
            // prost-reflect 0.16 panics (an index out of bounds while labelling the error) on
            // a file whose `syntax` it does not know, instead of returning an error; found by
            // the `plugin_request` fuzz target. Refuse such files before it sees them.
            Some(SplitFile {
                name,
                syntax: Some(syntax),
                ..
            }) if syntax != "proto2" && syntax != "proto3" => {
                return Err(RequestError::UnsupportedSyntax { file: name, syntax });
            }
            Some(SplitFile {
                name, rest, info, ..
            }) => {
                prost::encoding::bytes::encode(1, &rest, &mut set);
                if let Some(info) = info {
                    sources.0.insert(name, info.to_vec());
                }
            }
            // Not something this scan reads: the pool's own decoding says what is wrong.
            None => prost::encoding::bytes::encode(1, file, &mut set),
        }
    }
    let pool = DescriptorPool::decode(set.as_slice())?;
    Ok(Request {
        files_to_generate: raw.file_to_generate,
        parameter: raw.parameter.unwrap_or_default(),
        pool,
        sources,
    })
}

/// An encoded `FileDescriptorProto` split into its name (field 1), its `syntax` (field 12), the
/// file without its `source_code_info` (field 9), and that field's bytes; `None` when the top
/// level does not scan as protobuf fields (the pool's own decoding then says what is wrong).
fn split_source_info(file: &[u8]) -> Option<SplitFile<'_>> {
    let mut rest = Vec::with_capacity(file.len());
    let mut name = String::new();
    let mut syntax = None;
    let mut info = None;
    let mut buf = file;
    while !buf.is_empty() {
        let start = file.len() - buf.len();
        let (tag, wire_type) = decode_key(&mut buf).ok()?;
        let value = match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).ok()?;
                None
            }
            WireType::LengthDelimited => {
                let len = usize::try_from(decode_varint(&mut buf).ok()?).ok()?;
                let value = buf.get(..len)?;
                buf = &buf[len..];
                Some(value)
            }
            WireType::SixtyFourBit => {
                buf = buf.get(8..)?;
                None
            }
            WireType::ThirtyTwoBit => {
                buf = buf.get(4..)?;
                None
            }
            WireType::StartGroup | WireType::EndGroup => return None,
        };
        match (tag, value) {
            (1, Some(value)) => name = String::from_utf8(value.to_vec()).ok()?,
            (12, Some(value)) => syntax = Some(String::from_utf8(value.to_vec()).ok()?),
            (9, Some(value)) => {
                info = Some(value);
                continue;
            }
            _ => {}
        }
        rest.extend_from_slice(&file[start..file.len() - buf.len()]);
    }
    Some(SplitFile {
        name,
        syntax,
        rest,
        info,
    })
}

/// A file descriptor with its source info cut out.
struct SplitFile<'a> {
    name: String,
    syntax: Option<String>,
    rest: Vec<u8>,
    info: Option<&'a [u8]>,
}

/// Encodes a `CodeGeneratorRequest` for `files` from an encoded `FileDescriptorSet` holding
/// them and everything they import, in dependency order (what protox and `protoc
/// --include_imports --descriptor_set_out` write).
pub fn request_from_descriptor_set(
    descriptor_set: &[u8],
    files_to_generate: &[String],
    parameter: &str,
) -> Result<Vec<u8>, prost::DecodeError> {
    #[derive(Clone, PartialEq, Message)]
    struct RawSet {
        #[prost(bytes = "vec", repeated, tag = "1")]
        file: Vec<Vec<u8>>,
    }
    let set = RawSet::decode(descriptor_set)?;
    Ok(RawRequest {
        file_to_generate: files_to_generate.to_vec(),
        parameter: (!parameter.is_empty()).then(|| parameter.to_owned()),
        proto_file: set.file,
    }
    .encode_to_vec())
}
