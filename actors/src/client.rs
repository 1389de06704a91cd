//! One client exchange: connect, send a request through the codec's
//! encoder, read its response through its decoder, within a time limit
//! and, optionally, a download rate cap. A document is never held whole:
//! [`fetch_document`] writes each chunk to its destination as it arrives.

use crate::transfer::{throttle, throttle_chunk, Progress, SharedBucket};
use crate::wire::{
    write, Incoming, Origin, Request, Response, ResponseCodec, ResponseError, WireLimits,
};
use bytes::BytesMut;
use slog::{debug, Logger};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

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
    /// The document could not be written where it was going.
    #[error("writing the document from {addr}: {source}")]
    Sink {
        /// Where it came from.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
}

/// What a GET RFC brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The document, all `length` bytes of it, written to the destination.
    Document {
        /// The holder.
        origin: Origin,
        /// Its length.
        length: u64,
    },
    /// Any other answer (404, 503, ...).
    Refused(Response),
}

/// The bytes one exchange moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Request bytes sent.
    pub sent: u64,
    /// Response bytes received.
    pub received: u64,
}

/// A connection with a request sent, and its response being read.
struct Exchange<'a> {
    addr: SocketAddr,
    traffic: Traffic,
    stream: TcpStream,
    codec: ResponseCodec,
    buf: BytesMut,
    chunk: usize,
    download: Option<&'a SharedBucket>,
}

impl<'a> Exchange<'a> {
    async fn open(
        addr: SocketAddr,
        request: &Request,
        limits: WireLimits,
        download: Option<&'a SharedBucket>,
    ) -> Result<Exchange<'a>, ClientError> {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let mut codec = ResponseCodec::new(limits);
        let mut out = BytesMut::with_capacity(128);
        let failed = |source: io::Error| ClientError::Response {
            addr,
            source: source.into(),
        };
        codec.encode(request, &mut out).map_err(failed)?;
        stream.write_all(&out).await.map_err(failed)?;
        let traffic = Traffic {
            sent: out.len() as u64,
            received: 0,
        };
        let chunk = download.map_or(256 * 1024, |bucket| {
            throttle_chunk(bucket.borrow().rate_bytes_per_sec())
        });
        Ok(Exchange {
            addr,
            traffic,
            stream,
            codec,
            buf: BytesMut::with_capacity(chunk.min(64 * 1024)),
            chunk,
            download,
        })
    }

    /// The next frame of the response; `None` once it is complete.
    async fn next(&mut self) -> Result<Option<Incoming>, ClientError> {
        let addr = self.addr;
        let failed = |source: ResponseError| ClientError::Response { addr, source };
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf).map_err(failed)? {
                return Ok(Some(frame));
            }
            self.buf.reserve(self.chunk);
            let read = (&mut self.stream)
                .take(self.chunk as u64)
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| failed(e.into()))?;
            self.traffic.received += read as u64;
            if read == 0 {
                return self.codec.decode_eof(&mut self.buf).map_err(failed);
            }
            if let Some(bucket) = self.download {
                throttle(bucket, read).await;
            }
        }
    }

    fn log_head(&self, log: &Logger) {
        if let Some(head) = self.codec.last_head() {
            let mut line = BytesMut::new();
            write::write_head(head, &mut line);
            debug!(log, "response"; "from" => %self.addr,
                "head" => %String::from_utf8_lossy(&line).trim_end());
        }
    }
}

fn timed_out(addr: SocketAddr, timeout: Duration) -> ClientError {
    ClientError::Timeout {
        addr,
        secs: timeout.as_secs(),
    }
}

/// Sends `request` (anything but GET RFC) to `addr` and reads the whole
/// response, all within `timeout`; reading is paced by `download` when
/// set. The response's head is logged at debug level. Answers the response
/// and the bytes the exchange moved.
pub async fn exchange(
    addr: SocketAddr,
    request: &Request,
    limits: WireLimits,
    timeout: Duration,
    download: Option<&SharedBucket>,
    log: &Logger,
) -> Result<(Response, Traffic), ClientError> {
    let work = async {
        let mut exchange = Exchange::open(addr, request, limits, download).await?;
        let frame = exchange.next().await?;
        exchange.log_head(log);
        match frame {
            Some(Incoming::Response(response)) => Ok((response, exchange.traffic)),
            other => Err(ClientError::Response {
                addr,
                source: ResponseError::Malformed(crate::wire::parse::Malformed(format!(
                    "expected a whole response, got {other:?}"
                ))),
            }),
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(timed_out(addr, timeout)))
}

/// Sends a GET RFC to `addr` and writes the document to `out` chunk by
/// chunk as it arrives (flushed at the end), all within `timeout`; reading
/// is paced by `download` when set, and `progress` follows it. A short body
/// is an error (and what was written of it is the caller's to discard).
#[allow(clippy::too_many_arguments)]
pub async fn fetch_document<W: AsyncWrite + Unpin>(
    addr: SocketAddr,
    request: &Request,
    limits: WireLimits,
    timeout: Duration,
    download: Option<&SharedBucket>,
    out: &mut W,
    progress: &Progress,
    log: &Logger,
) -> Result<Fetched, ClientError> {
    let work = async {
        let mut exchange = Exchange::open(addr, request, limits, download).await?;
        let first = exchange.next().await?;
        exchange.log_head(log);
        let (origin, length) = match first {
            Some(Incoming::Document { origin, length }) => (origin, length),
            Some(Incoming::Response(response)) => return Ok(Fetched::Refused(response)),
            Some(Incoming::Chunk(_)) | None => {
                return Err(ClientError::Response {
                    addr,
                    source: ResponseError::Truncated {
                        expected: 0,
                        received: 0,
                    },
                })
            }
        };
        progress.announce(length);
        let sink = |source: io::Error| ClientError::Sink { addr, source };
        let mut received = 0u64;
        while received < length {
            match exchange.next().await? {
                Some(Incoming::Chunk(bytes)) => {
                    received += bytes.len() as u64;
                    out.write_all(&bytes).await.map_err(sink)?;
                    progress.advance_to(received);
                }
                _ => {
                    return Err(ClientError::Response {
                        addr,
                        source: ResponseError::Truncated {
                            expected: length,
                            received,
                        },
                    })
                }
            }
        }
        out.flush().await.map_err(sink)?;
        Ok(Fetched::Document { origin, length })
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(timed_out(addr, timeout)))
}
