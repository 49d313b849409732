//! Feeds arbitrary bytes to every decoder that sees untrusted input:
//! frame streams (`decode`), borrowed request payloads
//! (`decode_request`) and connection preambles (`Preamble::check`).
//! Nothing may panic, and every accepted frame must survive a re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgirt::daemon::protocol::{
    decode, decode_request, Preamble, HEADER_LEN, PREAMBLE_LEN, TOKEN_LEN,
};

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while at < data.len() {
        match decode(&data[at..]) {
            Ok(Some((frame, used))) => {
                assert!(used >= HEADER_LEN && at + used <= data.len());
                let again = frame.encode();
                assert_eq!(decode(&again), Ok(Some((frame, again.len()))));
                at += used;
            }
            Ok(None) | Err(_) => break,
        }
    }
    if data.len() >= HEADER_LEN {
        let _ = decode_request(&data[HEADER_LEN..]);
    }
    if data.len() >= PREAMBLE_LEN {
        let bytes: &[u8; PREAMBLE_LEN] = data[..PREAMBLE_LEN].try_into().unwrap();
        let _ = Preamble::check(bytes, &[0; TOKEN_LEN]);
    }
});
