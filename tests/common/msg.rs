//! The message format every data test uses, in Rust (the C programs in `c-examples/` carry
//! the same rules in `pipeline_format.h`): `[producer u32][seq u64][payload][fnv u64]`, all
//! little-endian. The payload's length (`0..=max_payload`) and bytes are derived from
//! `(producer, seq)` with splitmix64, and the trailing checksum is FNV-1a 64 over everything
//! before it, so a receiver can check every byte of every message without any side channel.
//!
//! No dependencies but `std`: `examples/pipeline.rs` includes this file with
//! `#[path = "../tests/common/msg.rs"] mod msg;`, and `tests/common/mod.rs` re-exports it.

#![allow(dead_code)]

/// `[producer u32][seq u64]`.
pub const HEAD_LEN: usize = 12;
/// `[fnv u64]`.
pub const SUM_LEN: usize = 8;
/// Bytes a message carries besides its payload.
pub const OVERHEAD: usize = HEAD_LEN + SUM_LEN;

/// splitmix64: a good 64-bit mix, for payload lengths and bytes derived from a seq.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a, 64-bit.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn seed(producer: u32, seq: u64) -> u64 {
    mix(((producer as u64) << 48) ^ seq)
}

/// The payload length of message `(producer, seq)`: `0..=max_payload`, pseudo-random.
pub fn payload_len(producer: u32, seq: u64, max_payload: usize) -> usize {
    (mix(seed(producer, seq) ^ 0x5eed) % (max_payload as u64 + 1)) as usize
}

/// Fills `out` with the payload bytes of `(producer, seq)`.
pub fn fill_payload(producer: u32, seq: u64, out: &mut [u8]) {
    let s = seed(producer, seq);
    for (k, chunk) in out.chunks_mut(8).enumerate() {
        let w = mix(s.wrapping_add(k as u64)).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
}

/// Whether `bytes` are the payload of `(producer, seq)`.
pub fn payload_matches(producer: u32, seq: u64, bytes: &[u8]) -> bool {
    let s = seed(producer, seq);
    bytes.chunks(8).enumerate().all(|(k, chunk)| {
        let w = mix(s.wrapping_add(k as u64)).to_le_bytes();
        chunk == &w[..chunk.len()]
    })
}

/// The length of message `(producer, seq)`.
pub fn msg_len(producer: u32, seq: u64, max_payload: usize) -> usize {
    OVERHEAD + payload_len(producer, seq, max_payload)
}

/// Writes message `(producer, seq)` into `out` (at least `OVERHEAD + max_payload` bytes) and
/// returns its length.
pub fn encode(producer: u32, seq: u64, max_payload: usize, out: &mut [u8]) -> usize {
    let plen = payload_len(producer, seq, max_payload);
    encode_with_payload_len(producer, seq, plen, out)
}

/// Writes `(producer, seq)` with a payload of exactly `plen` bytes; returns the length.
pub fn encode_with_payload_len(producer: u32, seq: u64, plen: usize, out: &mut [u8]) -> usize {
    let len = OVERHEAD + plen;
    out[..4].copy_from_slice(&producer.to_le_bytes());
    out[4..HEAD_LEN].copy_from_slice(&seq.to_le_bytes());
    fill_payload(producer, seq, &mut out[HEAD_LEN..HEAD_LEN + plen]);
    let sum = fnv1a(&out[..HEAD_LEN + plen]);
    out[HEAD_LEN + plen..len].copy_from_slice(&sum.to_le_bytes());
    len
}

/// Message `(producer, seq)` as a vector.
pub fn encode_vec(producer: u32, seq: u64, max_payload: usize) -> Vec<u8> {
    let mut v = vec![0u8; OVERHEAD + max_payload];
    let n = encode(producer, seq, max_payload, &mut v);
    v.truncate(n);
    v
}

/// Checks a message's structure and checksum and that its payload is the one its
/// `(producer, seq)` implies (length and bytes, when `max_payload` is given); returns
/// `(producer, seq)`.
pub fn decode(msg: &[u8], max_payload: Option<usize>) -> Result<(u32, u64), String> {
    if msg.len() < OVERHEAD {
        return Err(format!("message of {} bytes is shorter than {OVERHEAD}", msg.len()));
    }
    let body = msg.len() - SUM_LEN;
    let sum = u64::from_le_bytes(msg[body..].try_into().unwrap());
    if fnv1a(&msg[..body]) != sum {
        return Err(format!(
            "bad checksum on a {}-byte message starting {:02x?}",
            msg.len(),
            &msg[..HEAD_LEN]
        ));
    }
    let producer = u32::from_le_bytes(msg[..4].try_into().unwrap());
    let seq = u64::from_le_bytes(msg[4..HEAD_LEN].try_into().unwrap());
    let payload = &msg[HEAD_LEN..body];
    if let Some(max) = max_payload {
        let want = payload_len(producer, seq, max);
        if payload.len() != want {
            return Err(format!(
                "producer {producer} seq {seq}: payload of {} bytes, expected {want}",
                payload.len()
            ));
        }
    }
    if !payload_matches(producer, seq, payload) {
        return Err(format!("producer {producer} seq {seq}: payload bytes differ"));
    }
    Ok((producer, seq))
}

/// Message `seq` of the single-sender transport runs: a pseudo-random length in `0..=max`
/// (0, `max` and 1 among them), in the `[producer][seq]` format when long enough, otherwise
/// payload bytes derived from `seq`.
pub fn sized_msg(seq: u64, max: usize) -> Vec<u8> {
    let len = match seq % 8 {
        0 => 0,
        1 => max,
        2 => 1,
        _ => (mix(seq ^ 0x91e) % (max as u64 + 1)) as usize,
    };
    let mut v = vec![0u8; len];
    if len >= OVERHEAD {
        encode_with_payload_len(0, seq, len - OVERHEAD, &mut v);
    } else {
        fill_payload(7, seq, &mut v);
    }
    v
}

/// Checks that `got` is [`sized_msg`] `seq`: decoded (seq and checksum) when long enough,
/// and byte for byte what the seq implies.
pub fn check_msg(seq: u64, got: &[u8], max: usize) {
    let want = sized_msg(seq, max);
    if got.len() >= OVERHEAD {
        let (p, s) = decode(got, None).unwrap_or_else(|e| panic!("message #{seq}: {e}"));
        assert_eq!((p, s), (0, seq), "message #{seq}: wrong producer/seq");
    }
    assert!(
        got == want.as_slice(),
        "message #{seq}: {} bytes, expected {} (or bytes differ)",
        got.len(),
        want.len()
    );
}
