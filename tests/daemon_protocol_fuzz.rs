//! A deterministic fuzz run of the wire-protocol decoders on stable Rust:
//! a few hundred thousand random and mutated inputs from a fixed-seed
//! xorshift generator. Nothing may panic; every accepted frame must
//! re-encode into something that decodes to the same frame; a decoder
//! never claims more bytes than it was given. The coverage-guided version
//! is the cargo-fuzz target in fuzz/ (docs/daemon.md).
//!
//! `WSGIRT_FUZZ_ITERATIONS=N` changes the number of rounds.

use wsgirt::daemon::protocol::{
    self, decode, decode_request, EndOutcome, Frame, Preamble, RequestFrame, HEADER_LEN,
    PREAMBLE_LEN, TOKEN_LEN,
};

/// xorshift64* (Vigna): tiny, fast, good enough for fuzzing.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let frames = vec![
        Frame::Request(RequestFrame {
            application_group: b"grp".to_vec(),
            script_path: b"/srv/app.wsgi".to_vec(),
            callable: b"application".to_vec(),
            reload_script: true,
            script_mtime: 1_700_000_000_000_000,
            queue_start: 42,
            environ: vec![
                (b"REQUEST_METHOD".to_vec(), b"GET".to_vec()),
                (b"HTTP_X".to_vec(), vec![0xe9]),
            ],
        }),
        Frame::Body(b"body bytes".to_vec()),
        Frame::Body(Vec::new()),
        Frame::IoFailed(1),
        Frame::Gone,
        Frame::Read(65536),
        Frame::Start {
            status: 200,
            status_line: b"200 OK".to_vec(),
            headers: vec![(b"Content-Type".to_vec(), b"text/plain".to_vec())],
        },
        Frame::Data {
            data: b"hello".to_vec(),
            flush: true,
        },
        Frame::File {
            offset: 3,
            len: 1 << 33,
        },
        Frame::Spool {
            offset: 1 << 19,
            len: 65536,
            flush: true,
            new_fd: true,
            sync: true,
        },
        Frame::SpoolDone,
        Frame::End {
            outcome: EndOutcome::Rejected,
            incomplete: false,
            status: 200,
            bytes_written: 7,
        },
    ];
    let mut seeds: Vec<Vec<u8>> = frames.iter().map(Frame::encode).collect();
    // A stream of frames, and a preamble followed by a request.
    seeds.push(frames.iter().flat_map(Frame::encode).collect());
    let mut opening = Preamble {
        token: [9; TOKEN_LEN],
    }
    .encode()
    .to_vec();
    opening.extend(frames[0].encode());
    seeds.push(opening);
    seeds
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        match rng.below(8) {
            // Flip a bit.
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            // Set a byte to an interesting value.
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = [0, 1, 0x7f, 0x80, 0xff, 16, 20, 4, 21, 5, 8][rng.below(11)];
            }
            // Truncate.
            2 => {
                let n = rng.below(input.len() + 1);
                input.truncate(n);
            }
            // Insert random bytes.
            3 => {
                let at = rng.below(input.len() + 1);
                let n = 1 + rng.below(16);
                let extra = rng.bytes(n);
                input.splice(at..at, extra);
            }
            // Overwrite a little-endian u32 (a length field, often).
            4 if input.len() >= 4 => {
                let i = rng.below(input.len() - 3);
                let value: u32 = match rng.below(5) {
                    0 => 0,
                    1 => u32::MAX,
                    2 => protocol::MAX_PAYLOAD as u32 + 1,
                    3 => protocol::MAX_FIELDS as u32 + 1,
                    _ => rng.next() as u32 % 256,
                };
                input[i..i + 4].copy_from_slice(&value.to_le_bytes());
            }
            // Duplicate a slice.
            5 if !input.is_empty() => {
                let a = rng.below(input.len());
                let b = (a + rng.below(32)).min(input.len());
                let copy = input[a..b].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, copy);
            }
            // Remove a slice.
            6 if !input.is_empty() => {
                let a = rng.below(input.len());
                let b = (a + rng.below(16)).min(input.len());
                input.drain(a..b);
            }
            _ => {
                if let Some(last) = input.last_mut() {
                    *last = last.wrapping_add(1);
                }
            }
        }
    }
}

/// Everything the daemon and the worker do with untrusted bytes.
fn exercise(input: &[u8]) {
    // Frame decoding, as a stream.
    let mut at = 0;
    while at < input.len() {
        match decode(&input[at..]) {
            Ok(Some((frame, used))) => {
                assert!(used >= HEADER_LEN && at + used <= input.len());
                // Canonical re-encoding decodes to the same frame.
                let again = frame.encode();
                assert_eq!(decode(&again), Ok(Some((frame, again.len()))));
                at += used;
            }
            Ok(None) | Err(_) => break,
        }
    }
    // The borrowing request decoder agrees with the owned one.
    if input.len() >= HEADER_LEN {
        let payload = &input[HEADER_LEN..];
        let owned = protocol::decode_payload(
            protocol::Header {
                kind: protocol::kind::REQUEST,
                flags: 0,
                len: payload.len(),
            },
            payload,
        );
        match (decode_request(payload), owned) {
            (Ok((head, environ)), Ok(Frame::Request(r))) => {
                assert_eq!(head.script_path, r.script_path.as_slice());
                assert_eq!(head.application_group, r.application_group.as_slice());
                assert_eq!(environ.len(), r.environ.len());
            }
            (Err(a), Err(b)) => assert_eq!(a, b),
            (a, b) => panic!("decoders disagree: {a:?} vs {b:?}"),
        }
    }
    // Preamble checks.
    if input.len() >= PREAMBLE_LEN {
        let bytes: &[u8; PREAMBLE_LEN] = input[..PREAMBLE_LEN].try_into().unwrap();
        let _ = Preamble::check(bytes, &[9; TOKEN_LEN]);
    }
}

#[test]
fn decoders_survive_random_and_mutated_input() {
    let iterations: usize = std::env::var("WSGIRT_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let seeds = seeds();
    for seed in &seeds {
        exercise(seed);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0usize;
    for i in 0..iterations {
        let input = if i % 8 == 0 {
            let n = rng.below(64);
            rng.bytes(n)
        } else {
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &mut input);
            input
        };
        if matches!(decode(&input), Ok(Some(_))) {
            accepted += 1;
        }
        exercise(&input);
    }
    // The mutations are not all rejected: decoding paths are exercised.
    assert!(accepted > iterations / 50, "only {accepted} inputs decoded");
}
