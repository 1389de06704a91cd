//! tokio-util codecs that frame the `&*` format on a byte stream.
//!
//! [`RequestCodec`] is the server's side: it decodes the one request of a
//! connection (or the status refusing it) and encodes the response as
//! [`Outgoing`] frames. After the request it drops whatever the client
//! still sends, so the same stream serves to linger on the connection
//! until the client closes. [`ResponseCodec`] is the client's side:
//! encoding a request tells it what the response carries, so it knows
//! whether the head's last field is a body length; a document comes out
//! as [`Incoming::Document`] and then chunks, never whole.
//!
//! "Incomplete" (`Ok(None)`: wait for more bytes) is kept apart from
//! "invalid": a request the server must refuse is an item,
//! `Err(Status)`, sent before closing; a broken response is a
//! [`ResponseError`].

use super::parse::{self, Malformed, Role};
use super::write;
use super::{
    Expect, HeadExtra, Incoming, Outgoing, Request, Response, ResponseHead, Status, WireLimits,
};
use bytes::{Buf, BytesMut};
use std::io;
use tokio_util::codec::{Decoder, Encoder};

/// Where the head line ends in `buf`, if it does within the limit.
enum HeadEnd {
    /// The line is `buf[..len]`; `consumed` bytes include the line end.
    Found { len: usize, consumed: usize },
    /// No line end yet; the line may still fit.
    Incomplete,
    /// The line is longer than the limit.
    TooLarge,
}

fn find_head_end(buf: &[u8], max_head_bytes: usize) -> HeadEnd {
    // A line of `max_head_bytes` content bytes may be followed by CR LF.
    let window = &buf[..buf.len().min(max_head_bytes.saturating_add(2))];
    match window.iter().position(|byte| *byte == b'\n') {
        Some(at) => {
            let len = if at > 0 && window[at - 1] == b'\r' {
                at - 1
            } else {
                at
            };
            if len > max_head_bytes {
                HeadEnd::TooLarge
            } else {
                HeadEnd::Found {
                    len,
                    consumed: at + 1,
                }
            }
        }
        None => {
            let over = buf.len() > max_head_bytes.saturating_add(1)
                || (buf.len() == max_head_bytes.saturating_add(1) && buf.last() != Some(&b'\r'));
            if over {
                HeadEnd::TooLarge
            } else {
                HeadEnd::Incomplete
            }
        }
    }
}

/// What a server reads from a connection: the request, or the status that
/// refuses it (400, 413, 501, 505).
pub type Received = Result<Request, Status>;

/// The server's codec: decodes one request, encodes the response.
#[derive(Debug, Clone)]
pub struct RequestCodec {
    role: Role,
    limits: WireLimits,
    done: bool,
    drained: usize,
    max_drain_bytes: usize,
}

impl RequestCodec {
    /// A codec for a server of `role`, enforcing `limits`.
    pub fn new(role: Role, limits: WireLimits) -> Self {
        RequestCodec {
            role,
            limits,
            done: false,
            drained: 0,
            max_drain_bytes: usize::MAX,
        }
    }

    /// After the request, drop at most `bytes` more before failing the
    /// stream (a client that keeps sending is cut off).
    pub fn with_drain_limit(mut self, bytes: usize) -> Self {
        self.max_drain_bytes = bytes;
        self
    }

    fn finish(&mut self, line: &[u8]) -> Received {
        self.done = true;
        parse::parse_request(line, self.role)
    }
}

impl Decoder for RequestCodec {
    type Item = Received;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<Received>> {
        if self.done {
            // One exchange per connection: whatever follows the request is
            // dropped, never buffered.
            self.drained = self.drained.saturating_add(src.len());
            src.clear();
            if self.drained > self.max_drain_bytes {
                return Err(io::Error::other(
                    "the client keeps sending after its request",
                ));
            }
            return Ok(None);
        }
        match find_head_end(src, self.limits.max_head_bytes) {
            HeadEnd::Found { len, consumed } => {
                let line = src.split_to(consumed);
                Ok(Some(self.finish(&line[..len])))
            }
            HeadEnd::Incomplete => Ok(None),
            HeadEnd::TooLarge => {
                self.done = true;
                src.clear();
                Ok(Some(Err(Status::RequestTooLarge)))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> io::Result<Option<Received>> {
        if let Some(received) = self.decode(src)? {
            return Ok(Some(received));
        }
        if self.done || src.is_empty() {
            // A connection closed before sending anything gets no reply.
            return Ok(None);
        }
        // A request head ended by the sender closing its side.
        let line = src.split();
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        Ok(Some(self.finish(line)))
    }
}

impl Encoder<Outgoing> for RequestCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: Outgoing, dst: &mut BytesMut) -> io::Result<()> {
        match frame {
            Outgoing::Head(head) => write::write_head(&head, dst),
            Outgoing::Body(bytes) => dst.extend_from_slice(&bytes),
        }
        Ok(())
    }
}

/// Why a client got no usable response.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The connection failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The response does not parse.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// The head line is longer than the limit.
    #[error("response head over {limit} bytes")]
    HeadTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The body announced is longer than the limit.
    #[error("response body of {length} bytes is over the limit of {limit}")]
    BodyTooLarge {
        /// The announced length.
        length: u64,
        /// The limit in force.
        limit: usize,
    },
    /// The connection closed before the whole response arrived.
    #[error("connection closed after {received} of {expected} bytes")]
    Truncated {
        /// Bytes the head or body announced (0 when the head was incomplete).
        expected: u64,
        /// Bytes received.
        received: u64,
    },
    /// A response arrived before any request was sent.
    #[error("no request was sent")]
    NoRequest,
}

#[derive(Debug, Clone)]
enum ClientState {
    Idle,
    Head(Expect),
    /// A peer list or an index, read whole (it is bounded by the limit).
    Body {
        expect: Expect,
        head: ResponseHead,
        length: usize,
    },
    /// A document, passed on chunk by chunk.
    Document {
        length: u64,
        remaining: u64,
    },
}

/// The client's codec: encodes a request, decodes its response.
#[derive(Debug, Clone)]
pub struct ResponseCodec {
    limits: WireLimits,
    state: ClientState,
    last_head: Option<ResponseHead>,
}

impl ResponseCodec {
    /// A codec enforcing `limits` on responses.
    pub fn new(limits: WireLimits) -> Self {
        ResponseCodec {
            limits,
            state: ClientState::Idle,
            last_head: None,
        }
    }

    /// A codec ready to read the response to a request that expects
    /// `expect`, for a client that wrote the request by other means.
    pub fn expecting(limits: WireLimits, expect: Expect) -> Self {
        ResponseCodec {
            limits,
            state: ClientState::Head(expect),
            last_head: None,
        }
    }

    /// The head of the response read last (for logs).
    pub fn last_head(&self) -> Option<&ResponseHead> {
        self.last_head.as_ref()
    }

    /// Reads the head line, if it is all there, and decides what follows.
    fn head(
        &mut self,
        expect: Expect,
        src: &mut BytesMut,
    ) -> Result<Option<ResponseHead>, ResponseError> {
        let (len, consumed) = match find_head_end(src, self.limits.max_head_bytes) {
            HeadEnd::Found { len, consumed } => (len, consumed),
            HeadEnd::Incomplete => return Ok(None),
            HeadEnd::TooLarge => {
                return Err(ResponseError::HeadTooLarge {
                    limit: self.limits.max_head_bytes,
                })
            }
        };
        let head = parse::parse_response_head(&src[..len], expect)?;
        src.advance(consumed);
        self.last_head = Some(head.clone());
        let length = match head.extra {
            HeadExtra::BodyLength(length) => length,
            _ => 0,
        };
        let limit = self.limits.max_body_bytes;
        let length = usize::try_from(length)
            .ok()
            .filter(|length| *length <= limit)
            .ok_or(ResponseError::BodyTooLarge { length, limit })?;
        self.state = if expect == Expect::Document && head.status == Status::Ok {
            ClientState::Document {
                length: length as u64,
                remaining: length as u64,
            }
        } else {
            src.reserve(length.saturating_sub(src.len()));
            ClientState::Body {
                expect,
                head: head.clone(),
                length,
            }
        };
        Ok(Some(head))
    }
}

impl Decoder for ResponseCodec {
    type Item = Incoming;
    type Error = ResponseError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, ResponseError> {
        loop {
            match &mut self.state {
                ClientState::Idle => {
                    return if src.is_empty() {
                        Ok(None)
                    } else {
                        Err(ResponseError::NoRequest)
                    };
                }
                ClientState::Head(expect) => {
                    let expect = *expect;
                    let Some(head) = self.head(expect, src)? else {
                        return Ok(None);
                    };
                    if let ClientState::Document { length, .. } = self.state {
                        // A document's head comes out first, then its chunks.
                        return Ok(Some(Incoming::Document {
                            origin: head.origin,
                            length,
                        }));
                    }
                }
                ClientState::Body {
                    expect,
                    head,
                    length,
                } => {
                    if src.len() < *length {
                        return Ok(None);
                    }
                    let body = src.split_to(*length);
                    let reply = parse::reply_from(head, *expect, &body)?
                        .ok_or_else(|| Malformed("a document where none was expected".into()))?;
                    let origin = head.origin.clone();
                    self.state = ClientState::Idle;
                    // Nothing follows the body; bytes past it are dropped.
                    src.clear();
                    return Ok(Some(Incoming::Response(Response { origin, reply })));
                }
                ClientState::Document { remaining, .. } => {
                    if *remaining == 0 {
                        self.state = ClientState::Idle;
                        src.clear();
                        continue;
                    }
                    if src.is_empty() {
                        return Ok(None);
                    }
                    let take = src
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= take as u64;
                    let chunk = src.split_to(take).freeze();
                    if *remaining == 0 {
                        self.state = ClientState::Idle;
                        // Nothing follows the body; bytes past it are dropped.
                        src.clear();
                    }
                    return Ok(Some(Incoming::Chunk(chunk)));
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, ResponseError> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        match &self.state {
            ClientState::Idle => Ok(None),
            ClientState::Head(_) => Err(ResponseError::Truncated {
                expected: 0,
                received: src.len() as u64,
            }),
            ClientState::Body { length, .. } => Err(ResponseError::Truncated {
                expected: *length as u64,
                received: src.len() as u64,
            }),
            ClientState::Document { length, remaining } => Err(ResponseError::Truncated {
                expected: *length,
                received: length - remaining,
            }),
        }
    }
}

impl Encoder<&Request> for ResponseCodec {
    type Error = io::Error;

    fn encode(&mut self, request: &Request, dst: &mut BytesMut) -> io::Result<()> {
        write::write_request(request, dst);
        self.state = ClientState::Head(request.expects());
        Ok(())
    }
}
