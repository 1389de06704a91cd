//! What both ends of a document's transfer share: the byte-rate cap a
//! server's sessions (uploads) or a downloader's fetches draw from, the
//! chunk a capped transfer moves at a time, and the progress a running
//! transfer reports to whoever watches it. `server` and `client` import
//! it; neither imports the other.

use crate::state::throttle::TokenBucket;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Largest body chunk moved at once (an uncapped transfer).
pub const CHUNK: usize = 64 * 1024;

/// A byte-rate cap shared by every transfer of one side (a server's
/// uploads, a downloader's downloads).
pub type SharedBucket = Rc<RefCell<TokenBucket>>;

/// Waits until `bytes` may be moved under `bucket`.
pub async fn throttle(bucket: &SharedBucket, bytes: usize) {
    let wait = bucket.borrow_mut().reserve(bytes, Instant::now());
    if !wait.is_zero() {
        actix_rt::time::sleep(wait).await;
    }
}

/// The chunk a capped transfer moves at a time: about a tenth of a
/// second's worth, between 1 KiB and [`CHUNK`].
pub fn throttle_chunk(rate_bytes_per_sec: u64) -> usize {
    usize::try_from(rate_bytes_per_sec / 10)
        .unwrap_or(usize::MAX)
        .clamp(1024, CHUNK)
}

/// How far a document's transfer has come, for whoever watches it (the
/// admin endpoint's transfer list): its announced length once the head
/// arrived, and the bytes written so far.
#[derive(Debug, Default)]
pub struct Progress {
    /// The announced length plus one; 0 until the head arrived.
    length: AtomicU64,
    received: AtomicU64,
}

impl Progress {
    /// The announced length, once known.
    pub fn length(&self) -> Option<u64> {
        self.length.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Bytes written so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The length is known: `length`.
    pub(crate) fn announce(&self, length: u64) {
        self.length
            .store(length.saturating_add(1), Ordering::Relaxed);
    }

    /// `received` bytes are through.
    pub(crate) fn advance_to(&self, received: u64) {
        self.received.store(received, Ordering::Relaxed);
    }
}
