//! `parse_request` on arbitrary bytes never panics, and a complete request is consistent: its
//! head fits the buffer and the limit, parses the same from the head alone, and is `Partial`
//! one byte short. A request that validates is answered with a 101 that the client side
//! accepts; any other with an error response that parses as HTTP.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lapps_proto::Status;
use lapps_proto::handshake::{self, AcceptOptions, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(Status::Complete((request, len))) = handshake::parse_request(data, &limits) else {
        return;
    };
    assert!(len <= data.len() && len <= limits.max_header_size);
    let again = handshake::parse_request(&data[..len], &limits);
    assert_eq!(again, Ok(Status::Complete((request.clone(), len))));
    assert_eq!(
        handshake::parse_request(&data[..len - 1], &limits),
        Ok(Status::Partial)
    );
    let query = request.query().map(|q| format!("?{q}")).unwrap_or_default();
    assert_eq!(format!("{}{query}", request.path()), request.target());

    let mut out = Vec::new();
    match request.validate() {
        Ok(()) => {
            let key = request.key().expect("validate checks the key");
            let raw: [u8; 16] = BASE64
                .decode(key)
                .ok()
                .and_then(|k| k.try_into().ok())
                .expect("validate checks that the key is 16 bytes of base64");
            let offered: Vec<&str> = request.protocols().collect();
            let protocol = handshake::negotiate_protocol(request.protocols(), &offered);
            handshake::write_accept(key, &AcceptOptions::new().with_protocol(protocol), &mut out);
            let response = handshake::parse_response(&out, &raw, &offered);
            let Ok(Status::Complete((response, n))) = response else {
                panic!("{response:?} for {:?}", String::from_utf8_lossy(&out));
            };
            assert_eq!((n, response.protocol()), (out.len(), protocol));
        }
        Err(error) => {
            error.write_response(None, &mut out);
            let status_line = format!("HTTP/1.1 {} ", error.status().as_u16());
            assert!(out.starts_with(status_line.as_bytes()));
            let end = out
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("a blank line")
                + 4;
            let length = format!("\r\nContent-Length: {}\r\n", out.len() - end);
            assert!(
                out[..end]
                    .windows(length.len())
                    .any(|w| w == length.as_bytes())
            );
        }
    }
});
