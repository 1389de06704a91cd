//! A supervisor that also restarts an actor that panicked.
//!
//! `actix::Supervisor` restarts an actor that stops, but a panic in a
//! handler unwinds through it and the actor is gone for good. [`supervise`]
//! polls the actor's context inside `catch_unwind`: after a panic it calls
//! the context's `restart()`, which keeps the actor struct and its mailbox
//! (queued messages are still delivered), runs `Supervised::restarting`,
//! then `started`. An actor that may have been caught half-way through a
//! change must rebuild or check its state in `restarting`.

use actix::dev::ContextFut;
use actix::{Actor, Addr, AsyncContext, Context, Supervised};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{self, Poll};

/// Starts `actor` on the current arbiter under a supervisor that restarts
/// it when it stops or panics. `on_panic` is told each panic's message.
pub fn supervise<A>(actor: A, on_panic: impl Fn(&str) + 'static) -> Addr<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    let ctx = Context::new();
    let addr = ctx.address();
    let fut = ctx.into_future(actor);
    actix::spawn(PanicSupervisor {
        fut,
        on_panic: Box::new(on_panic),
    });
    addr
}

/// [`supervise`], logging each panic at error level on `log` (whose
/// context names the actor).
pub fn supervise_logged<A>(actor: A, log: &slog::Logger) -> Addr<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    let log = log.clone();
    supervise(
        actor,
        move |panic| slog::error!(log, "actor panicked; restarting"; "panic" => panic),
    )
}

struct PanicSupervisor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    fut: ContextFut<A, Context<A>>,
    on_panic: Box<dyn Fn(&str)>,
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

impl<A> Future for PanicSupervisor<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let polled = catch_unwind(AssertUnwindSafe(|| Pin::new(&mut this.fut).poll(cx)));
            match polled {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(())) => {}
                Err(payload) => (this.on_panic)(&panic_message(payload.as_ref())),
            }
            // Stopped or panicked: restart while anyone holds an address.
            if !this.fut.restart() {
                return Poll::Ready(());
            }
        }
    }
}
