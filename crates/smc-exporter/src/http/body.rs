//! The response body: shared bytes handed to hyper in slices, holding the
//! request's in-flight permit until the last slice is taken.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::sync::OwnedSemaphorePermit;

/// Bytes per frame. hyper asks for the next frame only once its write
/// buffer has room (about 400 KiB), so a large body is taken, and its permit
/// held, while it is being sent, not only while it is being rendered.
const SLICE: usize = 64 * 1024;

/// A body of known length. Slicing shares the buffer (no copy).
#[derive(Debug)]
pub(super) struct Body {
    rest: Bytes,
    permit: Option<OwnedSemaphorePermit>,
}

impl Body {
    pub(super) fn new(bytes: Bytes) -> Body {
        Body {
            rest: bytes,
            permit: None,
        }
    }

    /// Keep `permit` until the whole body has been taken (or dropped).
    pub(super) fn holding(mut self, permit: Option<OwnedSemaphorePermit>) -> Body {
        self.permit = permit;
        self
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            self.permit = None;
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(SLICE);
        let slice = self.rest.split_to(n);
        if self.rest.is_empty() {
            self.permit = None;
        }
        Poll::Ready(Some(Ok(Frame::data(slice))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;
    use tokio::sync::Semaphore;

    use super::*;

    #[tokio::test]
    async fn slices_share_the_buffer_and_release_the_permit_at_the_end() {
        let data = Bytes::from(vec![7u8; 2 * SLICE + 10]);
        let limit = Arc::new(Semaphore::new(1));
        let permit = limit.clone().try_acquire_owned().unwrap();
        let mut body = Body::new(data.clone()).holding(Some(permit));
        assert_eq!(
            hyper::body::Body::size_hint(&body).exact(),
            Some(data.len() as u64)
        );

        let mut lens = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            // A view into the same allocation.
            let offset = chunk.as_ptr() as usize - data.as_ptr() as usize;
            assert_eq!(offset, lens.iter().sum::<usize>());
            lens.push(chunk.len());
            let released = limit.available_permits() == 1;
            assert_eq!(released, lens.len() == 3, "after slice {}", lens.len());
        }
        assert_eq!(lens, [SLICE, SLICE, 10]);
        assert!(hyper::body::Body::is_end_stream(&body));
    }

    #[tokio::test]
    async fn an_empty_body_has_no_frame() {
        let mut body = Body::new(Bytes::new());
        assert!(hyper::body::Body::is_end_stream(&body));
        assert!(body.frame().await.is_none());
    }
}
