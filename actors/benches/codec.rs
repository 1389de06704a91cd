//! Decoding and encoding throughput of the `&*` codecs: requests, a
//! 60-record RFC index and a 400 KB document, in messages and bytes per
//! second. Run with `cargo bench -p p2p-di-actors --bench codec`.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
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

fn bench_requests(c: &mut Criterion) {
    let requests = requests();
    let wire: Vec<Bytes> = requests.iter().map(write::request_bytes).collect();
    let bytes: usize = wire.iter().map(Bytes::len).sum();
    let mut group = c.benchmark_group("requests");
    group.throughput(Throughput::Elements(requests.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for (head, request) in wire.iter().zip(&requests) {
                let mut codec = RequestCodec::new(role_of(request), WireLimits::default());
                let mut buf = BytesMut::from(&head[..]);
                black_box(codec.decode(&mut buf).ok());
            }
        })
    });
    group.bench_function("encode", |b| {
        let mut buf = BytesMut::with_capacity(1024);
        b.iter(|| {
            buf.clear();
            for request in &requests {
                write::write_request(black_box(request), &mut buf);
            }
        })
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("decode_bytes", |b| {
        b.iter(|| {
            for (head, request) in wire.iter().zip(&requests) {
                let mut codec = RequestCodec::new(role_of(request), WireLimits::default());
                let mut buf = BytesMut::from(&head[..]);
                black_box(codec.decode(&mut buf).ok());
            }
        })
    });
    group.finish();
}

fn bench_response(c: &mut Criterion, name: &str, reply: Reply, request: Request) {
    let wire = encoded(&reply);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("decode", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |buf| black_box(decode(&request, buf)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("encode", |b| {
        let mut codec = RequestCodec::new(Role::Peer, WireLimits::default());
        let mut buf = BytesMut::with_capacity(wire.len());
        b.iter(|| {
            buf.clear();
            encode(&mut codec, &reply, &mut buf);
            black_box(buf.len())
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_messages", |b| {
        b.iter_batched(
            || BytesMut::from(&wire[..]),
            |buf| black_box(decode(&request, buf)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_index(c: &mut Criterion) {
    bench_response(
        c,
        "index_60",
        index_reply(),
        Request::IndexQuery { origin: origin() },
    );
}

fn bench_document(c: &mut Criterion) {
    let request = Request::GetRfc {
        number: 9264,
        origin: origin(),
    };
    bench_response(c, "document_400k", document_reply(), request);
}

criterion_group!(benches, bench_requests, bench_index, bench_document);
criterion_main!(benches);
