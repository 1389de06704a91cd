//! The supervisor: panics in `started`, in `restarting`, in a handler and
//! in a future spawned on the context are caught and restarted; restarts
//! yield to the runtime; past the restart intensity the supervisor gives
//! up with a fatal failure; an actor nobody addresses ends quietly.

use actix::prelude::*;
use p2p_di_actors::metrics::Metrics;
use p2p_di_actors::supervise::{fatal_channel, Supervision, SupervisionConfig};
use p2p_di_actors::wire::parse::Role;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

fn quiet() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// Where a test actor fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FailIn {
    Nowhere,
    Started,
    Restarting,
}

struct Flaky {
    fail_in: FailIn,
    starts: Rc<Cell<u32>>,
    restarts: Rc<Cell<u32>>,
}

impl Actor for Flaky {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        self.starts.set(self.starts.get() + 1);
        if self.fail_in == FailIn::Started {
            panic!("fails in started");
        }
    }
}

impl Supervised for Flaky {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.restarts.set(self.restarts.get() + 1);
        if self.fail_in == FailIn::Restarting {
            panic!("fails in restarting");
        }
    }
}

#[derive(Message)]
#[rtype(result = "u32")]
struct Ping;

impl Handler<Ping> for Flaky {
    type Result = u32;
    fn handle(&mut self, _: Ping, _: &mut Self::Context) -> u32 {
        self.starts.get()
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct PanicNow;

impl Handler<PanicNow> for Flaky {
    type Result = ();
    fn handle(&mut self, _: PanicNow, _: &mut Self::Context) {
        panic!("fails in a handler");
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct PanicLater;

impl Handler<PanicLater> for Flaky {
    type Result = ();
    fn handle(&mut self, _: PanicLater, ctx: &mut Self::Context) {
        ctx.spawn(
            async {}
                .into_actor(self)
                .map(|(), _, _| panic!("fails in a spawned future")),
        );
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct StopNow;

impl Handler<StopNow> for Flaky {
    type Result = ();
    fn handle(&mut self, _: StopNow, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

fn flaky(fail_in: FailIn) -> (Flaky, Rc<Cell<u32>>, Rc<Cell<u32>>) {
    let (starts, restarts) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let actor = Flaky {
        fail_in,
        starts: starts.clone(),
        restarts: restarts.clone(),
    };
    (actor, starts, restarts)
}

fn config(max_restarts: u32) -> SupervisionConfig {
    SupervisionConfig {
        max_restarts,
        restart_window_secs: 60,
    }
}

#[actix_rt::test]
async fn a_panic_in_started_yields_between_restarts_and_gives_up_past_the_intensity() {
    let (fatal, mut fatal_rx) = fatal_channel();
    let metrics = Metrics::new(Role::Registry);
    let supervision = Supervision::new(config(3), fatal, quiet()).counting(metrics.clone());
    // another task on the same arbiter counts how often it gets to run
    let ticks = Rc::new(Cell::new(0u32));
    let ticking = ticks.clone();
    actix_rt::spawn(async move {
        for _ in 0..1000 {
            ticking.set(ticking.get() + 1);
            tokio::task::yield_now().await;
        }
    });
    let (actor, starts, _) = flaky(FailIn::Started);
    let addr = supervision.start("flaky", actor);
    // The series exists, at 0, before any failure.
    assert!(metrics
        .encode()
        .contains("p2pdi_actor_restarts_total{actor=\"flaky\"} 0\n"));
    let fatal = tokio::time::timeout(Duration::from_secs(5), fatal_rx.recv())
        .await
        .expect("the supervisor gives up");
    assert!(
        fatal
            .what
            .contains("actor flaky failed more than 3 times in 60 s"),
        "{fatal}"
    );
    assert!(fatal.what.contains("fails in started"), "{fatal}");
    // one start and three restarts; the fourth failure is one too many
    assert_eq!(starts.get(), 4);
    assert!(metrics
        .encode()
        .contains("p2pdi_actor_restarts_total{actor=\"flaky\"} 3\n"));
    assert!(
        ticks.get() >= 3,
        "the arbiter ran other work between restarts"
    );
    assert!(addr.send(Ping).await.is_err(), "the actor is gone");
}

#[actix_rt::test]
async fn a_panic_in_restarting_is_caught_and_counted() {
    let (fatal, mut fatal_rx) = fatal_channel();
    let supervision = Supervision::new(config(2), fatal, quiet());
    let (actor, _, restarts) = flaky(FailIn::Restarting);
    let addr = supervision.start("flaky", actor);
    assert!(addr.send(PanicNow).await.is_err());
    let fatal = tokio::time::timeout(Duration::from_secs(5), fatal_rx.recv())
        .await
        .expect("the supervisor gives up");
    assert!(fatal.what.contains("fails in restarting"), "{fatal}");
    assert_eq!(restarts.get(), 2);
}

#[actix_rt::test]
async fn panics_in_a_handler_and_in_a_spawned_future_restart_the_actor_with_its_mailbox() {
    let (fatal, _fatal_rx) = fatal_channel();
    let supervision = Supervision::new(config(5), fatal, quiet());
    let (actor, starts, restarts) = flaky(FailIn::Nowhere);
    let addr = supervision.start("flaky", actor);
    assert_eq!(addr.send(Ping).await.unwrap(), 1);
    // the panicking message is lost; the one queued behind it is served
    let lost = addr.send(PanicNow);
    let served = addr.send(Ping);
    assert!(lost.await.is_err());
    assert_eq!(served.await.unwrap(), 2);
    addr.send(PanicLater).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while restarts.get() < 2 {
        assert!(std::time::Instant::now() < deadline, "no restart");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(addr.send(Ping).await.unwrap(), 3);
    assert_eq!(starts.get(), 3);
}

#[actix_rt::test]
async fn a_stopped_actor_is_restarted_and_one_nobody_addresses_ends_quietly() {
    let (fatal, mut fatal_rx) = fatal_channel();
    let supervision = Supervision::new(config(5), fatal, quiet());
    let (actor, starts, restarts) = flaky(FailIn::Nowhere);
    let addr = supervision.start("flaky", actor);
    addr.send(StopNow).await.unwrap();
    assert_eq!(addr.send(Ping).await.unwrap(), 2);
    assert_eq!(restarts.get(), 1);
    drop(addr);
    // nothing to escalate when the last address goes away
    let escalated = tokio::time::timeout(Duration::from_millis(200), fatal_rx.recv()).await;
    assert!(escalated.is_err(), "no fatal failure");
    assert_eq!(starts.get(), 2);
}
