//! Reading REST answers: bodies read incrementally up to a cap, and
//! redirects described instead of followed.

use reqwest::Response;
use reqwest::header::LOCATION;

use super::{SessionError, req_err};

/// The largest REST response body the exporter reads (the versions list and
/// the entry points; a real SMC's are a few KiB). A larger body is refused
/// from its `Content-Length`, or after this many bytes when it has none: the
/// connection is dropped, the rest is never read.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A `Location` is shown up to this many bytes.
const LOCATION_SHOWN: usize = 256;

/// The body of `resp`, at most `limit` bytes. Holds at most `limit` plus one
/// network chunk in memory.
pub(crate) async fn read_capped(
    url: &str,
    mut resp: Response,
    limit: usize,
) -> Result<Vec<u8>, SessionError> {
    let too_large = || SessionError::BodyTooLarge {
        url: url.to_owned(),
        limit,
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| req_err(url, &e))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `to <where>` for a redirect answer, for its error message: the target
/// resolved against the request URL, without user info, query or fragment
/// (they may carry tokens), cut at [`LOCATION_SHOWN`] bytes.
pub(crate) fn redirect_target(resp: &Response) -> String {
    let Some(value) = resp.headers().get(LOCATION) else {
        return "without a Location header".into();
    };
    let target = value
        .to_str()
        .ok()
        .and_then(|v| resp.url().join(v).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let Some(mut target) = target else {
        return "to an unusable Location".into();
    };
    let _ = target.set_username("");
    let _ = target.set_password(None);
    target.set_query(None);
    target.set_fragment(None);
    let shown = target.as_str();
    let mut end = shown.len().min(LOCATION_SHOWN);
    while !shown.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < shown.len() { "…" } else { "" };
    format!("to {}{cut}", &shown[..end])
}
