//! Ctrl-C and SIGTERM (or Ctrl-Break) during a lab run: the first asks the run to stop (the
//! peers are stopped, the report of what finished is written, marked
//! incomplete); a second one exits at once.

use p2p_di_actors::sys::signals::{Listen, Signals};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Listens for a stop (SIGINT and SIGTERM on Unix; Ctrl-C, Ctrl-Break and
/// a closed console on Windows) on a thread of its own.
pub fn install() {
    let spawned = std::thread::Builder::new()
        .name("lab-signals".into())
        .spawn(|| {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(mut signals) = Signals::new(Listen::Run) else {
                    eprintln!("p2p-di lab: cannot listen for Ctrl-C; an interrupt will kill the run");
                    return;
                };
                loop {
                    signals.next().await;
                    if REQUESTED.swap(true, Ordering::SeqCst) {
                        eprintln!("p2p-di lab: interrupted twice; exiting now");
                        // The daemons and namespaces of --net netns would
                        // outlive us.
                        super::netns::cleanup_all();
                        std::process::exit(130);
                    }
                    eprintln!("p2p-di lab: interrupted; stopping the peers and writing the report of what finished (again to exit at once)");
                }
            });
        });
    if spawned.is_err() {
        eprintln!("p2p-di lab: cannot listen for Ctrl-C; an interrupt will kill the run");
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Resolves once a stop is asked for.
pub async fn wait() {
    while !requested() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
