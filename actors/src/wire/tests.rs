//! Exact-bytes and property tests of the wire format.

use super::parse::{parse_request, Role};
use super::*;
use bytes::BytesMut;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tokio_util::codec::{Decoder, Encoder};

fn a() -> Origin {
    Origin::new("hostA", "Linux")
}

fn rs() -> Origin {
    Origin::new("rs-host", "Linux")
}

fn encode_request(request: &Request) -> Vec<u8> {
    write::request_bytes(request).to_vec()
}

/// The server that serves `request`.
fn role_of(request: &Request) -> Role {
    match request {
        Request::IndexQuery { .. } | Request::GetRfc { .. } => Role::Peer,
        _ => Role::Registry,
    }
}

/// What a server sends: a reply, or a document (streamed on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Reply(Reply),
    Document(Bytes),
}

/// The frames a server writes for `sent`, from `origin`.
fn frames(origin: &Origin, sent: &Sent) -> Vec<Outgoing> {
    let origin = origin.clone();
    let (head, body) = match sent {
        Sent::Document(bytes) => (
            ResponseHead::body(origin, bytes.len() as u64),
            Some(bytes.clone()),
        ),
        Sent::Reply(Reply::Registered { cookie }) => (ResponseHead::cookie(origin, *cookie), None),
        Sent::Reply(Reply::Done) => (ResponseHead::status(origin, Status::Ok), None),
        Sent::Reply(Reply::Status(status)) => (ResponseHead::status(origin, *status), None),
        Sent::Reply(Reply::Peers(peers)) => {
            let body = write::peer_list_bytes(peers);
            (ResponseHead::body(origin, body.len() as u64), Some(body))
        }
        Sent::Reply(Reply::Index(records)) => {
            let body = write::index_bytes(records);
            (ResponseHead::body(origin, body.len() as u64), Some(body))
        }
    };
    let mut frames = vec![Outgoing::Head(head)];
    // in two pieces, as a server may send it
    if let Some(body) = body {
        let half = body.len() / 2;
        frames.push(Outgoing::Body(body.slice(..half)));
        frames.push(Outgoing::Body(body.slice(half..)));
    }
    frames
}

/// The bytes the server's encoder writes for `sent`.
fn encode(origin: &Origin, sent: &Sent) -> Vec<u8> {
    let mut codec = RequestCodec::new(Role::Peer, WireLimits::default());
    let mut buf = BytesMut::new();
    for frame in frames(origin, sent) {
        codec.encode(frame, &mut buf).unwrap();
    }
    buf.to_vec()
}

fn encode_response(response: &Response) -> Vec<u8> {
    encode(&response.origin, &Sent::Reply(response.reply.clone()))
}

/// Decodes one request from `bytes` as a server would, EOF included.
fn decode_request(bytes: &[u8], role: Role) -> Result<Option<Request>, Status> {
    let mut codec = RequestCodec::new(role, WireLimits::default());
    let mut buf = BytesMut::from(bytes);
    let result = match codec.decode(&mut buf) {
        Ok(None) => codec.decode_eof(&mut buf),
        other => other,
    };
    result.expect("no i/o error").transpose()
}

/// What a client reads from `bytes`: a whole response, a document put
/// back together from its chunks, or an error; `None` when incomplete.
fn decode(bytes: &[u8], expect: Expect) -> Result<Option<(Origin, Sent)>, ResponseError> {
    let mut codec = ResponseCodec::expecting(WireLimits::default(), expect);
    let mut buf = BytesMut::from(bytes);
    match codec.decode(&mut buf)? {
        None => Ok(None),
        Some(Incoming::Response(response)) => {
            Ok(Some((response.origin, Sent::Reply(response.reply))))
        }
        Some(Incoming::Document { origin, length }) => {
            let mut document = Vec::new();
            while let Some(frame) = codec.decode(&mut buf)? {
                match frame {
                    Incoming::Chunk(bytes) => document.extend_from_slice(&bytes),
                    other => panic!("a chunk, not {other:?}"),
                }
            }
            if document.len() as u64 != length {
                return Ok(None);
            }
            Ok(Some((origin, Sent::Document(Bytes::from(document)))))
        }
        Some(Incoming::Chunk(_)) => panic!("a chunk before any head"),
    }
}

fn decode_response(bytes: &[u8], expect: Expect) -> Result<Option<Response>, ResponseError> {
    Ok(decode(bytes, expect)?.map(|(origin, sent)| match sent {
        Sent::Reply(reply) => Response::new(origin, reply),
        Sent::Document(_) => panic!("a document, not a reply"),
    }))
}

fn all_requests() -> Vec<(Request, &'static str)> {
    vec![
        (
            Request::Register {
                origin: Origin::new("hostB", "Linux"),
                port: 65401,
                cookie: None,
            },
            "REGISTER&*P2P-DI/1.0&*hostB&*Linux&*65401\r\n",
        ),
        (
            Request::Register {
                origin: Origin::new("hostB", "Linux"),
                port: 65401,
                cookie: Some(5813902214775),
            },
            "REGISTER&*P2P-DI/1.0&*hostB&*Linux&*65401&*5813902214775\r\n",
        ),
        (
            Request::KeepAlive {
                cookie: 8021187404671,
                origin: a(),
            },
            "KEEPALIVE&*P2P-DI/1.0&*8021187404671&*hostA&*Linux\r\n",
        ),
        (
            Request::Leave {
                cookie: 5813902214775,
                origin: Origin::new("hostB", "Linux"),
            },
            "LEAVE&*P2P-DI/1.0&*5813902214775&*hostB&*Linux\r\n",
        ),
        (
            Request::PeerQuery {
                cookie: 8021187404671,
                origin: a(),
            },
            "PQUERY&*P2P-DI/1.0&*8021187404671&*hostA&*Linux\r\n",
        ),
        (
            Request::IndexQuery { origin: a() },
            "GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux\r\n",
        ),
        (
            Request::GetRfc {
                number: 9264,
                origin: a(),
            },
            "GET&*RFC&*9264&*P2P-DI/1.0&*hostA&*Linux\r\n",
        ),
    ]
}

fn peer_b() -> PeerEntry {
    PeerEntry {
        host: "hostB".into(),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 65401,
        ttl_secs: 7200,
        registrations_30d: 1,
        // 2026-11-21T09:30:00Z
        last_registered_unix_secs: 1_795_253_400,
    }
}

fn index_b() -> Vec<IndexRecord> {
    vec![
        IndexRecord {
            number: 9264,
            title: "Linkset: Media Types and a Link Relation Type for Link Sets".into(),
            host: "hostB".into(),
            port: 65401,
            ttl_secs: 7200,
        },
        IndexRecord {
            number: 9265,
            title: "Forward Erasure Correction (FEC) Coding and Congestion Control in Transport"
                .into(),
            host: "hostB".into(),
            port: 65401,
            ttl_secs: 7200,
        },
    ]
}

const INDEX_B: &str = "9264&*Linkset: Media Types and a Link Relation Type for Link Sets&*hostB&*65401&*7200\r\n\
9265&*Forward Erasure Correction (FEC) Coding and Congestion Control in Transport&*hostB&*65401&*7200\r\n";

fn all_responses() -> Vec<(Origin, Sent, Expect, String)> {
    let index_len = INDEX_B.len();
    let cases = vec![
        (
            Response::new(
                rs(),
                Reply::Registered {
                    cookie: 5813902214775,
                },
            ),
            Expect::Cookie,
            "P2P-DI/1.0&*200&*OK&*rs-host&*Linux&*5813902214775\r\n".into(),
        ),
        (
            Response::new(rs(), Reply::Done),
            Expect::Ack,
            "P2P-DI/1.0&*200&*OK&*rs-host&*Linux\r\n".into(),
        ),
        (
            Response::new(rs(), Reply::Peers(vec![peer_b()])),
            Expect::Peers,
            "P2P-DI/1.0&*200&*OK&*rs-host&*Linux&*56\r\n\
             hostB&*127.0.0.1&*65401&*7200&*1&*2026-11-21T09:30:00Z\r\n"
                .into(),
        ),
        (
            Response::new(rs(), Reply::Status(Status::NoActivePeers)),
            Expect::Peers,
            "P2P-DI/1.0&*404&*No Active Peers&*rs-host&*Linux\r\n".into(),
        ),
        (
            Response::new(Origin::new("hostB", "Linux"), Reply::Index(index_b())),
            Expect::Index,
            format!("P2P-DI/1.0&*200&*OK&*hostB&*Linux&*{index_len}\r\n{INDEX_B}"),
        ),
        (
            Response::new(
                Origin::new("hostB", "Linux"),
                Reply::Status(Status::NotFound),
            ),
            Expect::Document,
            "P2P-DI/1.0&*404&*Not Found&*hostB&*Linux\r\n".into(),
        ),
    ];
    let mut all: Vec<(Origin, Sent, Expect, String)> = cases
        .into_iter()
        .map(|(response, expect, text)| {
            (response.origin, Sent::Reply(response.reply), expect, text)
        })
        .collect();
    all.push((
        Origin::new("hostB", "Linux"),
        Sent::Document(Bytes::from_static(b"RFC 9264\r\nbody\xff\x00")),
        Expect::Document,
        // binary: checked byte by byte in the test below
        String::new(),
    ));
    all
}

#[test]
fn every_request_is_written_as_the_contract_shows() {
    for (request, bytes) in all_requests() {
        assert_eq!(String::from_utf8(encode_request(&request)).unwrap(), bytes);
    }
}

#[test]
fn every_request_parses_back_from_the_contracts_bytes() {
    for (request, bytes) in all_requests() {
        let role = role_of(&request);
        assert_eq!(decode_request(bytes.as_bytes(), role), Ok(Some(request)));
    }
}

#[test]
fn every_response_is_written_and_read_as_the_contract_shows() {
    for (origin, sent, expect, text) in all_responses() {
        let written = encode(&origin, &sent);
        if let Sent::Document(document) = &sent {
            // The document is binary: compare the head, then the raw bytes.
            let head_len = written.iter().position(|b| *b == b'\n').unwrap() + 1;
            assert_eq!(
                &written[..head_len],
                b"P2P-DI/1.0&*200&*OK&*hostB&*Linux&*16\r\n"
            );
            assert_eq!(&written[head_len..], &document[..]);
        } else {
            assert_eq!(String::from_utf8(written.clone()).unwrap(), text);
        }
        let decoded = decode(&written, expect).unwrap().unwrap();
        assert_eq!(decoded, (origin, sent));
    }
}

#[test]
fn every_error_status_is_written_with_its_phrase_and_no_extra_field() {
    let expected = [
        (Status::BadRequest, "400&*Bad Request"),
        (Status::Forbidden, "403&*Forbidden"),
        (Status::NotFound, "404&*Not Found"),
        (Status::NoActivePeers, "404&*No Active Peers"),
        (Status::RequestTimeout, "408&*Request Timeout"),
        (Status::RequestTooLarge, "413&*Request Too Large"),
        (Status::NotImplemented, "501&*Not Implemented"),
        (Status::ServiceUnavailable, "503&*Service Unavailable"),
        (
            Status::VersionNotSupported,
            "505&*P2P-DI Version Not Supported",
        ),
    ];
    for (status, middle) in expected {
        let response = Response::new(rs(), Reply::Status(status));
        let bytes = encode_response(&response);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            format!("P2P-DI/1.0&*{middle}&*rs-host&*Linux\r\n")
        );
        // Read back by a client whatever it asked: always the same status
        // (a 404 reads as No Active Peers only for a PQUERY).
        for expect in [Expect::Cookie, Expect::Ack, Expect::Index, Expect::Document] {
            let read = decode_response(&bytes, expect).unwrap().unwrap();
            let want = if status == Status::NoActivePeers {
                Status::NotFound
            } else {
                status
            };
            assert_eq!(read.reply, Reply::Status(want));
        }
    }
}

#[test]
fn the_transcript_of_the_testing_scenario_decodes() {
    let pquery_reply = b"P2P-DI/1.0&*200&*OK&*rs-host&*Linux&*56\r\n\
hostB&*127.0.0.1&*65401&*7200&*1&*2026-11-21T09:30:00Z\r\n";
    let response = decode_response(pquery_reply, Expect::Peers)
        .unwrap()
        .unwrap();
    assert_eq!(response.reply, Reply::Peers(vec![peer_b()]));
}

/// One broken request per row of the contract's error table, as a server
/// of `role` classifies it.
#[test]
fn broken_requests_get_the_contracts_status() {
    use Status::*;
    let long_host = "h".repeat(5000);
    let too_long = format!("KEEPALIVE&*P2P-DI/1.0&*1&*{long_host}&*Linux\r\n");
    let cases: Vec<(Role, String, Status)> = vec![
        (Role::Registry, too_long.clone(), RequestTooLarge),
        (Role::Peer, too_long, RequestTooLarge),
        (Role::Registry, "\r\n".into(), BadRequest),
        (Role::Registry, "\n".into(), BadRequest),
        (
            Role::Registry,
            "GET&*RFC-Index&*P2P-DI/1.0&*h&*L\r\n".into(),
            NotImplemented,
        ),
        (
            Role::Peer,
            "REGISTER&*P2P-DI/1.0&*h&*L&*1\r\n".into(),
            NotImplemented,
        ),
        (
            Role::Registry,
            "HELLO&*P2P-DI/1.0\r\n".into(),
            NotImplemented,
        ),
        (
            Role::Registry,
            "register&*P2P-DI/1.0&*h&*L&*1\r\n".into(),
            NotImplemented,
        ),
        (
            Role::Peer,
            "GET&*RFC-List&*P2P-DI/1.0&*h&*L\r\n".into(),
            BadRequest,
        ),
        (Role::Peer, "GET\r\n".into(), BadRequest),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/2.0&*h&*L&*1\r\n".into(),
            VersionNotSupported,
        ),
        (
            Role::Registry,
            "PQUERY&*P2P-DI/1.1&*1&*h&*L\r\n".into(),
            VersionNotSupported,
        ),
        (
            Role::Peer,
            "GET&*RFC&*1&*P2P-DI/0.9&*h&*L\r\n".into(),
            VersionNotSupported,
        ),
        (
            Role::Peer,
            "GET&*RFC-Index&*HTTP/1.1&*h&*L\r\n".into(),
            VersionNotSupported,
        ),
        // the version is checked before the field count
        (
            Role::Registry,
            "LEAVE&*P2P-DI/9\r\n".into(),
            VersionNotSupported,
        ),
        (Role::Registry, "LEAVE\r\n".into(), BadRequest),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*h&*L\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*h&*L&*1&*2&*3\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*h&*L&*port\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*h&*L&*0\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*h&*L&*65536\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*&*L&*1\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "REGISTER&*P2P-DI/1.0&*h&*L&*1&*-5\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "KEEPALIVE&*P2P-DI/1.0&* 12&*h&*L\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "KEEPALIVE&*P2P-DI/1.0&*99999999999999999999&*h&*L\r\n".into(),
            BadRequest,
        ),
        (
            Role::Registry,
            "PQUERY&*P2P-DI/1.0&*1&*h\r\n".into(),
            BadRequest,
        ),
        (
            Role::Peer,
            "GET&*RFC&*nine&*P2P-DI/1.0&*h&*L\r\n".into(),
            BadRequest,
        ),
        (
            Role::Peer,
            "GET&*RFC&*../../etc/passwd&*P2P-DI/1.0&*h&*L\r\n".into(),
            BadRequest,
        ),
        (
            Role::Peer,
            "GET&*RFC&*1&*P2P-DI/1.0&*h&*L&*x\r\n".into(),
            BadRequest,
        ),
        (
            Role::Peer,
            "GET&*RFC-Index&*P2P-DI/1.0&*h&*L&*x\r\n".into(),
            BadRequest,
        ),
        (
            Role::Peer,
            "GET&*RFC-Index&*P2P-DI/1.0&*a\rb&*L\r\n".into(),
            BadRequest,
        ),
    ];
    for (role, bytes, status) in cases {
        assert_eq!(
            decode_request(bytes.as_bytes(), role),
            Err(status),
            "{role:?} {bytes:?}"
        );
    }
}

#[test]
fn invalid_utf8_in_a_field_is_bad_request() {
    let bytes = b"GET&*RFC-Index&*P2P-DI/1.0&*h\xff&*L\r\n";
    assert_eq!(decode_request(bytes, Role::Peer), Err(Status::BadRequest));
}

#[test]
fn head_line_limit_counts_content_not_line_end() {
    // A limit small enough for a valid request (hosts are 255 bytes at most).
    let limits = WireLimits {
        max_head_bytes: 200,
        ..WireLimits::default()
    };
    let decode_with = |bytes: &[u8]| {
        let mut codec = RequestCodec::new(Role::Peer, limits);
        let mut buf = BytesMut::from(bytes);
        let result = match codec.decode(&mut buf) {
            Ok(None) => codec.decode_eof(&mut buf),
            other => other,
        };
        result.expect("no i/o error").transpose()
    };
    let make = |len: usize| {
        let prefix = "GET&*RFC-Index&*P2P-DI/1.0&*";
        let suffix = "&*Linux";
        let host = "h".repeat(len - prefix.len() - suffix.len());
        format!("{prefix}{host}{suffix}")
    };
    let exact = make(limits.max_head_bytes);
    assert_eq!(exact.len(), 200);
    for end in ["\r\n", "\n", ""] {
        let bytes = format!("{exact}{end}");
        assert!(matches!(
            decode_with(bytes.as_bytes()),
            Ok(Some(Request::IndexQuery { .. }))
        ));
        let over = format!("{}{end}", make(limits.max_head_bytes + 1));
        assert_eq!(decode_with(over.as_bytes()), Err(Status::RequestTooLarge));
    }
}

#[test]
fn a_long_head_is_refused_before_its_end_arrives() {
    let mut codec = RequestCodec::new(Role::Peer, WireLimits::default());
    let mut buf = BytesMut::from(&[b'x'; 4098][..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Ok(Some(Err(Status::RequestTooLarge)))
    ));
}

#[test]
fn bare_lf_and_eof_end_a_request_head() {
    let want = Request::IndexQuery { origin: a() };
    for bytes in [
        &b"GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux\n"[..],
        &b"GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux"[..],
        &b"GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux\r"[..],
    ] {
        assert_eq!(decode_request(bytes, Role::Peer), Ok(Some(want.clone())));
    }
}

#[test]
fn a_connection_closed_before_anything_gets_no_request_and_no_error() {
    assert_eq!(decode_request(b"", Role::Registry), Ok(None));
}

#[test]
fn bytes_after_the_request_are_dropped() {
    let mut codec = RequestCodec::new(Role::Peer, WireLimits::default());
    let mut buf = BytesMut::from(&b"GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux\r\njunk"[..]);
    assert!(codec.decode(&mut buf).unwrap().is_some());
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert!(buf.is_empty());
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn a_client_that_keeps_sending_after_its_request_is_cut_off() {
    let mut codec = RequestCodec::new(Role::Peer, WireLimits::default()).with_drain_limit(10);
    let mut buf = BytesMut::from(&b"GET&*RFC-Index&*P2P-DI/1.0&*hostA&*Linux\r\n0123456789"[..]);
    assert!(codec.decode(&mut buf).unwrap().is_some());
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"x");
    assert!(codec.decode(&mut buf).is_err());
}

#[test]
fn host_and_os_fields_longer_than_255_bytes_are_bad_requests() {
    let name = |n: usize| "h".repeat(n);
    let request = |host: &str, os: &str| format!("GET&*RFC-Index&*P2P-DI/1.0&*{host}&*{os}\r\n");
    assert!(matches!(
        decode_request(request(&name(255), &name(255)).as_bytes(), Role::Peer),
        Ok(Some(Request::IndexQuery { .. }))
    ));
    for (host, os) in [(name(256), name(1)), (name(1), name(256))] {
        assert_eq!(
            decode_request(request(&host, &os).as_bytes(), Role::Peer),
            Err(Status::BadRequest)
        );
    }
}

#[test]
fn times_are_written_as_rfc3339_like_humantime_writes_them() {
    let times = [
        0u64,
        59,
        86_399,
        951_782_400,
        1_795_253_400,
        4_107_542_399,
        253_402_300_799,
    ];
    for secs in times {
        let mut buf = BytesMut::new();
        write::write_rfc3339(secs, &mut buf);
        let want = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string();
        assert_eq!(String::from_utf8(buf.to_vec()).unwrap(), want, "{secs}");
    }
}

#[test]
fn fields_with_separator_cr_lf_are_sent_as_spaces() {
    let request = Request::IndexQuery {
        origin: Origin::new("evil&*host\r\nname", "Li\rnu\nx"),
    };
    assert_eq!(
        String::from_utf8(encode_request(&request)).unwrap(),
        "GET&*RFC-Index&*P2P-DI/1.0&*evil host name&*Li nu x\r\n"
    );
    assert_eq!(write::sanitize("a&&*b&**c"), "a& b *c");
}

#[test]
fn a_daemons_own_name_is_the_sanitized_one_others_see() {
    let origin = Origin::named(Some("lab&*host\r\n"));
    assert_eq!(origin.host, "lab host ");
    assert_eq!(Origin::named(None).host, Origin::local().host);
}

#[test]
fn a_short_body_is_truncated_not_a_response() {
    let mut codec = ResponseCodec::expecting(WireLimits::default(), Expect::Document);
    let mut buf = BytesMut::from(&b"P2P-DI/1.0&*200&*OK&*h&*L&*10\r\n12345"[..]);
    assert_eq!(
        codec.decode(&mut buf).unwrap(),
        Some(Incoming::Document {
            origin: Origin::new("h", "L"),
            length: 10
        })
    );
    assert_eq!(
        codec.decode(&mut buf).unwrap(),
        Some(Incoming::Chunk(Bytes::from_static(b"12345")))
    );
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert!(matches!(
        codec.decode_eof(&mut buf),
        Err(ResponseError::Truncated {
            expected: 10,
            received: 5
        })
    ));
}

#[test]
fn a_body_over_the_limit_is_refused_before_it_arrives() {
    let limits = WireLimits {
        max_head_bytes: 4096,
        max_body_bytes: 100,
    };
    let mut codec = ResponseCodec::expecting(limits, Expect::Document);
    let mut buf = BytesMut::from(&b"P2P-DI/1.0&*200&*OK&*h&*L&*101\r\n"[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(ResponseError::BodyTooLarge { length: 101, .. })
    ));
    let mut codec = ResponseCodec::expecting(WireLimits::default(), Expect::Document);
    let mut buf = BytesMut::from(&b"P2P-DI/1.0&*200&*OK&*h&*L&*99999999999999999999999\r\n"[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(ResponseError::Malformed(_))
    ));
}

#[test]
fn malformed_responses_are_errors() {
    let cases: [(&[u8], Expect); 8] = [
        (b"P2P-DI/1.0&*200&*OK&*h\r\n", Expect::Ack),
        (b"P2P-DI/2.0&*200&*OK&*h&*L\r\n", Expect::Ack),
        (b"P2P-DI/1.0&*299&*Odd&*h&*L\r\n", Expect::Ack),
        (b"P2P-DI/1.0&*200&*OK&*h&*L\r\n", Expect::Cookie),
        (b"P2P-DI/1.0&*200&*OK&*h&*L&*x\r\n", Expect::Cookie),
        (b"P2P-DI/1.0&*403&*Forbidden&*h&*L&*1\r\n", Expect::Ack),
        (b"P2P-DI/1.0&*200&*OK&*h&*L&*3\r\na&*\n", Expect::Index),
        (b"P2P-DI/1.0&*200&*OK&*h&*L&*6\r\nx&*y\r\n", Expect::Peers),
    ];
    for (bytes, expect) in cases {
        assert!(
            matches!(
                decode_response(bytes, expect),
                Err(ResponseError::Malformed(_))
            ),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn an_empty_index_is_an_empty_list() {
    let response = decode_response(b"P2P-DI/1.0&*200&*OK&*h&*L&*0\r\n", Expect::Index)
        .unwrap()
        .unwrap();
    assert_eq!(response.reply, Reply::Index(vec![]));
}

#[test]
fn ipv6_addresses_round_trip_in_the_peer_list() {
    let mut peer = peer_b();
    peer.address = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let response = Response::new(rs(), Reply::Peers(vec![peer]));
    let bytes = encode_response(&response);
    assert_eq!(
        decode_response(&bytes, Expect::Peers).unwrap().unwrap(),
        response
    );
}

#[test]
fn the_client_codec_learns_the_expectation_from_the_request_it_encodes() {
    let mut codec = ResponseCodec::new(WireLimits::default());
    let mut out = BytesMut::new();
    codec
        .encode(
            &Request::PeerQuery {
                cookie: 1,
                origin: a(),
            },
            &mut out,
        )
        .unwrap();
    let mut buf = BytesMut::from(&b"P2P-DI/1.0&*404&*No Active Peers&*rs&*L\r\n"[..]);
    let Some(Incoming::Response(response)) = codec.decode(&mut buf).unwrap() else {
        panic!("a whole response");
    };
    assert_eq!(response.reply, Reply::Status(Status::NoActivePeers));
    // Nothing was asked now: bytes are an error, not a response.
    let mut buf = BytesMut::from(&b"P2P-DI/1.0&*200&*OK&*h&*L\r\n"[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(ResponseError::NoRequest)
    ));
}

// ---- properties ----

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 .:()-]{0,40}",
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("&*"),
                Just("\r\n"),
                Just("\r"),
                Just("\n"),
                Just("&"),
                Just("*"),
                Just("é"),
                Just("x")
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

fn host_text() -> impl Strategy<Value = String> {
    any_text().prop_filter("a host is not empty on the wire", |host| {
        !write::sanitize(host).is_empty()
    })
}

fn any_origin() -> impl Strategy<Value = Origin> {
    (host_text(), any_text()).prop_map(|(host, os)| Origin::new(host, os))
}

fn sanitized(origin: &Origin) -> Origin {
    Origin::new(write::sanitize(&origin.host), write::sanitize(&origin.os))
}

fn any_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any_origin(), 1u16.., proptest::option::of(any::<u64>())).prop_map(
            |(origin, port, cookie)| Request::Register {
                origin,
                port,
                cookie
            }
        ),
        (any::<u64>(), any_origin())
            .prop_map(|(cookie, origin)| Request::KeepAlive { cookie, origin }),
        (any::<u64>(), any_origin()).prop_map(|(cookie, origin)| Request::Leave { cookie, origin }),
        (any::<u64>(), any_origin())
            .prop_map(|(cookie, origin)| Request::PeerQuery { cookie, origin }),
        any_origin().prop_map(|origin| Request::IndexQuery { origin }),
        (any::<u32>(), any_origin())
            .prop_map(|(number, origin)| Request::GetRfc { number, origin }),
    ]
}

fn with_sanitized_origin(request: &Request) -> Request {
    let mut request = request.clone();
    match &mut request {
        Request::Register { origin, .. }
        | Request::KeepAlive { origin, .. }
        | Request::Leave { origin, .. }
        | Request::PeerQuery { origin, .. }
        | Request::IndexQuery { origin }
        | Request::GetRfc { origin, .. } => *origin = sanitized(origin),
    }
    request
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn any_reply() -> impl Strategy<Value = (Sent, Expect)> {
    let peer = (
        any_text(),
        any_ip(),
        1u16..,
        any::<u64>(),
        any::<u32>(),
        0u64..253_402_300_799,
    )
        .prop_map(
            |(host, address, port, ttl_secs, registrations_30d, last)| PeerEntry {
                host,
                address,
                port,
                ttl_secs,
                registrations_30d,
                last_registered_unix_secs: last,
            },
        );
    let record = (any::<u32>(), any_text(), any_text(), 1u16.., any::<u64>()).prop_map(
        |(number, title, host, port, ttl_secs)| IndexRecord {
            number,
            title,
            host,
            port,
            ttl_secs,
        },
    );
    prop_oneof![
        any::<u64>().prop_map(|cookie| (Sent::Reply(Reply::Registered { cookie }), Expect::Cookie)),
        Just((Sent::Reply(Reply::Done), Expect::Ack)),
        proptest::collection::vec(peer, 1..5)
            .prop_map(|p| (Sent::Reply(Reply::Peers(p)), Expect::Peers)),
        proptest::collection::vec(record, 0..5)
            .prop_map(|r| (Sent::Reply(Reply::Index(r)), Expect::Index)),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|d| (Sent::Document(Bytes::from(d)), Expect::Document)),
        proptest::sample::select(&Status::ALL[1..]).prop_map(|s| {
            let expect = if s == Status::NoActivePeers {
                Expect::Peers
            } else {
                Expect::Document
            };
            (Sent::Reply(Reply::Status(s)), expect)
        }),
    ]
}

fn sanitized_reply(sent: &Sent) -> Sent {
    let s = |t: &str| write::sanitize(t).into_owned();
    let Sent::Reply(reply) = sent else {
        return sent.clone();
    };
    Sent::Reply(match reply {
        Reply::Peers(peers) => Reply::Peers(
            peers
                .iter()
                .map(|p| PeerEntry {
                    host: s(&p.host),
                    ..p.clone()
                })
                .collect(),
        ),
        Reply::Index(records) => Reply::Index(
            records
                .iter()
                .map(|r| IndexRecord {
                    title: s(&r.title),
                    host: s(&r.host),
                    ..r.clone()
                })
                .collect(),
        ),
        other => other.clone(),
    })
}

/// Frames with consecutive chunks joined (how a body is cut into chunks
/// depends on how its bytes arrive).
fn joined(frames: Vec<Incoming>) -> Vec<Incoming> {
    let mut out: Vec<Incoming> = Vec::new();
    for frame in frames {
        match (out.last_mut(), frame) {
            (Some(Incoming::Chunk(last)), Incoming::Chunk(next)) => {
                let mut both = BytesMut::from(&last[..]);
                both.extend_from_slice(&next);
                *last = both.freeze();
            }
            (_, frame) => out.push(frame),
        }
    }
    out
}

/// Feeds `bytes` in the given chunk sizes and then EOF; returns every
/// item or the first error.
fn feed<D: Decoder>(mut codec: D, bytes: &[u8], chunk: usize) -> Result<Vec<D::Item>, D::Error> {
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(item) = codec.decode(&mut buf)? {
            items.push(item);
        }
    }
    while let Some(item) = codec.decode_eof(&mut buf)? {
        items.push(item);
        if buf.is_empty() {
            break;
        }
    }
    Ok(items)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn request_write_then_parse_is_the_sanitized_request(request in any_request()) {
        let bytes = encode_request(&request);
        prop_assert_eq!(decode_request(&bytes, role_of(&request)), Ok(Some(with_sanitized_origin(&request))));
    }

    #[test]
    fn response_write_then_parse_is_the_sanitized_response(
        origin in any_origin(), (sent, expect) in any_reply()
    ) {
        let bytes = encode(&origin, &sent);
        let decoded = decode(&bytes, expect).unwrap().unwrap();
        prop_assert_eq!(decoded, (sanitized(&origin), sanitized_reply(&sent)));
    }

    #[test]
    fn sanitized_text_has_no_separator_and_is_stable(text in any_text()) {
        let once = write::sanitize(&text).into_owned();
        prop_assert!(!once.contains("&*") && !once.contains('\r') && !once.contains('\n'));
        prop_assert_eq!(write::sanitize(&once).into_owned(), once);
    }

    #[test]
    fn every_truncation_of_a_request_is_incomplete(request in any_request()) {
        let bytes = encode_request(&request);
        for cut in 0..bytes.len() {
            let mut codec = RequestCodec::new(role_of(&request), WireLimits::default());
            let mut buf = BytesMut::from(&bytes[..cut]);
            prop_assert!(matches!(codec.decode(&mut buf), Ok(None)), "cut at {}", cut);
        }
    }

    #[test]
    fn every_truncation_of_a_response_is_incomplete(
        origin in any_origin(), (sent, expect) in any_reply()
    ) {
        // A document's head and chunks come out as they arrive; what never
        // comes out of a truncated response is a whole one.
        let bytes = encode(&origin, &sent);
        for cut in 0..bytes.len() {
            prop_assert!(matches!(decode(&bytes[..cut], expect), Ok(None)), "cut at {}", cut);
        }
    }

    #[test]
    fn byte_at_a_time_decodes_like_one_buffer(
        request in any_request(), origin in any_origin(), (sent, expect) in any_reply(),
        chunk in 1usize..8
    ) {
        let bytes = encode_request(&request);
        let server = || RequestCodec::new(role_of(&request), WireLimits::default());
        let whole = feed(server(), &bytes, bytes.len()).unwrap();
        prop_assert_eq!(&feed(server(), &bytes, 1).unwrap(), &whole);
        prop_assert_eq!(&feed(server(), &bytes, chunk).unwrap(), &whole);

        let bytes = encode(&origin, &sent);
        let codec = || ResponseCodec::expecting(WireLimits::default(), expect);
        let whole = joined(feed(codec(), &bytes, bytes.len()).unwrap());
        let documents = matches!(sent, Sent::Document(ref d) if !d.is_empty());
        prop_assert_eq!(whole.len(), if documents { 2 } else { 1 });
        prop_assert_eq!(&joined(feed(codec(), &bytes, 1).unwrap()), &whole);
        prop_assert_eq!(&joined(feed(codec(), &bytes, chunk).unwrap()), &whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_within_limits(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        expect in proptest::sample::select(&[Expect::Cookie, Expect::Ack, Expect::Peers, Expect::Index, Expect::Document][..]),
        chunk in 1usize..64,
    ) {
        let limits = WireLimits { max_head_bytes: 128, max_body_bytes: 256 };
        let mut server = RequestCodec::new(Role::Registry, limits);
        let mut client = ResponseCodec::expecting(limits, expect);
        let (mut sbuf, mut cbuf) = (BytesMut::new(), BytesMut::new());
        let (mut server_done, mut client_done) = (false, false);
        for piece in bytes.chunks(chunk) {
            if !server_done {
                sbuf.extend_from_slice(piece);
                server_done = !matches!(server.decode(&mut sbuf), Ok(None));
                // the server never holds more than a head line and its end
                prop_assert!(sbuf.len() <= limits.max_head_bytes + 2 || server_done);
            }
            if !client_done {
                cbuf.extend_from_slice(piece);
                client_done = client.decode(&mut cbuf).is_err();
                prop_assert!(cbuf.capacity() <= 4096 + limits.max_body_bytes);
            }
        }
        let _ = server.decode_eof(&mut sbuf);
        let _ = client.decode_eof(&mut cbuf);
    }
}

/// Parse `line` as a request of any role (a helper for the direct parser).
#[test]
fn the_parser_sees_fields_split_at_the_leftmost_separator() {
    assert_eq!(
        parse_request(b"GET&*RFC-Index&*P2P-DI/1.0&*a&&*L", Role::Peer),
        Ok(Request::IndexQuery {
            origin: Origin::new("a&", "L")
        })
    );
}

proptest! {
    /// The peer-list line written in place, field by field from tables, is
    /// the line the contract's format gives for any values, IPv4 or IPv6.
    #[test]
    fn a_peer_line_is_its_fields_joined_whatever_their_values(
        host in "[a-z0-9.-]{0,40}",
        v4 in any::<u32>(),
        v6 in any::<u128>(),
        use_v6 in any::<bool>(),
        port in any::<u16>(),
        ttl in prop_oneof![0u64..10_000, Just(u64::MAX), any::<u64>()],
        registrations in any::<u32>(),
        last in 0u64..253_402_300_800,
    ) {
        let address = if use_v6 {
            IpAddr::V6(Ipv6Addr::from(v6))
        } else {
            IpAddr::V4(Ipv4Addr::from(v4))
        };
        let mut out = BytesMut::from(&b"before"[..]);
        write::peer_line(
            &PeerEntry {
                host: host.clone(),
                address,
                port,
                ttl_secs: ttl,
                registrations_30d: registrations,
                last_registered_unix_secs: last,
            },
            &mut out,
        );
        let mut time = BytesMut::new();
        write::write_rfc3339(last, &mut time);
        let want = format!(
            "before{host}&*{address}&*{port}&*{ttl}&*{registrations}&*{}\r\n",
            String::from_utf8_lossy(&time)
        );
        prop_assert_eq!(String::from_utf8_lossy(&out), want);
    }
}

#[test]
fn a_peer_line_at_the_edges_of_each_field() {
    let mut out = BytesMut::new();
    for (address, port, ttl, registrations, last) in [
        (Ipv4Addr::new(0, 9, 10, 99), 0, 0, 0, 0),
        (
            Ipv4Addr::new(100, 199, 200, 255),
            65535,
            u64::MAX,
            u32::MAX,
            1_795_253_400,
        ),
    ] {
        let peer = PeerEntry {
            host: "h".into(),
            address: IpAddr::V4(address),
            port,
            ttl_secs: ttl,
            registrations_30d: registrations,
            last_registered_unix_secs: last,
        };
        write::peer_line(&peer, &mut out);
    }
    assert_eq!(
        String::from_utf8(out.to_vec()).unwrap(),
        "h&*0.9.10.99&*0&*0&*0&*1970-01-01T00:00:00Z\r\n\
         h&*100.199.200.255&*65535&*18446744073709551615&*4294967295&*2026-11-21T09:30:00Z\r\n"
    );
}
