//! Pure writing of head lines and bodies.
//!
//! Every head line ends with CR LF. A field never carries `&*`, CR or LF:
//! [`sanitize`] replaces each such sequence (CR LF counting as one) by a
//! single space, so what is written always parses back to the sanitized
//! value.

use super::{IndexRecord, Origin, PeerEntry, Reply, Request, Response, SEPARATOR, VERSION};
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

/// The text a field carries on the wire: each `&*`, CR LF, CR or LF
/// replaced by one space.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.contains(['\r', '\n']) && !text.contains("&*") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push(' ');
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(' ');
            }
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    // Replacing may have joined an `&` with a following `*` across the
    // replaced sequence's boundary only if a space came between, so the
    // result never holds `&*`; check it anyway in debug builds.
    debug_assert!(!out.contains("&*"));
    Cow::Owned(out)
}

/// Builds one head line: fields joined by `&*`, ended by CR LF.
struct Line<'a> {
    buf: &'a mut BytesMut,
    first: bool,
}

impl<'a> Line<'a> {
    fn new(buf: &'a mut BytesMut) -> Self {
        Line { buf, first: true }
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.put_slice(SEPARATOR);
        }
        self.first = false;
    }

    fn text(&mut self, field: &str) -> &mut Self {
        self.sep();
        self.buf.put_slice(sanitize(field).as_bytes());
        self
    }

    fn num(&mut self, value: impl itoa::Integer) -> &mut Self {
        self.sep();
        self.buf
            .put_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    fn origin(&mut self, origin: &Origin) -> &mut Self {
        self.text(&origin.host).text(&origin.os)
    }

    fn end(&mut self) {
        self.buf.put_slice(b"\r\n");
    }
}

/// Appends a request head to `buf`.
pub fn write_request(request: &Request, buf: &mut BytesMut) {
    let mut line = Line::new(buf);
    match request {
        Request::Register {
            origin,
            port,
            cookie,
        } => {
            line.text("REGISTER")
                .text(VERSION)
                .origin(origin)
                .num(*port);
            if let Some(cookie) = cookie {
                line.num(*cookie);
            }
        }
        Request::KeepAlive { cookie, origin } => {
            line.text("KEEPALIVE")
                .text(VERSION)
                .num(*cookie)
                .origin(origin);
        }
        Request::Leave { cookie, origin } => {
            line.text("LEAVE").text(VERSION).num(*cookie).origin(origin);
        }
        Request::PeerQuery { cookie, origin } => {
            line.text("PQUERY")
                .text(VERSION)
                .num(*cookie)
                .origin(origin);
        }
        Request::IndexQuery { origin } => {
            line.text("GET")
                .text("RFC-Index")
                .text(VERSION)
                .origin(origin);
        }
        Request::GetRfc { number, origin } => {
            line.text("GET")
                .text("RFC")
                .num(*number)
                .text(VERSION)
                .origin(origin);
        }
    }
    line.end();
}

/// A request head as bytes.
pub fn request_bytes(request: &Request) -> Bytes {
    let mut buf = BytesMut::with_capacity(96);
    write_request(request, &mut buf);
    buf.freeze()
}

/// Appends a response head to `head` and returns the body that follows it
/// (empty for replies without one). A document's bytes are returned as
/// they are, without copying, so a server can write them straight out.
pub fn write_response(response: &Response, head: &mut BytesMut) -> Bytes {
    let status = response.reply.status();
    let body = match &response.reply {
        Reply::Peers(peers) => peer_list_bytes(peers),
        Reply::Index(records) => index_bytes(records),
        Reply::Document(document) => document.clone(),
        _ => Bytes::new(),
    };
    let mut line = Line::new(head);
    line.text(VERSION)
        .num(status.code())
        .text(status.phrase())
        .origin(&response.origin);
    match &response.reply {
        Reply::Registered { cookie } => {
            line.num(*cookie);
        }
        Reply::Peers(_) | Reply::Index(_) | Reply::Document(_) => {
            line.num(body.len());
        }
        Reply::Done | Reply::Status(_) => {}
    }
    line.end();
    body
}

/// A peer list body: one CR LF ended line per peer.
pub fn peer_list_bytes(peers: &[PeerEntry]) -> Bytes {
    let mut buf = BytesMut::with_capacity(peers.len() * 64);
    for peer in peers {
        let last = UNIX_EPOCH + Duration::from_secs(peer.last_registered_unix_secs);
        let mut line = Line::new(&mut buf);
        line.text(&peer.host);
        line.sep();
        // An IP address's text never needs sanitizing.
        let _ = write!(ByteWriter(line.buf), "{}", peer.address);
        line.num(peer.port)
            .num(peer.ttl_secs)
            .num(peer.registrations_30d);
        line.sep();
        let _ = write!(
            ByteWriter(line.buf),
            "{}",
            humantime::format_rfc3339_seconds(last)
        );
        line.end();
    }
    buf.freeze()
}

/// An RFC index body: one CR LF ended line per record.
pub fn index_bytes(records: &[IndexRecord]) -> Bytes {
    let mut buf = BytesMut::with_capacity(records.len() * 96);
    for record in records {
        Line::new(&mut buf)
            .num(record.number)
            .text(&record.title)
            .text(&record.host)
            .num(record.port)
            .num(record.ttl_secs)
            .end();
    }
    buf.freeze()
}

/// `fmt::Write` into a `BytesMut`.
struct ByteWriter<'a>(&'a mut BytesMut);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}
