//! Pure writing of head lines and bodies.
//!
//! Every head line ends with CR LF. A field never carries `&*`, CR or LF:
//! [`sanitize`] replaces each such sequence (CR LF counting as one) by a
//! single space, so what is written always parses back to the sanitized
//! value.

use super::{HeadExtra, IndexRecord, Origin, PeerEntry, Request, ResponseHead, SEPARATOR, VERSION};
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;
use std::net::IpAddr;

/// The text a field carries on the wire: each `&*`, CR LF, CR or LF
/// replaced by one space.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    // One pass over the bytes: a field is almost always clean.
    let bytes = text.as_bytes();
    let clean = bytes.iter().enumerate().all(|(i, b)| match b {
        b'\r' | b'\n' => false,
        b'&' => bytes.get(i + 1) != Some(&b'*'),
        _ => true,
    });
    if clean {
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

/// Appends a response head line to `buf`.
pub fn write_head(head: &ResponseHead, buf: &mut BytesMut) {
    let mut line = Line::new(buf);
    line.text(VERSION)
        .num(head.status.code())
        .text(head.status.phrase())
        .origin(&head.origin);
    match head.extra {
        HeadExtra::None => {}
        HeadExtra::Cookie(cookie) => {
            line.num(cookie);
        }
        HeadExtra::BodyLength(length) => {
            line.num(length);
        }
    }
    line.end();
}

/// One line of a peer list, appended to `buf`:
/// `HOST&*ADDRESS&*PORT&*TTL&*REGISTRATIONS_30D&*LAST_REGISTERED` and CR LF.
pub fn peer_line(peer: &PeerEntry, buf: &mut BytesMut) {
    let mut line = Vec::with_capacity(96);
    PeerLines::new(&mut line).line(
        sanitize(&peer.host).as_bytes(),
        peer.address,
        peer.port,
        peer.ttl_secs,
        peer.registrations_30d,
        peer.last_registered_unix_secs,
    );
    buf.put_slice(&line);
}

/// Peer-list lines appended to a buffer. The RS writes a thousand of these
/// per reply at scale from its records (their host names kept
/// sanitized), so each line is written in place in the buffer's spare
/// room, with no copy call per field and nothing zeroed first (see
/// [`Tail`]), and the day of the last line's time is kept: the lines of
/// one reply mostly share their registration day.
pub struct PeerLines<'a> {
    out: &'a mut Vec<u8>,
    /// The day last written, and its `YYYY-MM-DD`.
    day: (u64, [u8; 10]),
}

impl<'a> PeerLines<'a> {
    /// Lines appended to `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        PeerLines {
            out,
            day: (u64::MAX, [0; 10]),
        }
    }

    /// Appends one line; `host` is written as it is (sanitized already).
    pub fn line(
        &mut self,
        host: &[u8],
        address: IpAddr,
        port: u16,
        ttl_secs: u64,
        registrations_30d: u32,
        last_registered_unix_secs: u64,
    ) {
        const MAX_TIME: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        let room = host.len() + Tail::MAX;
        self.out.reserve(room);
        let start = self.out.len();
        let spare = &mut self.out.spare_capacity_mut()[..room];
        copy_into(&mut spare[..host.len()], host);
        let mut tail = Tail {
            buf: &mut spare[host.len()..],
            len: 0,
        };
        tail.put(SEPARATOR);
        match address {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                tail.octet(a);
                for octet in [b, c, d] {
                    tail.put(b".");
                    tail.octet(octet);
                }
            }
            IpAddr::V6(v6) => {
                use std::fmt::Write as _;
                let _ = write!(tail, "{v6}");
            }
        }
        for number in [u64::from(port), ttl_secs, u64::from(registrations_30d)] {
            tail.put(SEPARATOR);
            tail.num(number);
        }
        tail.put(SEPARATOR);
        let secs = last_registered_unix_secs.min(MAX_TIME);
        let (days, second) = (secs / 86_400, secs % 86_400);
        if self.day.0 != days {
            self.day = (days, date_of(days));
        }
        tail.put(&self.day.1);
        tail.put(b"T");
        tail.put(&PAIRS[(second / 3600) as usize]);
        tail.put(b":");
        tail.put(&PAIRS[(second / 60 % 60) as usize]);
        tail.put(b":");
        tail.put(&PAIRS[(second % 60) as usize]);
        tail.put(b"Z\r\n");
        let len = host.len() + tail.len;
        // SAFETY: the first `len` bytes of the spare room were written
        // just above (the host, then the tail's `tail.len` bytes), and
        // `reserve` made the room.
        unsafe { self.out.set_len(start + len) };
    }
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
fn date_of(days: u64) -> [u8; 10] {
    let (year, month, day) = civil_from_days(days);
    let mut date = [0; 10];
    date[..2].copy_from_slice(&PAIRS[(year / 100) as usize]);
    date[2..4].copy_from_slice(&PAIRS[(year % 100) as usize]);
    date[4] = b'-';
    date[5..7].copy_from_slice(&PAIRS[month as usize]);
    date[7] = b'-';
    date[8..].copy_from_slice(&PAIRS[day as usize]);
    date
}

/// "00" to "99".
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// "0" to "255" with their lengths, each padded to three bytes.
const OCTETS: [([u8; 3], usize); 256] = {
    let mut octets = [([0; 3], 0); 256];
    let mut i = 0;
    while i < 256 {
        octets[i] = if i < 10 {
            ([b'0' + i as u8, 0, 0], 1)
        } else if i < 100 {
            ([b'0' + (i / 10) as u8, b'0' + (i % 10) as u8, 0], 2)
        } else {
            (
                [
                    b'0' + (i / 100) as u8,
                    b'0' + (i / 10 % 10) as u8,
                    b'0' + (i % 10) as u8,
                ],
                3,
            )
        };
        i += 1;
    }
    octets
};

/// Copies `from` into the start of `to` (std's `write_copy_of_slice`,
/// which needs Rust 1.93).
fn copy_into(to: &mut [std::mem::MaybeUninit<u8>], from: &[u8]) {
    for (to, from) in to.iter_mut().zip(from) {
        to.write(*from);
    }
}

/// A peer-list line's tail, written in place in a buffer's spare room:
/// every piece is a copy of a size known when compiling (no call to
/// `memcpy` per field), and the line is cut to its length at the end.
struct Tail<'a> {
    buf: &'a mut [std::mem::MaybeUninit<u8>],
    len: usize,
}

impl Tail<'_> {
    /// The longest tail, 106 bytes (`&*`, an IPv6 address (39), a port
    /// (5), a TTL and a time's seconds (20 digits each), a count (10), the
    /// time (20), three more `&*` and CR LF), and room for an octet's
    /// padding.
    const MAX: usize = 112;

    fn put<const N: usize>(&mut self, bytes: &[u8; N]) {
        if let Some(to) = self.buf.get_mut(self.len..self.len + N) {
            copy_into(to, bytes);
            self.len += N;
        }
    }

    /// `n` in decimal, written from its last digits back, two at a time.
    fn num(&mut self, mut n: u64) {
        if n < 10 {
            return self.put(&[b'0' + n as u8]);
        }
        let end = self.len + n.ilog10() as usize + 1;
        if end > self.buf.len() {
            return;
        }
        let mut at = end;
        while n >= 10 {
            at -= 2;
            copy_into(&mut self.buf[at..at + 2], &PAIRS[(n % 100) as usize]);
            n /= 100;
        }
        if n > 0 {
            self.buf[at - 1].write(b'0' + n as u8);
        }
        self.len = end;
    }

    /// An IPv4 address's octet in decimal: three bytes written, its length
    /// kept.
    fn octet(&mut self, octet: u8) {
        let (digits, len) = OCTETS[usize::from(octet)];
        if let Some(to) = self.buf.get_mut(self.len..self.len + 3) {
            copy_into(to, &digits);
            self.len += len;
        }
    }
}

impl std::fmt::Write for Tail<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let to = self
            .buf
            .get_mut(self.len..self.len + s.len())
            .ok_or(std::fmt::Error)?;
        copy_into(to, s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

/// A peer list body: one CR LF ended line per peer.
pub fn peer_list_bytes(peers: &[PeerEntry]) -> Bytes {
    let mut buf = BytesMut::with_capacity(peers.len() * 64);
    for peer in peers {
        peer_line(peer, &mut buf);
    }
    buf.freeze()
}

/// One line of an RFC index, appended to `buf`:
/// `NUMBER&*TITLE&*HOST&*PORT&*TTL` and CR LF.
pub fn index_line(record: &IndexRecord, buf: &mut BytesMut) {
    index_fields(
        record.number,
        &record.title,
        &record.host,
        record.port,
        record.ttl_secs,
        buf,
    );
}

/// [`index_line`] from borrowed fields (a peer writes from its index).
pub fn index_fields(
    number: u32,
    title: &str,
    host: &str,
    port: u16,
    ttl_secs: u64,
    buf: &mut BytesMut,
) {
    Line::new(buf)
        .num(number)
        .text(title)
        .text(host)
        .num(port)
        .num(ttl_secs)
        .end();
}

/// An RFC index body: one CR LF ended line per record.
pub fn index_bytes(records: &[IndexRecord]) -> Bytes {
    let mut buf = BytesMut::with_capacity(records.len() * 96);
    for record in records {
        index_line(record, &mut buf);
    }
    buf.freeze()
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`2026-11-21T09:30:00Z`),
/// for years 1970 to 9999 (later times are written as the last second of
/// 9999).
pub fn write_rfc3339(unix_secs: u64, buf: &mut BytesMut) {
    let mut time = [0u8; 20];
    rfc3339_into(unix_secs, &mut time);
    buf.put_slice(&time);
}

/// [`write_rfc3339`] into a 20-byte array.
fn rfc3339_into(unix_secs: u64, out: &mut [u8; 20]) {
    const MAX: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = unix_secs.min(MAX);
    let (days, second_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let two = |n: u64, at: usize, out: &mut [u8; 20]| {
        out[at] = b'0' + (n / 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    };
    two(year / 100, 0, out);
    two(year % 100, 2, out);
    out[4] = b'-';
    two(month, 5, out);
    out[7] = b'-';
    two(day, 8, out);
    out[10] = b'T';
    two(second_of_day / 3600, 11, out);
    out[13] = b':';
    two(second_of_day / 60 % 60, 14, out);
    out[16] = b':';
    two(second_of_day % 60, 17, out);
    out[19] = b'Z';
}

/// (year, month, day) of a day count since 1970-01-01 (the proleptic
/// Gregorian calendar, by eras of 400 years).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
