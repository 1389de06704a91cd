//! Supervision with restart intensity, as OTP and ranch do it.
//!
//! `actix::Supervisor` restarts an actor that stops, but a panic unwinds
//! through it and the actor is gone for good. [`Supervision::start`] polls
//! the actor's context inside `catch_unwind` instead, so a panic anywhere
//! the context runs code (`started`, a handler, a future spawned on the
//! context with `ctx.spawn` or returned as a `ResponseActFuture`) and a
//! panic in `Supervised::restarting` itself are caught. The context's
//! `restart()` keeps the actor struct and its mailbox (queued messages are
//! still delivered), drops what was spawned on the context, runs
//! `restarting`, then `started`. An actor that may have been caught
//! half-way through a change must rebuild or check its state in
//! `restarting`.
//!
//! Each restart yields to the runtime first, so an actor that fails at
//! once (a panic in `started`) cannot starve the arbiter. An actor that
//! fails more than `max_restarts` times within `restart_window_secs` is not
//! restarted again: the supervisor reports a [`Fatal`] and the daemon exits
//! non-zero, so the operator's process supervisor (systemd) restarts it
//! from durable state.

use crate::metrics::Metrics;
use actix::dev::ContextFut;
use actix::{Actor, Addr, AsyncContext, Context, Supervised};
use serde::{Deserialize, Serialize};
use slog::{error, warn, Logger};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{self, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often a supervised actor may fail before the daemon gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionConfig {
    /// Restarts allowed within `restart_window_secs`; one more and the
    /// daemon exits non-zero.
    pub max_restarts: u32,
    /// The window, in seconds, over which restarts are counted.
    pub restart_window_secs: u64,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        SupervisionConfig {
            max_restarts: 5,
            restart_window_secs: 30,
        }
    }
}

/// A failure the daemon cannot recover from by itself: it logs it and
/// exits non-zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct Fatal {
    /// What failed, in words.
    pub what: String,
}

/// Where [`Fatal`] failures are reported; cheap to clone, usable from any
/// thread.
#[derive(Debug, Clone)]
pub struct FatalSender(mpsc::UnboundedSender<Fatal>);

impl FatalSender {
    /// Reports a fatal failure (ignored once the daemon stopped listening).
    pub fn send(&self, what: impl Into<String>) {
        let _ = self.0.send(Fatal { what: what.into() });
    }
}

/// The receiving end: the daemon waits on it beside its shutdown signal.
#[derive(Debug)]
pub struct FatalReceiver(mpsc::UnboundedReceiver<Fatal>);

impl FatalReceiver {
    /// Resolves with the first fatal failure (never, if none happens).
    pub async fn recv(&mut self) -> Fatal {
        match self.0.recv().await {
            Some(fatal) => fatal,
            None => std::future::pending().await,
        }
    }
}

/// A channel for fatal failures.
pub fn fatal_channel() -> (FatalSender, FatalReceiver) {
    let (tx, rx) = mpsc::unbounded_channel();
    (FatalSender(tx), FatalReceiver(rx))
}

/// What one daemon's supervisors share: the policy, where to escalate, an
/// optional restart counter (for metrics), and the log.
#[derive(Clone)]
pub struct Supervision {
    config: SupervisionConfig,
    fatal: FatalSender,
    metrics: Option<Metrics>,
    log: Logger,
}

impl Supervision {
    /// Supervision under `config`, escalating to `fatal`, logging on `log`.
    pub fn new(config: SupervisionConfig, fatal: FatalSender, log: Logger) -> Self {
        Supervision {
            config,
            fatal,
            metrics: None,
            log,
        }
    }

    /// Counts every restart on `metrics` (`p2pdi_actor_restarts_total`),
    /// each actor's series at 0 from its start.
    pub fn counting(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Where fatal failures go.
    pub fn fatal(&self) -> &FatalSender {
        &self.fatal
    }

    /// Starts `actor`, named `name` in logs and reports, on the current
    /// arbiter under a supervisor with this policy.
    pub fn start<A>(&self, name: &'static str, actor: A) -> Addr<A>
    where
        A: Actor<Context = Context<A>> + Supervised,
    {
        if let Some(metrics) = &self.metrics {
            metrics.supervising(name);
        }
        let ctx = Context::new();
        let addr = ctx.address();
        let fut = ctx.into_future(actor);
        actix::spawn(Supervisor {
            fut,
            name,
            intensity: Intensity::new(self.config),
            pending_restart: None,
            supervision: self.clone(),
        });
        addr
    }
}

/// Counts failures in a sliding window.
#[derive(Debug, Clone)]
struct Intensity {
    config: SupervisionConfig,
    failures: VecDeque<Instant>,
}

impl Intensity {
    /// No failures yet.
    fn new(config: SupervisionConfig) -> Self {
        Intensity {
            config,
            failures: VecDeque::new(),
        }
    }

    /// Records a failure at `now`; `false` when it is one too many.
    fn allow(&mut self, now: Instant) -> bool {
        let window = Duration::from_secs(self.config.restart_window_secs);
        while self
            .failures
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= window)
        {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        self.failures.len() <= self.config.max_restarts as usize
    }
}

struct Supervisor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    fut: ContextFut<A, Context<A>>,
    name: &'static str,
    intensity: Intensity,
    /// A failure was counted: restart once this yield completes.
    pending_restart: Option<Pin<Box<dyn Future<Output = ()>>>>,
    supervision: Supervision,
}

/// The text of a panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic".to_owned()
    }
}

/// How a supervised context came to need a restart.
enum Failure {
    Panicked(String),
    Stopped,
}

impl<A> Supervisor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    /// Counts `failure`; `false` when the supervisor gave up.
    fn fail(&mut self, failure: Failure) -> bool {
        let log = &self.supervision.log;
        let reason = match failure {
            Failure::Panicked(message) => format!("panicked: {message}"),
            Failure::Stopped => "stopped".to_owned(),
        };
        if self.intensity.allow(Instant::now()) {
            warn!(log, "actor failed; restarting"; "actor" => self.name, "reason" => &reason);
            if let Some(metrics) = &self.supervision.metrics {
                metrics.restarted(self.name);
            }
            return true;
        }
        let config = self.supervision.config;
        let what = format!(
            "actor {} failed more than {} times in {} s (last: {reason}); giving up",
            self.name, config.max_restarts, config.restart_window_secs
        );
        error!(log, "supervisor gave up"; "actor" => self.name, "reason" => &reason,
            "max_restarts" => config.max_restarts, "restart_window_secs" => config.restart_window_secs);
        self.supervision.fatal.send(what);
        false
    }
}

impl<A> Supervisor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    /// Restarts after a real yield to the runtime (`yield_now` defers the
    /// wake until the I/O driver was polled), so a failing actor never
    /// holds the arbiter.
    fn restart_after_yield(&mut self, cx: &mut task::Context<'_>) -> Poll<()> {
        let mut yielding: Pin<Box<dyn Future<Output = ()>>> = Box::pin(tokio::task::yield_now());
        match yielding.as_mut().poll(cx) {
            Poll::Pending => {
                self.pending_restart = Some(yielding);
                Poll::Pending
            }
            // Outside a runtime's deferral: fall back to a plain wake.
            Poll::Ready(()) => {
                self.pending_restart = Some(Box::pin(std::future::ready(())));
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

impl<A> Future for Supervisor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(yielding) = this.pending_restart.as_mut() {
            if yielding.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pending_restart = None;
            // `restarting` runs inside `restart()`: it may panic too.
            match catch_unwind(AssertUnwindSafe(|| this.fut.restart())) {
                Ok(true) => {}
                // Nobody holds an address any more: the actor is not needed.
                Ok(false) => return Poll::Ready(()),
                Err(payload) => {
                    if !this.fail(Failure::Panicked(panic_message(payload.as_ref()))) {
                        return Poll::Ready(());
                    }
                    return this.restart_after_yield(cx);
                }
            }
        }
        let failure = match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.fut).poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => Failure::Stopped,
            Err(payload) => Failure::Panicked(panic_message(payload.as_ref())),
        };
        if matches!(failure, Failure::Stopped) {
            // An actor stops by itself when its last address is dropped:
            // restart() then says it is not needed, and that is no failure.
            match catch_unwind(AssertUnwindSafe(|| this.fut.restart())) {
                Ok(false) => return Poll::Ready(()),
                Ok(true) => {
                    if !this.fail(failure) {
                        return Poll::Ready(());
                    }
                    // Restarted already: yield before running it again.
                    this.pending_restart = None;
                    let mut yielding: Pin<Box<dyn Future<Output = ()>>> =
                        Box::pin(tokio::task::yield_now());
                    if yielding.as_mut().poll(cx).is_ready() {
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
                Err(payload) => {
                    if !this.fail(Failure::Panicked(panic_message(payload.as_ref()))) {
                        return Poll::Ready(());
                    }
                    return this.restart_after_yield(cx);
                }
            }
        }
        if !this.fail(failure) {
            return Poll::Ready(());
        }
        this.restart_after_yield(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intensity_allows_max_restarts_in_the_window_and_forgets_old_ones() {
        let config = SupervisionConfig {
            max_restarts: 2,
            restart_window_secs: 10,
        };
        let mut intensity = Intensity::new(config);
        let t0 = Instant::now();
        assert!(intensity.allow(t0));
        assert!(intensity.allow(t0 + Duration::from_secs(1)));
        assert!(!intensity.allow(t0 + Duration::from_secs(2)));
        // ten seconds after the first two, they no longer count
        let mut later = Intensity::new(config);
        assert!(later.allow(t0));
        assert!(later.allow(t0 + Duration::from_secs(1)));
        assert!(later.allow(t0 + Duration::from_secs(11)));
        assert!(later.allow(t0 + Duration::from_secs(12)));
        assert!(!later.allow(t0 + Duration::from_secs(12)));
    }
}
