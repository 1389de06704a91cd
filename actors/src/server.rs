//! The TCP server both daemons run: a listener actor and one session actor
//! per connection, serving a [`Service`].
//!
//! A session reads one request through [`RequestCodec`] (within the
//! request timeout, else `408`), asks its service for the reply (or sends
//! the codec's refusal: 400, 413, 501, 505), writes it, closes its side,
//! and lingers briefly reading what the client still sends, so the client
//! gets the reply rather than a reset. Past `max_connections` a new
//! connection is answered `503` without a session.

use crate::config::ServerLimits;
use crate::state::throttle::TokenBucket;
use crate::supervise::Supervision;
use crate::wire::parse::Role;
use crate::wire::{write, Origin, Reply, Request, RequestCodec, RequestError, Response, Status};
use actix::prelude::*;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use slog::{debug, info, o, trace, warn, Logger};
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

/// Longest a session keeps reading after its reply, and most it reads.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;
/// Bodies up to this size go out in one write with their head (larger
/// ones in chunks, each write bounded by the stall timeout).
const SMALL_BODY: usize = 1 << 20;

/// What a server does with a request: the RS asks its registry, a peer its
/// RFC store.
pub trait Service: Unpin + 'static {
    /// Which methods it serves.
    fn role(&self) -> Role;
    /// The name it answers with.
    fn origin(&self) -> Origin;
    /// The reply to `request` from the client at `peer`.
    fn call(&self, request: Request, peer: SocketAddr) -> LocalBoxFuture<'static, Reply>;
}

/// A byte-rate cap shared by every session of a server.
pub type SharedBucket = Rc<RefCell<TokenBucket>>;

/// Waits until `bytes` may be sent under `bucket`.
pub async fn throttle(bucket: &SharedBucket, bytes: usize) {
    let wait = bucket.borrow_mut().reserve(bytes, Instant::now());
    if !wait.is_zero() {
        actix_rt::time::sleep(wait).await;
    }
}

/// The chunk a throttled transfer sends at a time: about a tenth of a
/// second's worth, between 1 KiB and 64 KiB.
pub fn throttle_chunk(rate_bytes_per_sec: u64) -> usize {
    usize::try_from(rate_bytes_per_sec / 10)
        .unwrap_or(usize::MAX)
        .clamp(1024, 64 * 1024)
}

/// What a server counts to enforce its connection limit.
#[derive(Debug, Default)]
struct ServerStats {
    /// Connections being served now.
    open: Cell<usize>,
    /// 503 replies being written now.
    refusing: Cell<usize>,
}

/// Most 503 replies written at once; past it, connections over the limit
/// are closed at once.
const MAX_REFUSING: usize = 64;

/// A 503 reply in progress, counted while it lives.
struct Refusing(Rc<ServerStats>);

impl Refusing {
    fn new(stats: Rc<ServerStats>) -> Self {
        stats.refusing.set(stats.refusing.get() + 1);
        Refusing(stats)
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.refusing.set(self.0.refusing.get().saturating_sub(1));
    }
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// The listener actor: accepts connections and starts their sessions.
/// Supervised: the listening socket outlives a restart of the actor, which
/// only builds its accept stream again.
pub struct Listener<S: Service + Clone> {
    listener: Rc<TcpListener>,
    service: S,
    limits: ServerLimits,
    upload: Option<SharedBucket>,
    stats: Rc<ServerStats>,
    log: Logger,
}

impl<S: Service + Clone> Listener<S> {
    /// Starts serving `service` on `listener`, under `supervision`.
    pub fn start(
        listener: TcpListener,
        service: S,
        limits: ServerLimits,
        upload: Option<SharedBucket>,
        supervision: &Supervision,
        log: Logger,
    ) -> Addr<Self> {
        supervision.start(
            "listener",
            Listener {
                listener: Rc::new(listener),
                service,
                limits,
                upload,
                stats: Rc::default(),
                log,
            },
        )
    }
}

impl<S: Service + Clone> Actor for Listener<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let accepted = futures_util::stream::unfold(self.listener.clone(), |listener| async move {
            let result = listener.accept().await;
            if result.is_err() {
                // Out of descriptors or the like: give sessions time to end.
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
            Some((result, listener))
        });
        ctx.add_stream(accepted);
    }
}

impl<S: Service + Clone> Supervised for Listener<S> {}

impl<S: Service + Clone> StreamHandler<io::Result<(TcpStream, SocketAddr)>> for Listener<S> {
    fn handle(&mut self, item: io::Result<(TcpStream, SocketAddr)>, _: &mut Self::Context) {
        crate::fault::point("listener.accept");
        let (stream, peer) = match item {
            Ok(accepted) => accepted,
            Err(err) => {
                warn!(self.log, "accept failed"; "err" => %err);
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        if self.stats.open.get() >= self.limits.max_connections {
            warn!(self.log, "connection limit reached"; "peer" => %peer, "limit" => self.limits.max_connections);
            // Refusals are bounded too: past MAX_REFUSING at once, a new
            // connection is closed without a word.
            if self.stats.refusing.get() >= MAX_REFUSING {
                return;
            }
            let response = Response::new(
                self.service.origin(),
                Reply::Status(Status::ServiceUnavailable),
            );
            let timeout = self.limits.request_timeout();
            let refusing = Refusing::new(self.stats.clone());
            actix_rt::spawn(async move {
                let (read, write) = stream.into_split();
                let _ = send_and_close(read, write, &response, None, timeout).await;
                drop(refusing);
            });
            return;
        }
        self.stats.open.set(self.stats.open.get() + 1);
        trace!(self.log, "connection accepted"; "peer" => %peer, "open" => self.stats.open.get());
        let session = Session {
            service: self.service.clone(),
            peer,
            stream: Some(stream),
            limits: self.limits,
            upload: self.upload.clone(),
            _slot: Slot(self.stats.clone()),
            log: self.log.new(o!("peer" => peer.to_string())),
        };
        session.start();
    }

    fn finished(&mut self, _: &mut Self::Context) {
        info!(self.log, "listener stopped");
    }
}

/// A place in the connection count, given back when the session ends.
struct Slot(Rc<ServerStats>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
    }
}

/// One connection: one request, one reply.
pub struct Session<S: Service> {
    service: S,
    peer: SocketAddr,
    stream: Option<TcpStream>,
    limits: ServerLimits,
    upload: Option<SharedBucket>,
    _slot: Slot,
    log: Logger,
}

enum Received {
    Request(Request),
    Refused(Status),
    TimedOut,
    Nothing,
}

impl<S: Service> Actor for Session<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Some(stream) = self.stream.take() else {
            ctx.stop();
            return;
        };
        let (read, write) = stream.into_split();
        let codec = RequestCodec::new(self.service.role(), self.limits.wire());
        let timeout = self.limits.request_timeout();
        let reading = async move {
            let mut framed = FramedRead::new(read, codec);
            let received = match actix_rt::time::timeout(timeout, framed.next()).await {
                Err(_) => Received::TimedOut,
                Ok(Some(Ok(request))) => Received::Request(request),
                Ok(Some(Err(RequestError::Reject(status)))) => Received::Refused(status),
                Ok(Some(Err(RequestError::Io(_)))) | Ok(None) => Received::Nothing,
            };
            (received, framed.into_inner())
        };
        ctx.spawn(reading.into_actor(self).then(move |(received, read), act, _| {
            let reply: LocalBoxFuture<'static, Option<Reply>> = match received {
                Received::Request(request) => {
                    debug!(act.log, "request"; "head" => %Head(&request));
                    let reply = act.service.call(request, act.peer);
                    Box::pin(async move { Some(reply.await) })
                }
                Received::Refused(status) => {
                    warn!(act.log, "bad request"; "status" => %status);
                    Box::pin(async move { Some(Reply::Status(status)) })
                }
                Received::TimedOut => {
                    warn!(act.log, "request timeout");
                    Box::pin(async { Some(Reply::Status(Status::RequestTimeout)) })
                }
                Received::Nothing => Box::pin(async { None }),
            };
            let origin = act.service.origin();
            let upload = act.upload.clone();
            async move {
                let reply = reply.await?;
                let status = reply.status();
                let response = Response::new(origin, reply);
                Some((status, send_and_close(read, write, &response, upload, timeout).await))
            }
            .into_actor(act)
        })
        .map(|outcome, act, ctx| {
            match outcome {
                Some((status, Ok(bytes))) => {
                    debug!(act.log, "reply"; "status" => %status, "bytes" => bytes)
                }
                Some((status, Err(err))) => {
                    debug!(act.log, "reply not delivered"; "status" => %status, "err" => %err)
                }
                None => debug!(act.log, "closed without a request"),
            }
            trace!(act.log, "connection closed");
            ctx.stop();
        }));
    }
}

/// Shows a request as its head line (for the debug log).
pub struct Head<'a>(pub &'a Request);

impl std::fmt::Display for Head<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = write::request_bytes(self.0);
        f.write_str(String::from_utf8_lossy(&bytes).trim_end())
    }
}

/// Writes `response` (throttled by `upload`, failing if a write stalls for
/// `stall`), closes the write side, and drains what the client still
/// sends for a moment. Returns the bytes written.
pub async fn send_and_close(
    mut read: OwnedReadHalf,
    mut write: OwnedWriteHalf,
    response: &Response,
    upload: Option<SharedBucket>,
    stall: Duration,
) -> io::Result<u64> {
    let mut head = BytesMut::with_capacity(128);
    let body = write::write_response(response, &mut head);
    let total = (head.len() + body.len()) as u64;
    let timed = |result: Result<io::Result<()>, _>| {
        result.unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write stalled")))
    };
    match &upload {
        None if body.len() <= SMALL_BODY => {
            // Head and body in one vectored write, without copying the body.
            let mut both = head.freeze().chain(body);
            timed(actix_rt::time::timeout(stall, write.write_all_buf(&mut both)).await)?;
        }
        _ => {
            timed(actix_rt::time::timeout(stall, write.write_all(&head)).await)?;
            write_body(&mut write, body, upload.as_ref(), stall).await?;
        }
    }
    let _ = write.shutdown().await;
    // Lingering close: read until the client closes, briefly, so unread
    // bytes do not turn our close into a reset that eats the reply.
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let deadline = tokio::time::Instant::now() + LINGER;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, read.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
    Ok(total)
}

async fn write_body(
    write: &mut OwnedWriteHalf,
    body: Bytes,
    upload: Option<&SharedBucket>,
    stall: Duration,
) -> io::Result<()> {
    let chunk = match upload {
        Some(bucket) => throttle_chunk(bucket.borrow().rate_bytes_per_sec()),
        None => 1 << 20,
    };
    for piece in body.chunks(chunk) {
        if let Some(bucket) = upload {
            throttle(bucket, piece.len()).await;
        }
        actix_rt::time::timeout(stall, write.write_all(piece))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write stalled")))?;
    }
    Ok(())
}
