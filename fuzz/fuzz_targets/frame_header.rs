//! `FrameHeader::parse` on arbitrary bytes: a complete header re-encodes to bytes that parse to
//! the same header, and every shorter prefix is `Partial`. Then the other direction: an
//! arbitrary header encodes to bytes that parse back to it, or to the rule it breaks.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use lapps_proto::Status;
use lapps_proto::error::ProtocolError;
use lapps_proto::header::{FrameHeader, MAX_HEADER_LEN};
use lapps_proto::opcode::OpCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Status::Complete((header, len))) = FrameHeader::parse(data) {
        assert!((2..=MAX_HEADER_LEN).contains(&len) && len <= data.len());
        for end in 0..len {
            assert_eq!(FrameHeader::parse(&data[..end]), Ok(Status::Partial));
        }
        let mut buf = [0; MAX_HEADER_LEN];
        let n = header.encode(&mut buf);
        // The encoder uses the shortest length form; the parser also accepts longer ones.
        assert!(n <= len && n == header.encoded_len());
        assert_eq!(
            FrameHeader::parse(&buf[..n]),
            Ok(Status::Complete((header, n)))
        );
        if n == len {
            assert_eq!(&buf[..n], &data[..n]);
        }
    }

    let Ok(header) = FrameHeader::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let mut buf = [0; MAX_HEADER_LEN];
    let n = header.encode(&mut buf);
    // Only the low bits reach the wire.
    let opcode = OpCode::from_u8(header.opcode.as_u8());
    let expected = if let OpCode::Reserved(bits) = opcode {
        Err(ProtocolError::ReservedOpcode(bits))
    } else if header.payload_len >> 63 != 0 {
        Err(ProtocolError::PayloadLengthMsb)
    } else if opcode.is_control() && !header.fin {
        Err(ProtocolError::FragmentedControlFrame)
    } else if opcode.is_control() && header.payload_len > 125 {
        Err(ProtocolError::ControlFrameTooLong)
    } else {
        let wire = FrameHeader {
            rsv: header.rsv & 0b111,
            opcode,
            ..header
        };
        Ok(Status::Complete((wire, n)))
    };
    assert_eq!(FrameHeader::parse(&buf[..n]), expected, "{header:?}");
});
