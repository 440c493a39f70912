use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Frame, SizeHint};
use tonic::codegen::{Bytes, http};

use super::panic::{internal, report};

pin_project_lite::pin_project! {
    /// A response body that ends with `INTERNAL` trailers when the stream behind it panics; made
    /// by [`CatchPanic`](super::CatchPanic) for every response.
    pub struct CatchPanicBody<B> {
        #[pin]
        inner: B,
        method: String,
        panicked: bool,
    }
}

impl<B> CatchPanicBody<B> {
    /// Wraps the response body of a call to `method`.
    pub fn new(inner: B, method: String) -> Self {
        Self {
            inner,
            method,
            panicked: false,
        }
    }
}

impl<B> std::fmt::Debug for CatchPanicBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchPanicBody")
            .field("method", &self.method)
            .field("panicked", &self.panicked)
            .finish_non_exhaustive()
    }
}

impl<B> http_body::Body for CatchPanicBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        if *this.panicked {
            return Poll::Ready(None);
        }
        let inner = this.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll_frame(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                *this.panicked = true;
                report(this.method, payload.as_ref());
                // The response headers are out; the status goes in the trailers, as tonic ends
                // every streaming response.
                let mut trailers = http::HeaderMap::new();
                internal()
                    .add_header(&mut trailers)
                    .expect("a fixed ASCII status message is a valid header value");
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.panicked || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.panicked {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}
