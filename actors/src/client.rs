//! One client exchange: connect, send a request, read its response,
//! within a time limit and, optionally, a download rate cap.

use crate::server::{throttle, throttle_chunk, SharedBucket};
use crate::wire::{write, Request, Response, ResponseCodec, ResponseError, WireLimits};
use bytes::BytesMut;
use slog::{debug, Logger};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection could be made.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The exchange took longer than allowed.
    #[error("no complete response from {addr} within {secs} s")]
    Timeout {
        /// Where.
        addr: SocketAddr,
        /// The limit.
        secs: u64,
    },
    /// The response was cut short, malformed or over a limit.
    #[error("response from {addr}: {source}")]
    Response {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: ResponseError,
    },
}

/// Sends `request` to `addr` and reads the response, all within `timeout`;
/// reading is paced by `download` when set. The response's head is logged
/// at debug level.
pub async fn exchange(
    addr: SocketAddr,
    request: &Request,
    limits: WireLimits,
    timeout: Duration,
    download: Option<&SharedBucket>,
    log: &Logger,
) -> Result<Response, ClientError> {
    let work = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let response_err = |source: ResponseError| ClientError::Response { addr, source };
        stream
            .write_all(&write::request_bytes(request))
            .await
            .map_err(|e| response_err(e.into()))?;
        let mut codec = ResponseCodec::expecting(limits, request.expects());
        let chunk = download.map_or(256 * 1024, |b| {
            throttle_chunk(b.borrow().rate_bytes_per_sec())
        });
        let mut buf = BytesMut::with_capacity(chunk.min(64 * 1024));
        loop {
            if let Some(response) = codec.decode(&mut buf).map_err(response_err)? {
                return Ok(response);
            }
            buf.reserve(chunk);
            let read = (&mut stream)
                .take(chunk as u64)
                .read_buf(&mut buf)
                .await
                .map_err(|e| response_err(e.into()))?;
            if read == 0 {
                return match codec.decode_eof(&mut buf).map_err(response_err)? {
                    Some(response) => Ok(response),
                    None => Err(response_err(ResponseError::Truncated {
                        expected: 0,
                        received: 0,
                    })),
                };
            }
            if let Some(bucket) = download {
                throttle(bucket, read).await;
            }
        }
    };
    let response =
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(ClientError::Timeout {
                addr,
                secs: timeout.as_secs(),
            }))?;
    debug!(log, "response"; "from" => %addr, "head" => %ResponseHead(&response));
    Ok(response)
}

/// Shows a response as its head line (for the debug log).
pub struct ResponseHead<'a>(pub &'a Response);

impl std::fmt::Display for ResponseHead<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut head = BytesMut::new();
        write::write_response(self.0, &mut head);
        f.write_str(String::from_utf8_lossy(&head).trim_end())
    }
}
