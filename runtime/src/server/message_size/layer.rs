use tower_layer::Layer;

use super::service::MessageSizeLimit;

/// Layer that puts one ceiling on the size of every inbound gRPC message, for every service on
/// the server.
///
/// tonic limits the messages a service decodes (`max_decoding_message_size` on each generated
/// server, 4 MiB unless set), but that is a per-service setting: a service mounted with a raised
/// limit, or without a generated server at all, has its own. [`MessageSizeLimitLayer`] reads the
/// 5-byte length prefix of each message in the request body as it arrives and ends the call with
/// `RESOURCE_EXHAUSTED` (the code gRPC's status-code guide gives to a message over the
/// configured limit) as soon as a prefix declares more than the limit, before the message is
/// buffered. tonic's own per-service limit, when it is lower, still applies and answers
/// `OUT_OF_RANGE`.
///
/// The prefix gives the message's size on the wire: a compressed message is limited before it
/// is decompressed, and tonic's per-service limit bounds what it decompresses to.
#[derive(Debug, Clone, Copy)]
pub struct MessageSizeLimitLayer {
    max: usize,
}

impl MessageSizeLimitLayer {
    /// Refuses every inbound message whose length prefix is larger than `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max }
    }

    /// The largest message let through, in bytes.
    pub fn max(&self) -> usize {
        self.max
    }
}

impl<S> Layer<S> for MessageSizeLimitLayer {
    type Service = MessageSizeLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageSizeLimit::new(inner, self.max)
    }
}
