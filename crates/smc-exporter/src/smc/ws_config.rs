//! The WebSocket buffers of a subscription socket, sized to the traffic.
//!
//! What tungstenite 0.30 allocates per socket (`protocol/frame/mod.rs`):
//!
//! - **read buffer**: `read_buffer_size` bytes, allocated when the socket is
//!   made and zero-filled on the first read, so resident at once (default
//!   128 KiB: most of the ~150 KB an idle subscription cost). A frame larger
//!   than it grows the buffer to the frame's size, and the buffer keeps that
//!   size for the socket's life; `max_frame_size` bounds it.
//! - **write buffer**: grows to the frames queued; `write_buffer_size` is only
//!   how much is collected before writing (every `send` flushes anyway), and
//!   `max_write_buffer_size` caps what may pile up while the peer does not
//!   read (default: no cap).
//!
//! A subscription receives SMC frames of a few hundred bytes (live deltas) to
//! a few tens of KB (snapshot batches of up to 200 rows), and sends a query,
//! aborts and pings, all small (the SMC closes with 1009 any client frame
//! above 8192 bytes). So: an 8 KiB read buffer (a live delta in one read; a
//! snapshot batch grows it to its size, as it must), eager writes, and at
//! most 64 KiB waiting to be written (a send beyond that fails and the
//! subscription reconnects).

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Initial read buffer (tungstenite's default: 128 KiB).
pub const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Bytes collected before a write: 0 = write each frame at once.
pub const WRITE_BUFFER_BYTES: usize = 0;
/// Most bytes waiting to be written (tungstenite's default: unlimited).
pub const MAX_WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The configuration of a subscription socket refusing frames and messages
/// above `max_frame_bytes`.
pub fn subscription_socket(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
        .max_message_size(Some(max_frame_bytes))
        .max_frame_size(Some(max_frame_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_small_and_limits_kept() {
        let c = subscription_socket(1 << 20);
        assert_eq!(c.read_buffer_size, 8192);
        assert_eq!(c.write_buffer_size, 0);
        assert_eq!(c.max_write_buffer_size, 65536);
        assert_eq!(c.max_message_size, Some(1 << 20));
        assert_eq!(c.max_frame_size, Some(1 << 20));
        assert!(!c.accept_unmasked_frames);
    }

    #[test]
    fn the_largest_frame_the_smc_accepts_fits_the_write_cap() {
        // tungstenite panics on a config whose cap is not above the write
        // buffer, and a query the SMC accepts (<= 8192 bytes) must fit.
        let c = subscription_socket(1 << 20);
        assert!(c.max_write_buffer_size > c.write_buffer_size + 8192 + 14);
    }
}
