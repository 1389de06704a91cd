//! The registry's state on disk, byte by byte: journal records and
//! snapshots, written by one [`Put`] and read by one [`Take`]. Adding a
//! field to a record means its event or its stored record, and this file.
//!
//! # Journal (`journal.G`)
//!
//! Records `[len u32][check u64][seq u64][tag u8][cookie u64][fields]`,
//! little-endian, where `check` is the first 8 bytes of the BLAKE3 hash of
//! everything after it and `len` counts from `seq` on. The fields by tag:
//! 1 Registered `[at_ms u64][port u16][address][host][os]`, 2 Touched
//! `[at_ms u64]`, 3 Left, 4 Evicted; an address is `[4][4 bytes]` or
//! `[6][16 bytes]`, a name `[len u8][bytes]` (at most 255).
//!
//! # Snapshot (`snapshot`)
//!
//! A header `[magic "P2PDISN2"][generation u64]`, slices `[marker u64]
//! [count u32][len u32][records]`, and a trailer `["P2PDIEND"][records
//! u64][BLAKE3 of everything before the trailer, 32 bytes]`. A record is
//! `[cookie u64][deadline_ms u64, 0 when inactive][last_registered_s u32]
//! [port u16][address][host][os][count u8][time u32 × count]`.

use crate::state::registry::{EventRef, StoredRecord};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The snapshot's first bytes.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"P2PDISN2";
/// The snapshot trailer's first bytes.
pub const TRAILER_MAGIC: &[u8; 8] = b"P2PDIEND";
/// A snapshot's header: magic and generation.
pub const HEADER_LEN: usize = 16;
/// A slice's header: marker, count, length.
pub const SLICE_HEADER_LEN: usize = 16;
/// A snapshot's trailer: magic, record count, hash.
pub const TRAILER_LEN: usize = 48;
/// No journal record is longer (a REGISTER with two 255-byte names is 556
/// bytes): a longer declared length is damage, not a record cut short.
pub const MAX_RECORD: usize = 1024;
/// The shortest journal record of a registration (empty names, IPv4).
pub const MIN_REGISTERED: usize = RECORD_HEAD + 8 + 1 + 8 + 8 + 2 + 5 + 1 + 1;
/// A journal record's length and check fields.
const RECORD_HEAD: usize = 12;

/// Why bytes do not read as what they should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// They end before it does.
    #[error("cut short")]
    CutShort,
    /// An address of an unknown kind.
    #[error("an address of kind {0}")]
    AddressKind(u8),
    /// A name that is not UTF-8.
    #[error("a name that is not UTF-8")]
    NotUtf8,
    /// An event of an unknown kind.
    #[error("an event of kind {0}")]
    EventKind(u8),
    /// Bytes left over after it.
    #[error("bytes after its end")]
    Trailing,
    /// A journal record longer than any can be.
    #[error("a record of {0} bytes cannot be (checksum unchecked)")]
    TooLong(usize),
    /// A journal record whose checksum does not match.
    #[error("checksum mismatch")]
    Checksum,
}

/// Writes fields, little-endian.
pub struct Put<'a>(pub &'a mut Vec<u8>);

impl Put<'_> {
    fn u8(&mut self, value: u8) {
        self.0.push(value);
    }

    fn u16(&mut self, value: u16) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn address(&mut self, address: IpAddr) {
        match address {
            IpAddr::V4(v4) => {
                self.u8(4);
                self.0.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                self.u8(6);
                self.0.extend_from_slice(&v6.octets());
            }
        }
    }

    /// A name of at most 255 bytes (the wire refuses longer ones; a longer
    /// one is cut at a character boundary).
    fn name(&mut self, name: &str) {
        let mut end = name.len().min(255);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.u8(end as u8);
        self.0.extend_from_slice(&name.as_bytes()[..end]);
    }
}

/// Reads fields, little-endian, from the front of a buffer.
pub struct Take<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Take<'a> {
    /// Reads `bytes` from the start.
    pub fn new(bytes: &'a [u8]) -> Self {
        Take { bytes, at: 0 }
    }

    /// Bytes read so far.
    pub fn read(&self) -> usize {
        self.at
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let piece = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or(FormatError::CutShort)?;
        self.at += n;
        Ok(piece)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut array = [0; N];
        array.copy_from_slice(self.bytes(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, FormatError> {
        self.array().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, FormatError> {
        self.array().map(u32::from_le_bytes)
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, FormatError> {
        self.array().map(u64::from_le_bytes)
    }

    fn address(&mut self) -> Result<IpAddr, FormatError> {
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            other => Err(FormatError::AddressKind(other)),
        }
    }

    fn name(&mut self) -> Result<&'a str, FormatError> {
        let len = usize::from(self.u8()?);
        std::str::from_utf8(self.bytes(len)?).map_err(|_| FormatError::NotUtf8)
    }

    fn end(&self) -> Result<(), FormatError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(FormatError::Trailing)
        }
    }
}

/// The journal's check of a record's body.
pub fn check(bytes: &[u8]) -> u64 {
    let hash = blake3::hash(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Appends one journal record for event `seq` to `out`.
pub fn put_event(seq: u64, event: EventRef<'_>, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEAD]); // length and check, filled in below
    let mut put = Put(out);
    put.u64(seq);
    match event {
        EventRef::Registered {
            cookie,
            host,
            os,
            port,
            address,
            at_ms,
        } => {
            put.u8(1);
            put.u64(cookie);
            put.u64(at_ms);
            put.u16(port);
            put.address(address);
            put.name(host);
            put.name(os);
        }
        EventRef::Touched { cookie, at_ms } => {
            put.u8(2);
            put.u64(cookie);
            put.u64(at_ms);
        }
        EventRef::Left { cookie } => {
            put.u8(3);
            put.u64(cookie);
        }
        EventRef::Evicted { cookie } => {
            put.u8(4);
            put.u64(cookie);
        }
    }
    let body = start + RECORD_HEAD;
    let len = (out.len() - body) as u32;
    let sum = check(&out[body..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..body].copy_from_slice(&sum.to_le_bytes());
}

/// How a journal record at the start of a buffer reads.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A whole record: its sequence number, its event, and its length.
    Record(u64, EventRef<'a>, usize),
    /// The buffer ends inside the record.
    Torn,
    /// The record is damaged.
    Damaged(FormatError),
}

/// Reads the journal record at the start of `bytes`.
pub fn take_event(bytes: &[u8]) -> Decoded<'_> {
    match check_event(bytes) {
        Checked::Whole(len) => match event_of(&bytes[RECORD_HEAD..len]) {
            Ok((seq, event)) => Decoded::Record(seq, event, len),
            Err(err) => Decoded::Damaged(err),
        },
        Checked::Torn => Decoded::Torn,
        Checked::Damaged(err) => Decoded::Damaged(err),
    }
}

/// What the check of a journal record at the start of a buffer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// A whole record of this length whose checksum matches.
    Whole(usize),
    /// The buffer ends inside the record.
    Torn,
    /// Its length or checksum is wrong.
    Damaged(FormatError),
}

/// Checks the journal record at the start of `bytes`: its length and its
/// checksum, not its fields (replay checks on one core and reads on
/// another; see [`event_of_checked`]).
pub fn check_event(bytes: &[u8]) -> Checked {
    let mut head = Take::new(bytes);
    let (Ok(len), Ok(sum)) = (head.u32(), head.u64()) else {
        return Checked::Torn;
    };
    let len = len as usize;
    if len > MAX_RECORD {
        return Checked::Damaged(FormatError::TooLong(len));
    }
    let Some(body) = bytes.get(RECORD_HEAD..RECORD_HEAD + len) else {
        return Checked::Torn;
    };
    if check(body) != sum {
        return Checked::Damaged(FormatError::Checksum);
    }
    Checked::Whole(RECORD_HEAD + len)
}

/// Reads a journal record [`check_event`] found whole: its sequence
/// number and event.
pub fn event_of_checked(record: &[u8]) -> Result<(u64, EventRef<'_>), FormatError> {
    event_of(record.get(RECORD_HEAD..).ok_or(FormatError::CutShort)?)
}

fn event_of(body: &[u8]) -> Result<(u64, EventRef<'_>), FormatError> {
    let mut take = Take::new(body);
    let seq = take.u64()?;
    let tag = take.u8()?;
    let cookie = take.u64()?;
    let event = match tag {
        1 => {
            let at_ms = take.u64()?;
            let port = take.u16()?;
            let address = take.address()?;
            let host = take.name()?;
            let os = take.name()?;
            EventRef::Registered {
                cookie,
                host,
                os,
                port,
                address,
                at_ms,
            }
        }
        2 => EventRef::Touched {
            cookie,
            at_ms: take.u64()?,
        },
        3 => EventRef::Left { cookie },
        4 => EventRef::Evicted { cookie },
        other => return Err(FormatError::EventKind(other)),
    };
    take.end()?;
    Ok((seq, event))
}

/// Appends a snapshot's header.
pub fn put_header(generation: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(SNAPSHOT_MAGIC);
    Put(out).u64(generation);
}

/// Appends a slice's header.
pub fn put_slice_header(marker: u64, count: u32, len: usize, out: &mut Vec<u8>) {
    let mut put = Put(out);
    put.u64(marker);
    put.u32(count);
    put.u32(len as u32);
}

/// A slice's header: its marker, its record count and its length.
pub fn take_slice_header(take: &mut Take<'_>) -> Result<(u64, u32, usize), FormatError> {
    Ok((take.u64()?, take.u32()?, take.u32()? as usize))
}

/// Appends a snapshot's trailer.
pub fn put_trailer(records: u64, hash: &blake3::Hash, out: &mut Vec<u8>) {
    out.extend_from_slice(TRAILER_MAGIC);
    Put(out).u64(records);
    out.extend_from_slice(hash.as_bytes());
}

/// Appends a snapshot record.
pub fn put_record(record: &StoredRecord<'_>, out: &mut Vec<u8>) {
    let mut put = Put(out);
    put.u64(record.cookie);
    put.u64(record.deadline_ms.unwrap_or(0));
    put.u32(record.last_registered_s);
    put.u16(record.port);
    put.address(record.address);
    put.name(record.host);
    put.name(record.os);
    // The latest 255 times, should a peer register more often than that.
    let times = &record.registrations[record.registrations.len().saturating_sub(255)..];
    put.u8(times.len() as u8);
    for time in times {
        put.u32(*time);
    }
}

/// Reads snapshot records, keeping their registration times in a buffer
/// of its own between records.
#[derive(Debug, Default)]
pub struct RecordReader {
    times: Vec<u32>,
}

impl RecordReader {
    /// Reads the record at the front of `take`.
    pub fn take<'r, 'b: 'r>(
        &'r mut self,
        take: &mut Take<'b>,
    ) -> Result<StoredRecord<'r>, FormatError> {
        let cookie = take.u64()?;
        let deadline_ms = take.u64()?;
        let last_registered_s = take.u32()?;
        let port = take.u16()?;
        let address = take.address()?;
        let host = take.name()?;
        let os = take.name()?;
        let count = take.u8()?;
        self.times.clear();
        for _ in 0..count {
            self.times.push(take.u32()?);
        }
        Ok(StoredRecord {
            cookie,
            deadline_ms: (deadline_ms > 0).then_some(deadline_ms),
            last_registered_s,
            port,
            address,
            host,
            os,
            registrations: &self.times,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::registry::Event;
    use proptest::prelude::*;

    fn any_address() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        ]
    }

    fn any_event() -> impl Strategy<Value = Event> {
        prop_oneof![
            (
                any::<u64>(),
                "[a-z.-]{1,40}",
                "[A-Za-z ]{0,20}",
                any::<u16>(),
                any_address(),
                any::<u64>()
            )
                .prop_map(|(cookie, host, os, port, address, at_ms)| {
                    Event::Registered {
                        cookie,
                        host,
                        os,
                        port,
                        address,
                        at_ms,
                    }
                }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(cookie, at_ms)| Event::Touched { cookie, at_ms }),
            any::<u64>().prop_map(|cookie| Event::Left { cookie }),
            any::<u64>().prop_map(|cookie| Event::Evicted { cookie }),
        ]
    }

    proptest! {
        #[test]
        fn every_event_round_trips_and_every_cut_of_it_is_torn(
            seq in any::<u64>(), event in any_event()
        ) {
            let mut bytes = Vec::new();
            put_event(seq, event.as_ref(), &mut bytes);
            match take_event(&bytes) {
                Decoded::Record(s, e, used) => {
                    prop_assert_eq!((s, e.to_owned(), used), (seq, event, bytes.len()));
                }
                other => prop_assert!(false, "{:?}", other),
            }
            for cut in 0..bytes.len() {
                prop_assert!(matches!(take_event(&bytes[..cut]), Decoded::Torn));
            }
        }

        #[test]
        fn every_record_round_trips_and_every_cut_of_it_is_refused(
            cookie in any::<u64>(), deadline in proptest::option::of(1u64..),
            last in any::<u32>(), port in any::<u16>(), address in any_address(),
            host in "[a-z.-]{0,40}", os in "[A-Za-z ]{0,20}",
            times in proptest::collection::vec(any::<u32>(), 0..5)
        ) {
            let record = StoredRecord {
                cookie, deadline_ms: deadline, last_registered_s: last, port, address,
                host: &host, os: &os, registrations: &times,
            };
            let mut bytes = Vec::new();
            put_record(&record, &mut bytes);
            let mut reader = RecordReader::default();
            let mut take = Take::new(&bytes);
            let back = reader.take(&mut take).unwrap();
            prop_assert_eq!(back, record);
            prop_assert_eq!(take.read(), bytes.len());
            for cut in 0..bytes.len() {
                let mut reader = RecordReader::default();
                let mut take = Take::new(&bytes[..cut]);
                prop_assert_eq!(reader.take(&mut take), Err(FormatError::CutShort));
            }
        }
    }

    #[test]
    fn a_damaged_record_says_how() {
        let mut bytes = Vec::new();
        put_event(7, EventRef::Left { cookie: 9 }, &mut bytes);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            take_event(&bytes),
            Decoded::Damaged(FormatError::Checksum)
        ));
        let mut long = vec![0xff; 16];
        long[..4].copy_from_slice(&5000u32.to_le_bytes());
        assert!(matches!(
            take_event(&long),
            Decoded::Damaged(FormatError::TooLong(5000))
        ));
    }

    #[test]
    fn a_name_over_255_bytes_is_cut_at_a_character() {
        let mut bytes = Vec::new();
        let name = "é".repeat(200); // 400 bytes
        Put(&mut bytes).name(&name);
        let back = Take::new(&bytes).name().unwrap();
        assert_eq!(back.len(), 254);
        assert!(name.starts_with(back));
    }
}
