//! tokio-util codecs that frame the `&*` format on a byte stream.
//!
//! [`RequestCodec`] is the server's side: it decodes the one request of a
//! connection and encodes the response. [`ResponseCodec`] is the client's
//! side: encoding a request tells it what the response carries, so it knows
//! whether the head's last field is a body length.
//!
//! "Incomplete" (`Ok(None)`: wait for more bytes) is kept apart from
//! "invalid" (an error). A request the server must refuse is
//! [`RequestError::Reject`] with the status to send before closing.

use super::parse::{self, HeadExtra, Malformed, ResponseHead, Role};
use super::write;
use super::{Expect, Request, Response, Status, WireLimits};
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

/// Why a server reads no request from a connection.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request is invalid: send this status, then close.
    #[error("rejected: {0}")]
    Reject(Status),
    /// The connection failed: just close.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

/// The server's codec: decodes one request, encodes the response.
#[derive(Debug, Clone)]
pub struct RequestCodec {
    role: Role,
    limits: WireLimits,
    done: bool,
}

impl RequestCodec {
    /// A codec for a server of `role`, enforcing `limits`.
    pub fn new(role: Role, limits: WireLimits) -> Self {
        RequestCodec {
            role,
            limits,
            done: false,
        }
    }

    fn finish(&mut self, line: &[u8]) -> Result<Option<Request>, RequestError> {
        self.done = true;
        parse::parse_request(line, self.role)
            .map(Some)
            .map_err(RequestError::Reject)
    }
}

impl Decoder for RequestCodec {
    type Item = Request;
    type Error = RequestError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Request>, RequestError> {
        if self.done {
            // One exchange per connection: whatever follows the request is
            // dropped, never buffered.
            src.clear();
            return Ok(None);
        }
        match find_head_end(src, self.limits.max_head_bytes) {
            HeadEnd::Found { len, consumed } => {
                let line = src.split_to(consumed);
                self.finish(&line[..len])
            }
            HeadEnd::Incomplete => Ok(None),
            HeadEnd::TooLarge => {
                self.done = true;
                src.clear();
                Err(RequestError::Reject(Status::RequestTooLarge))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Request>, RequestError> {
        if let Some(request) = self.decode(src)? {
            return Ok(Some(request));
        }
        if self.done || src.is_empty() {
            // A connection closed before sending anything gets no reply.
            return Ok(None);
        }
        // A request head ended by the sender closing its side.
        let line = src.split();
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        self.finish(line)
    }
}

impl Encoder<Response> for RequestCodec {
    type Error = io::Error;

    fn encode(&mut self, response: Response, dst: &mut BytesMut) -> io::Result<()> {
        let body = write::write_response(&response, dst);
        dst.extend_from_slice(&body);
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
    Body {
        expect: Expect,
        head: ResponseHead,
        length: usize,
    },
}

/// The client's codec: encodes a request, decodes its response.
#[derive(Debug, Clone)]
pub struct ResponseCodec {
    limits: WireLimits,
    state: ClientState,
}

impl ResponseCodec {
    /// A codec enforcing `limits` on responses.
    pub fn new(limits: WireLimits) -> Self {
        ResponseCodec {
            limits,
            state: ClientState::Idle,
        }
    }

    /// A codec ready to read the response to a request that expects
    /// `expect`, for a client that wrote the request by other means.
    pub fn expecting(limits: WireLimits, expect: Expect) -> Self {
        ResponseCodec {
            limits,
            state: ClientState::Head(expect),
        }
    }
}

impl Decoder for ResponseCodec {
    type Item = Response;
    type Error = ResponseError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Response>, ResponseError> {
        loop {
            match &self.state {
                ClientState::Idle => {
                    return if src.is_empty() {
                        Ok(None)
                    } else {
                        Err(ResponseError::NoRequest)
                    };
                }
                ClientState::Head(expect) => {
                    let expect = *expect;
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
                    let length = match head.extra {
                        HeadExtra::BodyLength(length) => length,
                        _ => 0,
                    };
                    let limit = self.limits.max_body_bytes;
                    let length = usize::try_from(length)
                        .ok()
                        .filter(|length| *length <= limit)
                        .ok_or(ResponseError::BodyTooLarge { length, limit })?;
                    src.reserve(length.saturating_sub(src.len()));
                    self.state = ClientState::Body {
                        expect,
                        head,
                        length,
                    };
                }
                ClientState::Body {
                    expect,
                    head,
                    length,
                } => {
                    if src.len() < *length {
                        return Ok(None);
                    }
                    let body = src.split_to(*length).freeze();
                    let reply = parse::reply_from(head, *expect, body)?;
                    let origin = head.origin.clone();
                    self.state = ClientState::Idle;
                    // Nothing follows the body; bytes past it are dropped.
                    src.clear();
                    return Ok(Some(Response { origin, reply }));
                }
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Response>, ResponseError> {
        if let Some(response) = self.decode(src)? {
            return Ok(Some(response));
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

impl Encoder<Request> for ResponseCodec {
    type Error = io::Error;

    fn encode(&mut self, request: Request, dst: &mut BytesMut) -> io::Result<()> {
        self.encode(&request, dst)
    }
}
