//! Frame opcodes (RFC 6455 §5.2, §11.8).

/// A frame opcode, in RFC order.
///
/// The four bits of the opcode field map onto the variants one to one: the values RFC 6455
/// reserves (3–7 and 11–15) are kept as [`OpCode::Reserved`], so that decoding never loses
/// information and [`OpCode::as_u8`] always round-trips.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OpCode {
    /// `0x0`: a continuation of a fragmented message.
    Continuation,
    /// `0x1`: the first frame of a text message.
    Text,
    /// `0x2`: the first frame of a binary message.
    Binary,
    /// `0x8`: a Close control frame.
    Close,
    /// `0x9`: a Ping control frame.
    Ping,
    /// `0xA`: a Pong control frame.
    Pong,
    /// A reserved opcode (3–7 for data, 11–15 for control). Receiving one is a protocol error.
    Reserved(u8),
}

impl OpCode {
    /// Decodes the low four bits of `bits` as an opcode.
    pub const fn from_u8(bits: u8) -> Self {
        match bits & 0x0F {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => Self::Reserved(other),
        }
    }

    /// Returns the four-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
            Self::Reserved(bits) => bits & 0x0F,
        }
    }

    /// Returns true for control opcodes (Close, Ping, Pong and the reserved 11–15).
    ///
    /// RFC 6455 §5.5: control frames are identified by opcodes where the most significant bit
    /// of the opcode is 1.
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x08 != 0
    }

    /// Returns true for opcodes that RFC 6455 reserves for future use.
    pub const fn is_reserved(self) -> bool {
        matches!(self, Self::Reserved(_))
    }
}

#[cfg(test)]
mod tests {
    use super::OpCode;

    #[test]
    fn every_value_round_trips() {
        for bits in 0u8..16 {
            assert_eq!(OpCode::from_u8(bits).as_u8(), bits);
        }
    }

    #[test]
    fn classifies_reserved_and_control() {
        let reserved: Vec<u8> = (0u8..16)
            .filter(|b| OpCode::from_u8(*b).is_reserved())
            .collect();
        assert_eq!(reserved, [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]);
        let control: Vec<u8> = (0u8..16)
            .filter(|b| OpCode::from_u8(*b).is_control())
            .collect();
        assert_eq!(control, [8, 9, 10, 11, 12, 13, 14, 15]);
    }
}
