//! Group syncing: documents committed at the same time on one filesystem
//! share its flushes, where the platform can flush a filesystem whole.
//!
//! Syncing each downloaded file and then its folder costs two device
//! flushes per document, whatever else is being written; with many small
//! documents arriving at once (the lab's peers, or one peer's parallel
//! downloads) the flushes are the whole cost. A [`SyncGroup`] runs one
//! `syncfs(2)` for every caller that asked while the previous one ran: the
//! classic group commit. A caller returns only after a sync that *started*
//! after it asked has finished, so everything it wrote before asking is on
//! the device.

use crate::sys;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

/// The group commit state of one filesystem.
#[derive(Debug, Default)]
pub struct SyncGroup {
    state: Mutex<Generations>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct Generations {
    /// Syncs started so far; the running one, if any, is number `started`.
    started: u64,
    /// The latest sync that has finished.
    finished: u64,
    /// Whether a sync is running.
    running: bool,
    /// The latest sync that failed (0: none).
    failed: u64,
    /// Callers waiting for a sync to finish.
    waiting: usize,
}

impl SyncGroup {
    /// Returns once everything the caller wrote on this filesystem before
    /// calling is durable: by a sync it runs itself, or one another caller
    /// started after it asked. `sync` runs the flush (given the folder).
    pub fn sync(&self, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A sync running now may have started before our writes: only the
        // next one to start covers them.
        let needed = state.started + 1;
        loop {
            if state.finished >= needed {
                // Some sync at or after ours failed: what it covered may
                // not be on the device.
                return if state.failed >= needed {
                    Err(io::Error::other("a grouped filesystem sync failed"))
                } else {
                    Ok(())
                };
            }
            if !state.running {
                state.running = true;
                state.started += 1;
                let generation = state.started;
                drop(state);
                let result = sync();
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.running = false;
                state.finished = generation;
                if result.is_err() {
                    state.failed = generation;
                }
                self.finished.notify_all();
                return result;
            }
            state.waiting += 1;
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            state.waiting -= 1;
        }
    }
}

/// The process's group for the filesystem holding `dir`, where the
/// platform can flush a whole filesystem ([`sys::durable::flush_filesystem`]);
/// `None` elsewhere, where files are synced one by one.
pub fn group_of(dir: &Path) -> io::Result<Option<Arc<SyncGroup>>> {
    static GROUPS: OnceLock<Mutex<HashMap<u64, Arc<SyncGroup>>>> = OnceLock::new();
    let Some(filesystem) = sys::durable::flushable_filesystem(dir)? else {
        return Ok(None);
    };
    let mut groups = GROUPS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(Some(groups.entry(filesystem).or_default().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Barrier;

    #[test]
    fn callers_waiting_on_one_sync_share_the_next() {
        let group = Arc::new(SyncGroup::default());
        let syncs = Arc::new(AtomicUsize::new(0));
        // The first caller's sync blocks until every other caller has
        // asked; they must all be covered by one more sync, not one each.
        let inside = Arc::new(Barrier::new(2));
        let release = Arc::new(Barrier::new(2));
        let first = {
            let (group, syncs, inside, release) = (
                group.clone(),
                syncs.clone(),
                inside.clone(),
                release.clone(),
            );
            std::thread::spawn(move || {
                group.sync(|| {
                    syncs.fetch_add(1, Ordering::SeqCst);
                    inside.wait();
                    release.wait();
                    Ok(())
                })
            })
        };
        inside.wait();
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                let (group, syncs) = (group.clone(), syncs.clone());
                std::thread::spawn(move || {
                    group.sync(|| {
                        syncs.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while group.state.lock().unwrap().waiting < 8 {
            assert!(
                std::time::Instant::now() < deadline,
                "the callers never waited"
            );
            std::thread::yield_now();
        }
        release.wait();
        first.join().unwrap().unwrap();
        for waiter in waiting {
            waiter.join().unwrap().unwrap();
        }
        // One for the first caller, one started after the eight asked.
        assert_eq!(syncs.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_sync_fails_every_caller_it_covered() {
        let group = SyncGroup::default();
        let err = group
            .sync(|| Err(io::Error::other("device gone")))
            .unwrap_err();
        assert_eq!(err.to_string(), "device gone");
        // The next caller needs a sync of its own, which succeeds.
        group.sync(|| Ok(())).unwrap();
    }

    #[test]
    fn one_filesystem_has_one_group_where_it_can_be_flushed_whole() {
        let dir = tempfile::tempdir().unwrap();
        match group_of(dir.path()).unwrap() {
            Some(group) => {
                group
                    .sync(|| sys::durable::flush_filesystem(dir.path()))
                    .unwrap();
                let again = group_of(dir.path()).unwrap().unwrap();
                assert!(Arc::ptr_eq(&group, &again));
            }
            None => assert!(sys::durable::flushable_filesystem(dir.path())
                .unwrap()
                .is_none()),
        }
    }
}
