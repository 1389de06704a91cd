//! The TCP server both daemons run: a listener actor and one session actor
//! per connection, serving a [`Service`].
//!
//! A session is a real actor, in the shape of actix's chat-tcp example:
//! it reads its connection as a stream (`add_stream` over a `FramedRead`
//! with [`RequestCodec`]) and handles what arrives; it asks its service for
//! the [`Answer`] and gets it back on its own context; it writes through
//! the codec's encoder (a `FramedWrite` driven by `SinkExt`, with
//! backpressure), so the encoder the tests check is the one that writes
//! every byte. One exchange per connection: the request (within the
//! request timeout, else `408`) or the codec's refusal (400, 413, 501,
//! 505), the reply, a close of our side, then a linger that reads and
//! drops what the client still sends (at most [`LINGER`] and
//! [`LINGER_BYTES`]), so the client gets the reply rather than a reset.
//!
//! The listener is supervised and keeps its socket across restarts. It
//! answers `503` without a session past the connection limit, past the
//! per-address limit, and when `accept` fails for want of descriptors (a
//! reserve descriptor is freed to take the connection off the queue).
//!
//! Memory per connection: the session actor and its mailbox (a few hundred
//! bytes), the read buffer (8 KiB, never more than a head line since the
//! codec drops what follows) and the write buffer (at most one body chunk,
//! 64 KiB, while a body is being sent). A body is shared: a cached
//! document or an encoded list is one `Bytes` for every connection sending
//! it; a larger document is read from its file in chunks.

use crate::config::ServerLimits;
use crate::metrics::Metrics;
use crate::supervise::Supervision;
use crate::transfer::{throttle, throttle_chunk, Progress, SharedBucket, CHUNK};
use crate::wire::codec::Received;
use crate::wire::parse::Role;
use crate::wire::{
    write, Cookie, Origin, Outgoing, Request, RequestCodec, ResponseHead, RfcNumber, Status,
};
use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, SinkExt};
use slog::{debug, info, o, trace, warn, Logger};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::codec::{FramedRead, FramedWrite};

/// Longest a session keeps reading after its reply.
pub(crate) const LINGER: Duration = Duration::from_secs(2);
/// Most a session reads and drops after its request.
pub(crate) const LINGER_BYTES: usize = 1 << 20;
/// Most 503 replies written at once; past it, connections over the limit
/// are closed at once.
pub const MAX_REFUSING: usize = 64;

/// What a server does with a request: the RS asks its registry, a peer its
/// RFC store.
pub trait Service: Clone + Unpin + 'static {
    /// Which methods it serves.
    fn role(&self) -> Role;
    /// The name it answers with.
    fn origin(&self) -> Origin;
    /// The answer to `request` from the client at `peer`.
    fn call(&self, request: Request, peer: SocketAddr) -> LocalBoxFuture<'static, Answer>;
}

/// What a service answers; the session turns it into frames.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `200 OK` with a REGISTER's cookie.
    Registered(Cookie),
    /// `200 OK` with nothing more (KEEPALIVE, LEAVE).
    Done,
    /// `200 OK` with a body already encoded (a peer list, an index).
    Body(Bytes),
    /// `200 OK` with a document.
    Document {
        /// Its number (for the upload log).
        number: RfcNumber,
        /// Its bytes.
        body: DocumentBody,
    },
    /// Any other status, with no extra field and no body.
    Status(Status),
}

/// Where a document's bytes come from.
#[derive(Debug, Clone)]
pub enum DocumentBody {
    /// Kept in memory: shared by every connection sending it.
    Cached(Bytes),
    /// Read from its file in chunks as it is sent.
    File {
        /// The file.
        path: PathBuf,
        /// Its length when it was indexed (the head announces it).
        length: u64,
    },
}

impl Answer {
    fn status(&self) -> Status {
        match self {
            Answer::Status(status) => *status,
            _ => Status::Ok,
        }
    }

    /// The head and the body source.
    fn into_frames(self, origin: Origin) -> (ResponseHead, Option<DocumentBody>) {
        match self {
            Answer::Registered(cookie) => (ResponseHead::cookie(origin, cookie), None),
            Answer::Done => (ResponseHead::status(origin, Status::Ok), None),
            Answer::Status(status) => (ResponseHead::status(origin, status), None),
            Answer::Body(bytes) => (
                ResponseHead::body(origin, bytes.len() as u64),
                Some(DocumentBody::Cached(bytes)),
            ),
            Answer::Document { body, .. } => {
                let length = match &body {
                    DocumentBody::Cached(bytes) => bytes.len() as u64,
                    DocumentBody::File { length, .. } => *length,
                };
                (ResponseHead::body(origin, length), Some(body))
            }
        }
    }
}

/// Binds `addr` with a listen backlog of `backlog`.
pub fn bind(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    crate::sys::socket::prepare_listener(&socket)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// The connection limit the descriptors allow: each connection needs
/// `per_connection` descriptors, and `reserved` are kept for everything
/// else (files, the journal, downloads, refusals). Returns the limit and
/// the descriptor limit it was derived from (`None` where the platform has
/// no per-process limit: then the configured limit stands).
pub fn connection_budget(
    configured: usize,
    per_connection: usize,
    reserved: usize,
) -> (usize, Option<u64>) {
    let Some(nofile) = crate::sys::descriptors::limit() else {
        return (configured, None);
    };
    let spare = usize::try_from(nofile)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserved);
    let budget = (spare / per_connection.max(1)).max(1);
    (configured.min(budget), Some(nofile))
}

/// What a server counts to enforce its limits, and the uploads it runs.
#[derive(Debug, Default)]
struct ServerStats {
    /// Connections being served now.
    open: Cell<usize>,
    /// Connections being served now, per client address.
    per_address: RefCell<HashMap<IpAddr, usize>>,
    /// 503 replies being written now.
    refusing: Cell<usize>,
    /// Documents being sent now, by session.
    uploads: RefCell<HashMap<u64, Upload>>,
    /// The next session's number.
    next_session: Cell<u64>,
}

/// A document being sent.
#[derive(Debug, Clone)]
struct Upload {
    number: RfcNumber,
    client: SocketAddr,
    progress: Arc<Progress>,
    started: Instant,
}

/// An upload in flight, for tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadView {
    /// The session sending it (unique while the server runs).
    pub session: u64,
    /// The RFC.
    pub number: RfcNumber,
    /// Who gets it.
    pub client: SocketAddr,
    /// Its length.
    pub length: u64,
    /// Bytes sent so far.
    pub sent: u64,
    /// Milliseconds since it started.
    pub elapsed_ms: u64,
}

/// The uploads in flight.
#[derive(Debug, Message)]
#[rtype(result = "Vec<UploadView>")]
pub struct GetUploads;

/// A place in the connection counts, given back when the session ends.
struct Slot {
    stats: Rc<ServerStats>,
    address: IpAddr,
    gauge: prometheus_client::metrics::gauge::Gauge,
    /// This session's number (for its upload, if any).
    session: u64,
}

impl Slot {
    fn take(
        stats: &Rc<ServerStats>,
        address: IpAddr,
        gauge: prometheus_client::metrics::gauge::Gauge,
    ) -> Self {
        stats.open.set(stats.open.get() + 1);
        *stats.per_address.borrow_mut().entry(address).or_default() += 1;
        let session = stats.next_session.get();
        stats.next_session.set(session + 1);
        gauge.inc();
        Slot {
            stats: stats.clone(),
            address,
            gauge,
            session,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let stats = &self.stats;
        self.gauge.dec();
        stats.uploads.borrow_mut().remove(&self.session);
        stats.open.set(stats.open.get().saturating_sub(1));
        let mut per_address = stats.per_address.borrow_mut();
        if let Some(count) = per_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                per_address.remove(&self.address);
            }
        }
    }
}

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

/// The listener actor: accepts connections and starts their sessions.
/// Supervised: the listening socket outlives a restart of the actor, which
/// only builds its accept stream again.
pub struct Listener<S: Service> {
    listener: Rc<TcpListener>,
    service: S,
    limits: ServerLimits,
    upload: Option<SharedBucket>,
    stats: Rc<ServerStats>,
    metrics: Metrics,
    /// The 503 reply, encoded once.
    refusal: Bytes,
    /// When an accept failure was last logged (one line per second at most).
    last_accept_warning: Option<Instant>,
    log: Logger,
}

impl<S: Service> Listener<S> {
    /// Starts serving `service` on `listener`, under `supervision`,
    /// counting on `metrics`.
    pub fn start(
        listener: TcpListener,
        service: S,
        limits: ServerLimits,
        upload: Option<SharedBucket>,
        supervision: &Supervision,
        metrics: Metrics,
        log: Logger,
    ) -> Addr<Self> {
        let refusal = encoded(&ResponseHead::status(
            service.origin(),
            Status::ServiceUnavailable,
        ));
        supervision.start(
            "listener",
            Listener {
                listener: Rc::new(listener),
                service,
                limits,
                upload,
                stats: Rc::default(),
                metrics,
                refusal,
                last_accept_warning: None,
                log,
            },
        )
    }

    /// Answers `503` and closes, as a bounded task of the listener.
    fn refuse(&mut self, stream: TcpStream, ctx: &mut Context<Self>) {
        if self.stats.refusing.get() >= MAX_REFUSING {
            return;
        }
        let refusing = Refusing::new(self.stats.clone());
        let refusal = self.refusal.clone();
        let timeout = self.limits.request_timeout();
        ctx.spawn(
            async move {
                let _refusing = refusing;
                let (mut read, mut write) = stream.into_split();
                let sent = tokio::time::timeout(timeout, async {
                    write.write_all(&refusal).await?;
                    write.shutdown().await
                })
                .await;
                if matches!(sent, Ok(Ok(()))) {
                    linger(&mut read).await;
                }
            }
            .into_actor(self),
        );
    }
}

/// Encodes a head with the codec's encoder (for replies sent without a
/// session: the 503s).
fn encoded(head: &ResponseHead) -> Bytes {
    let mut buf = BytesMut::new();
    write::write_head(head, &mut buf);
    buf.freeze()
}

/// Reads and drops what the client still sends, for at most [`LINGER`]
/// and [`LINGER_BYTES`].
async fn linger(read: &mut tokio::net::tcp::OwnedReadHalf) {
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    let deadline = tokio::time::Instant::now() + LINGER;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, read.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

/// What the accept stream yields.
type Accepted = io::Result<(TcpStream, SocketAddr)>;

impl<S: Service> Actor for Listener<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let state = (
            self.listener.clone(),
            crate::sys::descriptors::reserve(),
            self.refusal.clone(),
        );
        let accepted =
            futures_util::stream::unfold(state, |(listener, mut reserve, refusal)| async move {
                let result = listener.accept().await;
                match &result {
                    Ok(_) => {}
                    Err(err) if crate::sys::descriptors::exhausted(err) => {
                        // Free the reserve to take one connection off the queue,
                        // read its request, answer 503 and close, so clients do
                        // not wait in the kernel's queue; then give sessions time
                        // to end.
                        drop(reserve.take());
                        if let Some(Ok((stream, _))) = listener.accept().now_or_never() {
                            let mut request = [0u8; 4096];
                            let _ = stream.try_read(&mut request);
                            let _ = stream.try_write(&refusal);
                        }
                        reserve = crate::sys::descriptors::reserve();
                        actix_rt::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(_) => actix_rt::time::sleep(Duration::from_millis(50)).await,
                }
                Some((result, (listener, reserve, refusal)))
            });
        ctx.add_stream(accepted);
    }
}

impl<S: Service> Supervised for Listener<S> {}

impl<S: Service> Handler<GetUploads> for Listener<S> {
    type Result = MessageResult<GetUploads>;

    fn handle(&mut self, _: GetUploads, _: &mut Self::Context) -> Self::Result {
        let mut uploads: Vec<UploadView> = self
            .stats
            .uploads
            .borrow()
            .iter()
            .map(|(session, u)| UploadView {
                session: *session,
                number: u.number,
                client: u.client,
                length: u.progress.length().unwrap_or(0),
                sent: u.progress.received(),
                elapsed_ms: u.started.elapsed().as_millis() as u64,
            })
            .collect();
        uploads.sort_by_key(|u| std::cmp::Reverse(u.elapsed_ms));
        MessageResult(uploads)
    }
}

/// The role of a server as a metric label.
fn role_label(role: Role) -> &'static str {
    match role {
        Role::Registry => "rs",
        Role::Peer => "peer",
    }
}

/// The method of a request as a metric label.
fn method_label(request: &Request) -> &'static str {
    match request {
        Request::Register { .. } => "register",
        Request::KeepAlive { .. } => "keepalive",
        Request::Leave { .. } => "leave",
        Request::PeerQuery { .. } => "pquery",
        Request::IndexQuery { .. } => "get_index",
        Request::GetRfc { .. } => "get_rfc",
    }
}

impl<S: Service> StreamHandler<Accepted> for Listener<S> {
    fn handle(&mut self, item: Accepted, ctx: &mut Self::Context) {
        crate::fault::point("listener.accept");
        let (stream, peer) = match item {
            Ok(accepted) => accepted,
            Err(err) => {
                let now = Instant::now();
                if self
                    .last_accept_warning
                    .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
                {
                    self.last_accept_warning = Some(now);
                    warn!(self.log, "accept failed"; "err" => %err, "open" => self.stats.open.get());
                }
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let address = peer.ip().to_canonical();
        let from_address = self
            .stats
            .per_address
            .borrow()
            .get(&address)
            .copied()
            .unwrap_or(0);
        if self.stats.open.get() >= self.limits.max_connections {
            warn!(self.log, "connection limit reached"; "peer" => %peer, "limit" => self.limits.max_connections);
            self.refuse(stream, ctx);
            return;
        }
        if from_address >= self.limits.max_connections_per_address {
            warn!(self.log, "per-address connection limit reached"; "peer" => %peer,
                "limit" => self.limits.max_connections_per_address);
            self.refuse(stream, ctx);
            return;
        }
        let gauge = self.metrics.connections(role_label(self.service.role()));
        let slot = Slot::take(&self.stats, address, gauge);
        trace!(self.log, "connection accepted"; "peer" => %peer, "open" => self.stats.open.get());
        let (read, write) = stream.into_split();
        let codec = RequestCodec::new(self.service.role(), self.limits.wire())
            .with_drain_limit(LINGER_BYTES);
        let service = self.service.clone();
        let limits = self.limits;
        let upload = self.upload.clone();
        let (metrics, stats) = (self.metrics.clone(), self.stats.clone());
        let log = self.log.new(o!("peer" => peer.to_string()));
        Session::create(move |ctx| {
            ctx.add_stream(FramedRead::new(read, codec));
            Session {
                service,
                peer,
                limits,
                upload,
                metrics,
                stats,
                method: "none",
                writer: Some(write),
                phase: Phase::Waiting,
                read_closed: false,
                opened: Instant::now(),
                slot,
                log,
            }
        });
    }

    fn finished(&mut self, _: &mut Self::Context) {
        info!(self.log, "listener stopped");
    }
}

/// Where a session is in its one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the request.
    Waiting,
    /// Asking the service, then writing the reply.
    Answering,
    /// Reply sent; reading and dropping until the client closes.
    Lingering,
}

/// One connection: one request, one reply. Temporary: never restarted.
pub struct Session<S: Service> {
    service: S,
    peer: SocketAddr,
    limits: ServerLimits,
    upload: Option<SharedBucket>,
    metrics: Metrics,
    stats: Rc<ServerStats>,
    /// The request's method, as a metric label (`none` until one parsed).
    method: &'static str,
    writer: Option<OwnedWriteHalf>,
    phase: Phase,
    /// The client closed its side (or the read failed).
    read_closed: bool,
    opened: Instant,
    slot: Slot,
    log: Logger,
}

impl<S: Service> Actor for Session<S> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_later(self.limits.request_timeout(), |act, ctx| {
            if act.phase == Phase::Waiting {
                warn!(act.log, "request timeout");
                act.answer(Answer::Status(Status::RequestTimeout), ctx);
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        trace!(self.log, "connection closed"; "elapsed_ms" => self.opened.elapsed().as_millis() as u64);
    }
}

impl<S: Service> StreamHandler<io::Result<Received>> for Session<S> {
    fn handle(&mut self, item: io::Result<Received>, ctx: &mut Self::Context) {
        if self.phase != Phase::Waiting {
            // The codec drops what follows a request; only a read error
            // (cut off after too much) arrives here, and ends the stream.
            return;
        }
        match item {
            Ok(Ok(request)) => {
                debug!(self.log, "request"; "head" => %Head(&request));
                self.method = method_label(&request);
                self.phase = Phase::Answering;
                let asked = self.service.call(request, self.peer);
                ctx.spawn(
                    asked
                        .into_actor(self)
                        .map(|answer, act, ctx| act.answer(answer, ctx)),
                );
            }
            Ok(Err(status)) => {
                warn!(self.log, "bad request"; "status" => %status);
                self.answer(Answer::Status(status), ctx);
            }
            Err(err) => {
                debug!(self.log, "read failed"; "err" => %err);
                ctx.stop();
            }
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        self.read_closed = true;
        match self.phase {
            Phase::Waiting => {
                debug!(self.log, "closed without a request");
                ctx.stop();
            }
            // The reply is still to be written: the client may have closed
            // only its sending side.
            Phase::Answering => {}
            Phase::Lingering => ctx.stop(),
        }
    }
}

impl<S: Service> Session<S> {
    /// Writes `answer` (on this session's context), then lingers.
    fn answer(&mut self, answer: Answer, ctx: &mut Context<Self>) {
        self.phase = Phase::Answering;
        let Some(write) = self.writer.take() else {
            return;
        };
        let status = answer.status();
        let role = role_label(self.service.role());
        self.metrics.request(role, self.method, status.code());
        let uploaded = match &answer {
            Answer::Document { number, .. } => Some(*number),
            _ => None,
        };
        let (head, body) = answer.into_frames(self.service.origin());
        let progress = Arc::new(Progress::default());
        if let (
            Some(number),
            ResponseHead {
                extra: crate::wire::HeadExtra::BodyLength(length),
                ..
            },
        ) = (uploaded, &head)
        {
            progress.announce(*length);
            self.stats.uploads.borrow_mut().insert(
                self.slot.session,
                Upload {
                    number,
                    client: self.peer,
                    progress: progress.clone(),
                    started: Instant::now(),
                },
            );
        }
        let codec = RequestCodec::new(self.service.role(), self.limits.wire());
        let sending = send(
            FramedWrite::new(write, codec),
            head,
            body,
            self.upload.clone(),
            self.limits.request_timeout(),
            progress.clone(),
        );
        let started = Instant::now();
        ctx.spawn(sending.into_actor(self).map(move |sent, act, ctx| {
            if uploaded.is_some() {
                act.stats.uploads.borrow_mut().remove(&act.slot.session);
                act.metrics.peer_bytes_served.inc_by(progress.received());
            }
            match (sent, uploaded) {
                (Ok(bytes), Some(rfc)) => {
                    info!(act.log, "rfc uploaded"; "rfc" => rfc,
                        "client" => %act.peer, "bytes" => bytes, "elapsed_ms" => started.elapsed().as_millis() as u64)
                }
                (Ok(bytes), None) => debug!(act.log, "reply"; "status" => %status, "bytes" => bytes),
                (Err(err), _) => {
                    debug!(act.log, "reply not delivered"; "status" => %status, "err" => %err);
                    ctx.stop();
                    return;
                }
            }
            act.phase = Phase::Lingering;
            if act.read_closed {
                ctx.stop();
            } else {
                ctx.run_later(LINGER, |_, ctx| ctx.stop());
            }
        }));
    }
}

/// Writes `head` and `body` through the encoder (throttled by `upload`;
/// each write failing if it stalls for `stall`), then closes our side.
/// Returns the bytes written.
async fn send(
    mut sink: FramedWrite<OwnedWriteHalf, RequestCodec>,
    head: ResponseHead,
    body: Option<DocumentBody>,
    upload: Option<SharedBucket>,
    stall: Duration,
    progress: Arc<Progress>,
) -> io::Result<u64> {
    let stalled = || io::Error::new(io::ErrorKind::TimedOut, "write stalled");
    let chunk = upload.as_ref().map_or(CHUNK, |bucket| {
        throttle_chunk(bucket.borrow().rate_bytes_per_sec())
    });
    sink.set_backpressure_boundary(chunk);
    let mut total = {
        let mut line = BytesMut::new();
        write::write_head(&head, &mut line);
        line.len() as u64
    };
    let feed = async |sink: &mut FramedWrite<_, _>, frame: Outgoing| -> io::Result<()> {
        tokio::time::timeout(stall, sink.feed(frame))
            .await
            .map_err(|_| stalled())?
    };
    match body {
        // A small body held in memory and no cap (a peer list, an index):
        // head and body in one vectored write, the body not copied.
        Some(DocumentBody::Cached(bytes)) if upload.is_none() && bytes.len() <= CHUNK => {
            let mut line = BytesMut::new();
            write::write_head(&head, &mut line);
            let mut all = bytes::Buf::chain(line.freeze(), bytes.clone());
            tokio::time::timeout(stall, sink.get_mut().write_all_buf(&mut all))
                .await
                .map_err(|_| stalled())??;
            total += bytes.len() as u64;
            progress.advance_to(bytes.len() as u64);
        }
        None => feed(&mut sink, Outgoing::Head(head)).await?,
        Some(DocumentBody::Cached(bytes)) => {
            feed(&mut sink, Outgoing::Head(head)).await?;
            let mut at = 0;
            while at < bytes.len() {
                let piece = bytes.slice(at..bytes.len().min(at + chunk));
                at += piece.len();
                if let Some(bucket) = &upload {
                    throttle(bucket, piece.len()).await;
                }
                total += piece.len() as u64;
                feed(&mut sink, Outgoing::Body(piece)).await?;
                progress.advance_to(at as u64);
            }
        }
        Some(DocumentBody::File { path, length }) => {
            feed(&mut sink, Outgoing::Head(head)).await?;
            let mut file = tokio::fs::File::open(&path).await?;
            let mut left = length;
            while left > 0 {
                let mut piece = BytesMut::with_capacity(chunk.min(left as usize));
                let read = (&mut file)
                    .take(left.min(chunk as u64))
                    .read_buf(&mut piece)
                    .await?;
                if read == 0 {
                    // The file shrank since it was indexed: cut the reply
                    // short, so the client sees a truncated body.
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than {length} bytes", path.display()),
                    ));
                }
                left -= read as u64;
                if let Some(bucket) = &upload {
                    throttle(bucket, read).await;
                }
                total += read as u64;
                feed(&mut sink, Outgoing::Body(piece.freeze())).await?;
                progress.advance_to(length - left);
            }
        }
    }
    tokio::time::timeout(stall, sink.close())
        .await
        .map_err(|_| stalled())??;
    Ok(total)
}

/// Shows a request as its head line (for the debug log).
pub struct Head<'a>(pub &'a Request);

impl std::fmt::Display for Head<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = write::request_bytes(self.0);
        f.write_str(String::from_utf8_lossy(&bytes).trim_end())
    }
}
