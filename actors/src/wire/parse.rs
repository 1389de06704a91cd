//! Pure parsing of head lines and bodies.
//!
//! A request head is checked in the contract's order (size, emptiness,
//! method and GET target, version, then the number and the content of the
//! fields) and a failure is the [`Status`] the server must send. A response
//! is parsed knowing what its request [`Expect`]s; a failure there is a
//! [`Malformed`] answer that a client can only log and drop.

use super::{
    Cookie, Expect, HeadExtra, IndexRecord, Origin, PeerEntry, Reply, Request, ResponseHead,
    RfcNumber, Status, MAX_NAME_BYTES, SEPARATOR, VERSION,
};
use std::net::IpAddr;
use std::time::{Duration, UNIX_EPOCH};

/// Which methods a server serves: the RS serves REGISTER, KEEPALIVE, LEAVE
/// and PQUERY; a peer's RFC server serves GET. Anything else is `501`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The registration server.
    Registry,
    /// A peer's RFC server.
    Peer,
}

/// A response that does not parse: the peer that sent it is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed response: {0}")]
pub struct Malformed(pub String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// The fields of a head line, split at every `&*`.
pub(crate) fn split_fields(line: &[u8]) -> Vec<&[u8]> {
    let mut fields = Vec::with_capacity(8);
    let mut rest = line;
    while let Some(at) = find_separator(rest) {
        fields.push(&rest[..at]);
        rest = &rest[at + SEPARATOR.len()..];
    }
    fields.push(rest);
    fields
}

fn find_separator(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|pair| pair == SEPARATOR)
}

/// Parses a request head line (without its line end) for a server of `role`.
pub fn parse_request(line: &[u8], role: Role) -> Result<Request, Status> {
    if line.is_empty() {
        return Err(Status::BadRequest);
    }
    let fields = split_fields(line);
    let method = fields[0];
    // Method (and GET target) first, then the version at its place, then
    // the field count, then each field: the contract's order.
    let (shape, version_at) = match method {
        b"REGISTER" | b"KEEPALIVE" | b"LEAVE" | b"PQUERY" if role == Role::Registry => {
            (Shape::from_registry_method(method), 1)
        }
        b"GET" if role == Role::Peer => match fields.get(1).copied() {
            Some(b"RFC-Index") => (Shape::IndexQuery, 2),
            Some(b"RFC") => (Shape::GetRfc, 3),
            _ => return Err(Status::BadRequest),
        },
        _ => return Err(Status::NotImplemented),
    };
    match fields.get(version_at) {
        None => return Err(Status::BadRequest),
        Some(version) if *version != VERSION.as_bytes() => return Err(Status::VersionNotSupported),
        Some(_) => {}
    }
    if !shape.field_counts().contains(&fields.len()) {
        return Err(Status::BadRequest);
    }
    let name = |i: usize| -> Result<&str, Status> {
        let field = fields[i];
        if field.len() > MAX_NAME_BYTES || field.contains(&b'\r') || field.contains(&b'\n') {
            return Err(Status::BadRequest);
        }
        std::str::from_utf8(field).map_err(|_| Status::BadRequest)
    };
    let origin = |host_at: usize| -> Result<Origin, Status> {
        let host = name(host_at)?;
        if host.is_empty() {
            return Err(Status::BadRequest);
        }
        Ok(Origin::new(host, name(host_at + 1)?))
    };
    let cookie = |i: usize| number::<Cookie>(fields[i]).ok_or(Status::BadRequest);
    Ok(match shape {
        Shape::Register => Request::Register {
            origin: origin(2)?,
            port: port(fields[4]).ok_or(Status::BadRequest)?,
            cookie: if fields.len() == 6 {
                Some(cookie(5)?)
            } else {
                None
            },
        },
        Shape::KeepAlive => Request::KeepAlive {
            cookie: cookie(2)?,
            origin: origin(3)?,
        },
        Shape::Leave => Request::Leave {
            cookie: cookie(2)?,
            origin: origin(3)?,
        },
        Shape::PeerQuery => Request::PeerQuery {
            cookie: cookie(2)?,
            origin: origin(3)?,
        },
        Shape::IndexQuery => Request::IndexQuery { origin: origin(3)? },
        Shape::GetRfc => Request::GetRfc {
            number: number::<RfcNumber>(fields[2]).ok_or(Status::BadRequest)?,
            origin: origin(4)?,
        },
    })
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Register,
    KeepAlive,
    Leave,
    PeerQuery,
    IndexQuery,
    GetRfc,
}

impl Shape {
    fn from_registry_method(method: &[u8]) -> Shape {
        match method {
            b"REGISTER" => Shape::Register,
            b"KEEPALIVE" => Shape::KeepAlive,
            b"LEAVE" => Shape::Leave,
            _ => Shape::PeerQuery,
        }
    }

    fn field_counts(self) -> &'static [usize] {
        match self {
            Shape::Register => &[5, 6],
            Shape::GetRfc => &[6],
            _ => &[5],
        }
    }
}

/// A decimal number made of ASCII digits only (no sign, no blanks).
pub fn number<T: std::str::FromStr>(field: &[u8]) -> Option<T> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// A TCP port: a decimal number from 1 to 65535.
pub fn port(field: &[u8]) -> Option<u16> {
    number::<u16>(field).filter(|port| *port != 0)
}

/// Parses a response head line (without its line end), knowing what the
/// request expects.
pub fn parse_response_head(line: &[u8], expect: Expect) -> Result<ResponseHead, Malformed> {
    let fields = split_fields(line);
    if fields.len() < 5 {
        return Err(malformed(format!("{} fields in the head", fields.len())));
    }
    if fields[0] != VERSION.as_bytes() {
        return Err(malformed("unknown version"));
    }
    let code: u16 = number(fields[1]).ok_or_else(|| malformed("status code"))?;
    let text =
        |i: usize| std::str::from_utf8(fields[i]).map_err(|_| malformed("a field is not UTF-8"));
    let origin = Origin::new(text(3)?, text(4)?);
    let status = match code {
        200 => Status::Ok,
        400 => Status::BadRequest,
        403 => Status::Forbidden,
        404 if expect == Expect::Peers => Status::NoActivePeers,
        404 => Status::NotFound,
        408 => Status::RequestTimeout,
        413 => Status::RequestTooLarge,
        501 => Status::NotImplemented,
        503 => Status::ServiceUnavailable,
        505 => Status::VersionNotSupported,
        other => return Err(malformed(format!("unknown status {other}"))),
    };
    let extra = match (status, expect) {
        (Status::Ok, Expect::Cookie) => {
            let field = fields.get(5).ok_or_else(|| malformed("no cookie"))?;
            HeadExtra::Cookie(number(field).ok_or_else(|| malformed("cookie"))?)
        }
        (Status::Ok, Expect::Ack) => HeadExtra::None,
        (Status::Ok, _) => {
            let field = fields.get(5).ok_or_else(|| malformed("no body length"))?;
            HeadExtra::BodyLength(number(field).ok_or_else(|| malformed("body length"))?)
        }
        _ => HeadExtra::None,
    };
    let wanted = if extra == HeadExtra::None { 5 } else { 6 };
    if fields.len() != wanted {
        return Err(malformed(format!(
            "{} fields in a {status} head",
            fields.len()
        )));
    }
    Ok(ResponseHead {
        status,
        origin,
        extra,
    })
}

/// Turns a parsed head and its body (empty when it has none) into a reply;
/// `None` for a document's head, whose body is streamed, not parsed.
pub fn reply_from(
    head: &ResponseHead,
    expect: Expect,
    body: &[u8],
) -> Result<Option<Reply>, Malformed> {
    Ok(Some(match (head.status, head.extra) {
        (Status::Ok, HeadExtra::Cookie(cookie)) => Reply::Registered { cookie },
        (Status::Ok, HeadExtra::None) => Reply::Done,
        (Status::Ok, HeadExtra::BodyLength(_)) => match expect {
            Expect::Peers => Reply::Peers(parse_peer_list(body)?),
            Expect::Index => Reply::Index(parse_index(body)?),
            _ => return Ok(None),
        },
        (status, _) => Reply::Status(status),
    }))
}

/// The lines of a body: each ended by CR LF (a bare LF, or nothing for the
/// last line, is accepted).
fn body_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    body.split(|byte| *byte == b'\n')
        .filter(move |_| !body.is_empty())
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
}

fn body_fields<'a>(line: &'a [u8], count: usize, what: &str) -> Result<Vec<&'a str>, Malformed> {
    let fields = split_fields(line);
    if fields.len() != count {
        return Err(malformed(format!("{what}: {} fields", fields.len())));
    }
    fields
        .into_iter()
        .map(|field| {
            std::str::from_utf8(field).map_err(|_| malformed(format!("{what}: not UTF-8")))
        })
        .collect()
}

/// Parses a PQUERY body.
pub fn parse_peer_list(body: &[u8]) -> Result<Vec<PeerEntry>, Malformed> {
    body_lines(body)
        .map(|line| {
            let f = body_fields(line, 6, "peer list")?;
            let bad = |what: &str| malformed(format!("peer list: {what}"));
            let last = humantime::parse_rfc3339(f[5]).map_err(|_| bad("time"))?;
            Ok(PeerEntry {
                host: f[0].to_owned(),
                address: f[1].parse::<IpAddr>().map_err(|_| bad("address"))?,
                port: port(f[2].as_bytes()).ok_or_else(|| bad("port"))?,
                ttl_secs: number(f[3].as_bytes()).ok_or_else(|| bad("ttl"))?,
                registrations_30d: number(f[4].as_bytes()).ok_or_else(|| bad("count"))?,
                last_registered_unix_secs: last
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_secs(),
            })
        })
        .collect()
}

/// Parses an RFC index body.
pub fn parse_index(body: &[u8]) -> Result<Vec<IndexRecord>, Malformed> {
    body_lines(body)
        .map(|line| {
            let f = body_fields(line, 5, "index")?;
            let bad = |what: &str| malformed(format!("index: {what}"));
            Ok(IndexRecord {
                number: number(f[0].as_bytes()).ok_or_else(|| bad("number"))?,
                title: f[1].to_owned(),
                host: f[2].to_owned(),
                port: port(f[3].as_bytes()).ok_or_else(|| bad("port"))?,
                ttl_secs: number(f[4].as_bytes()).ok_or_else(|| bad("ttl"))?,
            })
        })
        .collect()
}
