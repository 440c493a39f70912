use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Frame, SizeHint};
use tonic::Status;
use tonic::codegen::Bytes;

/// The length of the prefix of every gRPC message: a compression flag and a big-endian `u32`.
const PREFIX_LEN: usize = 5;

pin_project_lite::pin_project! {
    /// A request body that fails with `RESOURCE_EXHAUSTED` at the first gRPC message whose
    /// length prefix is larger than the limit; made by
    /// [`MessageSizeLimit`](super::MessageSizeLimit). The messages before it are passed on
    /// whole, so the handler sees them as it would under tonic's own limit.
    pub struct MessageLimitedBody<B> {
        #[pin]
        inner: B,
        framing: Framing,
        state: State,
    }
}

#[derive(Debug)]
enum State {
    Open,
    /// The bytes before the oversized message went out; the error goes next.
    Refusing(Status),
    Refused,
}

impl<B> MessageLimitedBody<B> {
    /// Wraps a request body, refusing messages larger than `max` bytes.
    pub fn new(inner: B, max: usize) -> Self {
        Self {
            inner,
            framing: Framing::new(max),
            state: State::Open,
        }
    }
}

impl<B> std::fmt::Debug for MessageLimitedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageLimitedBody")
            .field("max", &self.framing.max)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<B> http_body::Body for MessageLimitedBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.project();
        match std::mem::replace(this.state, State::Refused) {
            State::Open => *this.state = State::Open,
            State::Refusing(status) => return Poll::Ready(Some(Err(status))),
            State::Refused => return Poll::Ready(None),
        }
        let frame = match std::task::ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(Status::from_error(error.into())))),
            None => return Poll::Ready(None),
        };
        let Some(data) = frame.data_ref() else {
            return Poll::Ready(Some(Ok(frame)));
        };
        let Err(oversized) = this.framing.feed(data) else {
            return Poll::Ready(Some(Ok(frame)));
        };
        let max = this.framing.max;
        let status = Status::resource_exhausted(format!(
            "message of {} bytes is larger than the server's limit of {max} bytes",
            oversized.len
        ));
        if oversized.starts_at == 0 {
            return Poll::Ready(Some(Err(status)));
        }
        // Pass on the whole messages before the oversized one, then refuse.
        let before = data.slice(..oversized.starts_at);
        *this.state = State::Refusing(status);
        Poll::Ready(Some(Ok(Frame::data(before))))
    }

    fn is_end_stream(&self) -> bool {
        match self.state {
            State::Open => self.inner.is_end_stream(),
            State::Refusing(_) => false,
            State::Refused => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Open => self.inner.size_hint(),
            State::Refusing(_) | State::Refused => SizeHint::default(),
        }
    }
}

/// Follows the gRPC message framing across the chunks of a body.
#[derive(Debug, Clone)]
struct Framing {
    max: usize,
    prefix: [u8; PREFIX_LEN],
    /// How many bytes of the current prefix have arrived.
    prefix_read: usize,
    /// How many bytes of the current message are still to come.
    remaining: usize,
}

/// The first message over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Oversized {
    /// The length its prefix declares.
    len: usize,
    /// Where its prefix starts in the chunk that completed it (0 when it started in an
    /// earlier chunk).
    starts_at: usize,
}

impl Framing {
    fn new(max: usize) -> Self {
        Self {
            max,
            prefix: [0; PREFIX_LEN],
            prefix_read: 0,
            remaining: 0,
        }
    }

    /// Reads the next chunk of the body, up to the first message over the limit.
    fn feed(&mut self, chunk: &[u8]) -> Result<(), Oversized> {
        let mut at = 0;
        while at < chunk.len() {
            if self.remaining > 0 {
                let skipped = self.remaining.min(chunk.len() - at);
                self.remaining -= skipped;
                at += skipped;
                continue;
            }
            let starts_at = at.saturating_sub(self.prefix_read);
            let taken = (PREFIX_LEN - self.prefix_read).min(chunk.len() - at);
            self.prefix[self.prefix_read..self.prefix_read + taken]
                .copy_from_slice(&chunk[at..at + taken]);
            self.prefix_read += taken;
            at += taken;
            if self.prefix_read == PREFIX_LEN {
                self.prefix_read = 0;
                let [_, a, b, c, d] = self.prefix;
                let len = u32::from_be_bytes([a, b, c, d]) as usize;
                if len > self.max {
                    return Err(Oversized { len, starts_at });
                }
                self.remaining = len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Framing, Oversized, PREFIX_LEN};

    fn message(len: u32) -> Vec<u8> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.resize(PREFIX_LEN + len as usize, 0xAB);
        bytes
    }

    #[test]
    fn messages_at_the_limit_pass_in_any_chunking() {
        let body: Vec<u8> = [message(10), message(0), message(10), message(3)].concat();
        for chunk_size in 1..=body.len() {
            let mut framing = Framing::new(10);
            for chunk in body.chunks(chunk_size) {
                assert_eq!(framing.feed(chunk), Ok(()), "chunks of {chunk_size}");
            }
            assert_eq!((framing.prefix_read, framing.remaining), (0, 0));
        }
    }

    #[test]
    fn the_first_message_over_the_limit_is_found_where_it_starts_in_any_chunking() {
        let body: Vec<u8> = [message(10), message(11), message(1)].concat();
        let oversized_at = 15;
        for chunk_size in 1..=body.len() {
            let mut framing = Framing::new(10);
            let mut passed = 0;
            let mut found = None;
            for chunk in body.chunks(chunk_size) {
                match framing.feed(chunk) {
                    Ok(()) => passed += chunk.len(),
                    Err(oversized) => {
                        found = Some(oversized);
                        break;
                    }
                }
            }
            let found = found.unwrap_or_else(|| panic!("chunks of {chunk_size}: not found"));
            assert_eq!(found.len, 11, "chunks of {chunk_size}");
            // Everything before the oversized message is passed on; of it, at most the first
            // bytes of its prefix (when the prefix spans chunks), never its payload.
            let passed_on = passed + found.starts_at;
            assert!(
                (oversized_at..oversized_at + PREFIX_LEN).contains(&passed_on),
                "chunks of {chunk_size}: {found:?} after {passed}"
            );
        }
    }

    #[test]
    fn whole_messages_before_the_oversized_one_are_kept() {
        let body: Vec<u8> = [message(3), message(2), message(50)].concat();
        let mut framing = Framing::new(10);
        let oversized = Oversized {
            len: 50,
            starts_at: 15,
        };
        assert_eq!(framing.feed(&body), Err(oversized));
    }

    #[test]
    fn a_prefix_claiming_four_gibibytes_is_refused_before_its_payload() {
        let mut framing = Framing::new(4 << 20);
        let oversized = Oversized {
            len: u32::MAX as usize,
            starts_at: 0,
        };
        assert_eq!(framing.feed(&[0, 0xFF, 0xFF, 0xFF, 0xFF]), Err(oversized));

        let mut framing = Framing::new(4 << 20);
        assert_eq!(framing.feed(&[1, 0, 0x40, 0]), Ok(()));
        let oversized = Oversized {
            len: (4 << 20) + 1,
            starts_at: 0,
        };
        assert_eq!(framing.feed(&[1]), Err(oversized));
    }
}
