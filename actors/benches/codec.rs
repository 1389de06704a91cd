//! Decoding and encoding throughput of the `&*` codecs: requests, a
//! 60-record RFC index and a 400 KB document, in messages and bytes per
//! second (divan: pure Rust, so it builds for every target). Run with
//! `cargo bench -p p2p-di-actors --bench codec`.

use bytes::{Bytes, BytesMut};
use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use p2p_di_actors::wire::parse::Role;
use p2p_di_actors::wire::{
    write, Incoming, IndexRecord, Origin, Outgoing, Request, RequestCodec, ResponseCodec,
    ResponseHead, WireLimits,
};
use std::hint::black_box;
use tokio_util::codec::{Decoder, Encoder};

fn origin() -> Origin {
    Origin::new("peer-17.lab.example", "Linux")
}

fn requests() -> Vec<Request> {
    vec![
        Request::Register {
            origin: origin(),
            port: 65401,
            cookie: Some(5_813_902_214_775),
        },
        Request::KeepAlive {
            cookie: 8_021_187_404_671,
            origin: origin(),
        },
        Request::PeerQuery {
            cookie: 8_021_187_404_671,
            origin: origin(),
        },
        Request::IndexQuery { origin: origin() },
        Request::GetRfc {
            number: 9264,
            origin: origin(),
        },
    ]
}

/// A response as a server sends it: its head and its body.
struct Reply {
    head: ResponseHead,
    body: Bytes,
}

fn index_reply() -> Reply {
    let records = (0..60)
        .map(|i| IndexRecord {
            number: 9264 + i,
            title: format!("A Plausibly Long Title for a Protocol Document Number {i}"),
            host: "peer-17.lab.example".into(),
            port: 65401,
            ttl_secs: 7200,
        })
        .collect::<Vec<_>>();
    let body = write::index_bytes(&records);
    Reply {
        head: ResponseHead::body(origin(), body.len() as u64),
        body,
    }
}

fn document_reply() -> Reply {
    let document: Vec<u8> = (0..400_000u32)
        .map(|i| b"RFC text\r\n"[i as usize % 10])
        .collect();
    Reply {
        head: ResponseHead::body(origin(), document.len() as u64),
        body: Bytes::from(document),
    }
}

/// Encodes `reply` as a server does: its head, then its body.
fn encode(codec: &mut RequestCodec, reply: &Reply, buf: &mut BytesMut) {
    codec.encode(Outgoing::Head(reply.head.clone()), buf).ok();
    codec.encode(Outgoing::Body(reply.body.clone()), buf).ok();
}

fn encoded(reply: &Reply) -> Bytes {
    let mut buf = BytesMut::new();
    encode(
        &mut RequestCodec::new(Role::Peer, WireLimits::default()),
        reply,
        &mut buf,
    );
    buf.freeze()
}

/// Decodes a whole response: every frame until the body is complete.
fn decode(request: &Request, mut buf: BytesMut) -> usize {
    let mut codec = ResponseCodec::expecting(WireLimits::default(), request.expects());
    let mut frames = 0;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        frames += 1;
        if let Incoming::Response(_) = frame {
            break;
        }
    }
    frames
}

fn role_of(request: &Request) -> Role {
    match request {
        Request::IndexQuery { .. } | Request::GetRfc { .. } => Role::Peer,
        _ => Role::Registry,
    }
}

fn main() {
    divan::main();
}

/// Each request kind once per iteration, by items and by bytes.
mod requests {
    use super::*;

    fn wire() -> (Vec<Request>, Vec<Bytes>, usize) {
        let requests = requests();
        let wire: Vec<Bytes> = requests.iter().map(write::request_bytes).collect();
        let bytes = wire.iter().map(Bytes::len).sum();
        (requests, wire, bytes)
    }

    #[divan::bench]
    fn decode(bencher: Bencher) {
        let (requests, wire, bytes) = wire();
        bencher
            .counter(ItemsCount::new(requests.len()))
            .counter(BytesCount::new(bytes))
            .bench_local(|| {
                for (head, request) in wire.iter().zip(&requests) {
                    let mut codec = RequestCodec::new(role_of(request), WireLimits::default());
                    let mut buf = BytesMut::from(&head[..]);
                    black_box(codec.decode(&mut buf).ok());
                }
            });
    }

    #[divan::bench]
    fn encode(bencher: Bencher) {
        let (requests, _, bytes) = wire();
        let mut buf = BytesMut::with_capacity(1024);
        bencher
            .counter(ItemsCount::new(requests.len()))
            .counter(BytesCount::new(bytes))
            .bench_local(|| {
                buf.clear();
                for request in &requests {
                    write::write_request(black_box(request), &mut buf);
                }
            });
    }
}

/// A whole response decoded (from a fresh buffer each time) and encoded.
fn bench_response(bencher: Bencher, reply: Reply, request: Request, decoding: bool) {
    let wire = encoded(&reply);
    let bencher = bencher
        .counter(ItemsCount::new(1usize))
        .counter(BytesCount::new(wire.len()));
    if decoding {
        bencher
            .with_inputs(|| BytesMut::from(&wire[..]))
            .bench_local_values(|buf| black_box(decode(&request, buf)));
    } else {
        let mut codec = RequestCodec::new(Role::Peer, WireLimits::default());
        let mut buf = BytesMut::with_capacity(wire.len());
        bencher.bench_local(|| {
            buf.clear();
            encode(&mut codec, &reply, &mut buf);
            black_box(buf.len())
        });
    }
}

/// An RFC index of 60 records.
mod index_60 {
    use super::*;

    #[divan::bench]
    fn decode(bencher: Bencher) {
        let request = Request::IndexQuery { origin: origin() };
        bench_response(bencher, index_reply(), request, true);
    }

    #[divan::bench]
    fn encode(bencher: Bencher) {
        let request = Request::IndexQuery { origin: origin() };
        bench_response(bencher, index_reply(), request, false);
    }
}

/// A 400 KB document: decoding costs its head (the body is a slice of the
/// receive buffer), encoding a copy.
mod document_400k {
    use super::*;

    fn request() -> Request {
        Request::GetRfc {
            number: 9264,
            origin: origin(),
        }
    }

    #[divan::bench]
    fn decode(bencher: Bencher) {
        bench_response(bencher, document_reply(), request(), true);
    }

    #[divan::bench]
    fn encode(bencher: Bencher) {
        bench_response(bencher, document_reply(), request(), false);
    }
}
