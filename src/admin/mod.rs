//! The admin endpoint: a small HTTP server beside each daemon, for
//! operators, scripts (`p2p-di ctl`), Prometheus and a browser. Its routes
//! and bodies are documented in docs/ADMIN.md.
//!
//! It is actix-web: it runs on the actix runtime the daemons already use,
//! its handlers reach the actors with the same typed messages the daemons
//! use among themselves (nothing is shared but actor addresses and the
//! metric handles), and it brings the HTTP parsing, keep-alive, time limits
//! and connection cap we would otherwise write. It runs one worker thread
//! of its own, so a slow admin client never takes time from the RFC server
//! or the registry.
//!
//! Every route but the status page (`GET /`, which holds no data) requires
//! `Authorization: Bearer TOKEN` when a token is configured; the config
//! refuses an address off loopback without one.

pub mod peer;
pub mod rs;

use actix_web::dev::{Payload, ServerHandle};
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Records in a page when the request names no `limit`.
pub const DEFAULT_PAGE: usize = 100;
/// Most records in a page.
pub const MAX_PAGE: usize = 10_000;
/// Largest request body accepted (but for a batch of downloads).
const MAX_BODY_BYTES: usize = 4096;

/// Longest body of `POST /downloads`: a batch of RFC numbers as big as the
/// queue a peer may keep (100,000 numbers of up to 7 digits, with commas).
pub const MAX_BATCH_BODY_BYTES: usize = 1 << 20;

/// The JSON extractor's settings, with bodies of at most `limit` bytes.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| ApiError::bad_request(json_error(&err)).into())
}
/// Admin connections served at once (the daemons keep descriptors for
/// them).
const MAX_CONNECTIONS: usize = p2p_di_actors::config::ADMIN_MAX_CONNECTIONS;

/// The status page: one self-contained file, for both roles.
const PAGE: &str = include_str!("page.html");

/// A running admin endpoint.
pub struct AdminServer {
    /// Where it listens.
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl AdminServer {
    /// Stops it, letting requests in flight finish for a second at most.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// What every route of a daemon shares.
#[derive(Debug, Clone)]
pub struct Common {
    /// When the daemon started.
    pub started: Instant,
    /// The bearer token required, if any.
    pub token: Option<String>,
    /// The admin endpoint's own address.
    pub admin: SocketAddr,
}

impl Common {
    fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Binds `addr` and serves the routes `routes` adds, with `state` as app
/// data, requiring `token` if set.
pub fn serve<S: Send + Sync + 'static>(
    addr: SocketAddr,
    token: Option<String>,
    started: Instant,
    state: S,
    routes: fn(&mut web::ServiceConfig),
    log: &slog::Logger,
) -> anyhow::Result<AdminServer> {
    let guarded = token.is_some();
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|err| anyhow::anyhow!("admin endpoint {addr}: {err}"))?;
    let bound = listener.local_addr()?;
    let common = web::Data::new(Common {
        started,
        token,
        admin: bound,
    });
    let state = web::Data::new(state);
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(common.clone())
            .app_data(state.clone())
            .app_data(json_config(MAX_BODY_BYTES))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, _| ApiError::bad_request(err.to_string()).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, _| ApiError::bad_request(err.to_string()).into()),
            )
            .route("/", web::get().to(page))
            .configure(routes)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .max_connections(MAX_CONNECTIONS)
    .client_request_timeout(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_secs(1))
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    actix::spawn(async move {
        let _ = server.await;
    });
    slog::info!(log, "admin endpoint listening"; "addr" => %bound, "token" => guarded);
    Ok(AdminServer {
        addr: bound,
        handle,
    })
}

/// Why a JSON body was refused. The content type is required (a page
/// elsewhere cannot send it without the browser asking first), so say so.
fn json_error(err: &actix_web::error::JsonPayloadError) -> String {
    match err {
        actix_web::error::JsonPayloadError::ContentType => {
            "send the body as JSON with Content-Type: application/json".to_owned()
        }
        other => other.to_string(),
    }
}

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src data:; form-action 'none'; base-uri 'none'",
        ))
        .body(PAGE)
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {} {}", request.method(), request.path()),
    )
    .error_response()
}

/// `GET /metrics`: the Prometheus text format, or OpenMetrics when the
/// scraper asks for it.
pub fn metrics_reply(
    request: &HttpRequest,
    metrics: &p2p_di_actors::metrics::Metrics,
) -> HttpResponse {
    let openmetrics = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if openmetrics {
        HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(metrics.encode_openmetrics())
    } else {
        HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(metrics.encode())
    }
}

/// An error, answered as `{"error": "..."}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 503: an actor is restarting (its mailbox closed for a moment).
    pub fn restarting(what: &str) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the {what} is restarting; try again"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut reply = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            reply.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"p2p-di\""));
        }
        reply.json(crate::api::ErrorBody {
            error: self.message.clone(),
        })
    }
}

/// Proof that the request carried the configured token (or that none is
/// configured): every data route takes one.
pub struct Authorized;

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let expected = request
            .app_data::<web::Data<Common>>()
            .and_then(|common| common.token.clone());
        let Some(expected) = expected else {
            return std::future::ready(Ok(Authorized));
        };
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let result = match given {
            Some(given) if same_secret(given.as_bytes(), expected.as_bytes()) => Ok(Authorized),
            Some(_) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong bearer token",
            )),
            None => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this endpoint requires Authorization: Bearer TOKEN",
            )),
        };
        std::future::ready(result)
    }
}

/// Compares two secrets in time that depends on their lengths only.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

/// A page's size from the query: the default when unset, at most
/// [`MAX_PAGE`], at least 1.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(0) => Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) if n > MAX_PAGE => Err(ApiError::bad_request(format!(
            "limit must be at most {MAX_PAGE}"
        ))),
        Some(n) => Ok(n),
    }
}

/// One page of a list: its items and the key to pass as `after` for the
/// next (`null` at the end).
#[derive(Debug, Serialize)]
pub struct Page<T: Serialize, K: Serialize> {
    /// The items.
    pub items: Vec<T>,
    /// The `after` of the next page, if there is one.
    pub next: Option<K>,
}

/// Pages a list held whole (a few thousand items at most): sorted by
/// `key`, those after `after`, `limit` of them.
pub fn page_of<T: Serialize, K: Ord + Clone + Serialize>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> K,
    after: Option<K>,
    limit: usize,
) -> Page<T, K> {
    items.sort_by_key(|item| key(item));
    let start = match &after {
        Some(after) => items.partition_point(|item| key(item) <= *after),
        None => 0,
    };
    let more = items.len() > start + limit;
    let items: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = if more { items.last().map(&key) } else { None };
    Page { items, next }
}

pub use crate::api::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_their_keys_without_gaps_or_repeats() {
        let items: Vec<u32> = vec![5, 1, 4, 2, 3];
        let first = page_of(items.clone(), |n| *n, None, 2);
        assert_eq!((first.items.as_slice(), first.next), (&[1, 2][..], Some(2)));
        let second = page_of(items.clone(), |n| *n, first.next, 2);
        assert_eq!(
            (second.items.as_slice(), second.next),
            (&[3, 4][..], Some(4))
        );
        let last = page_of(items.clone(), |n| *n, second.next, 2);
        assert_eq!((last.items.as_slice(), last.next), (&[5][..], None));
        let exact = page_of(items, |n| *n, None, 5);
        assert_eq!(exact.next, None);
    }

    #[test]
    fn a_secret_matches_only_itself() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cres", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }

    #[test]
    fn page_limits_are_bounded() {
        assert_eq!(page_limit(None).unwrap(), DEFAULT_PAGE);
        assert_eq!(page_limit(Some(7)).unwrap(), 7);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(MAX_PAGE + 1)).is_err());
    }
}
