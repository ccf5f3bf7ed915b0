//! `murmur`: libstdc++-compatible `std::hash` (spec §3.13).
//!
//! Hashes stored by LAppS applications must stay valid, so strings hash exactly as libstdc++'s
//! `std::hash<std::string>` on a 64-bit target, and numbers as `std::hash` of a 64-bit integer
//! (the identity).

use mlua::{Lua, Table, Value, Variadic};

/// libstdc++'s `_Hash_bytes` (MurmurHash2-64A, seed `0xc70f6907`) over `bytes`.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let (blocks, tail) = bytes.as_chunks::<8>();
    let mut hash = SEED ^ (bytes.len() as u64).wrapping_mul(MUL);
    for block in blocks {
        hash ^= shift_mix(u64::from_le_bytes(*block).wrapping_mul(MUL)).wrapping_mul(MUL);
        hash = hash.wrapping_mul(MUL);
    }
    if !tail.is_empty() {
        // libstdc++'s `load_bytes`: the last byte is the most significant, i.e. little-endian.
        let mut word = [0; 8];
        word[..tail.len()].copy_from_slice(tail);
        hash ^= u64::from_le_bytes(word);
        hash = hash.wrapping_mul(MUL);
    }
    shift_mix(shift_mix(hash).wrapping_mul(MUL))
}

/// Builds the `murmur` table: `hashstr` and `hashnum`.
///
/// # Errors
///
/// A Lua error if the VM cannot allocate the table.
pub fn install(lua: &Lua) -> mlua::Result<Table> {
    let murmur = lua.create_table()?;
    murmur.set(
        "hashstr",
        lua.create_function(|_, args: Variadic<Value>| {
            Ok(format!("{:016x}", hash_arg("hashstr", &args)?))
        })?,
    )?;
    murmur.set(
        "hashnum",
        lua.create_function(|_, args: Variadic<Value>| {
            Ok(to_lua_number(hash_arg("hashnum", &args)?))
        })?,
    )?;
    Ok(murmur)
}

/// The hash of the one argument of `murmur.<function>`: a string's bytes through
/// [`hash_bytes`], a number as itself (see [`number_to_u64`]).
fn hash_arg(function: &str, args: &[Value]) -> mlua::Result<u64> {
    let usage = || {
        mlua::Error::runtime(format!(
            "usage: murmur.{function}(x): x is a string or a number, got {}",
            describe(args)
        ))
    };
    let [arg] = args else {
        return Err(usage());
    };
    match arg {
        Value::String(s) => Ok(hash_bytes(&s.as_bytes())),
        Value::Integer(i) => Ok(i.cast_unsigned()),
        Value::Number(n) => number_to_u64(*n).ok_or_else(|| {
            mlua::Error::runtime(format!(
                "murmur.{function}: cannot hash {n}: not a finite number"
            ))
        }),
        _ => Err(usage()),
    }
}

/// What a usage error says it got: the Lua type names of the arguments.
fn describe(args: &[Value]) -> String {
    match args {
        [] => "no argument".to_owned(),
        [one] => one.type_name().to_owned(),
        many => {
            let names: Vec<_> = many.iter().map(Value::type_name).collect();
            format!("{} arguments ({})", many.len(), names.join(", "))
        }
    }
}

/// A number's hash: the number truncated toward zero and reduced modulo 2^64, which is two's
/// complement wrapping for negative values (spec §3.13). `None` for NaN and ±∞.
///
/// Values in [2^63, 2^64) map to themselves, so a `hashnum` result fed back in gives the
/// (rounded) hash. Beyond ±2^64 the spec says nothing and C++ leaves the conversion undefined;
/// reducing modulo 2^64 continues the wrapping rule and never fails.
fn number_to_u64(n: f64) -> Option<u64> {
    if !n.is_finite() {
        return None;
    }
    let t = n.trunc();
    if t.abs() < TWO_POW_63 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "|t| < 2^63 and integral: exact"
        )]
        return Some((t as i64).cast_unsigned());
    }
    // |t| >= 2^63: t = mantissa × 2^exponent with exponent >= 11, so the low 64 bits of
    // mantissa << exponent are t modulo 2^64.
    let bits = t.to_bits();
    let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
    let exponent = ((bits >> 52) & 0x7ff) - 1075;
    let magnitude = if exponent < 64 {
        mantissa << exponent
    } else {
        0
    };
    Some(if t < 0.0 {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}

/// The hash as a Lua number: the nearest double (spec §3.13: values above 2^53 are rounded).
#[expect(
    clippy::cast_precision_loss,
    reason = "the spec rounds to the nearest double"
)]
fn to_lua_number(hash: u64) -> f64 {
    hash as f64
}

/// `v ^ (v >> 47)`, MurmurHash2-64A's mixing step.
const fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

/// libstdc++'s seed for `std::hash` of strings.
const SEED: u64 = 0xc70f_6907;

/// The MurmurHash2-64A multiplier.
const MUL: u64 = 0xc6a4_a793_5bd1_e995;

const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of spec §3.13.
    const VECTORS: &[(&str, &str)] = &[
        ("", "553e93901e462a6e"),
        ("a", "454ddee488c1ed6b"),
        ("abc", "32d82bf8ed3dba39"),
        ("hello", "26553298fdbe39c8"),
        ("Hello World", "1dcba320553c2552"),
        ("12345678", "8c5b90a33a04dca5"),
        ("123456789", "aaeb28d3d5f165c0"),
        (
            "The quick brown fox jumps over the lazy dog",
            "dccbf2541704bc75",
        ),
    ];

    fn lua() -> mlua::Result<Lua> {
        let lua = Lua::new();
        lua.globals().set("murmur", install(&lua)?)?;
        Ok(lua)
    }

    fn eval<T: mlua::FromLuaMulti>(lua: &Lua, chunk: &str) -> mlua::Result<T> {
        lua.load(chunk).eval()
    }

    /// The message of the error `chunk` raises.
    fn error_of(lua: &Lua, chunk: &str) -> String {
        match lua.load(chunk).exec() {
            Ok(()) => panic!("{chunk} raised no error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn hash_bytes_matches_the_spec_vectors() {
        for &(input, hex) in VECTORS {
            assert_eq!(
                format!("{:016x}", hash_bytes(input.as_bytes())),
                hex,
                "{input:?}"
            );
        }
    }

    #[test]
    fn hashstr_matches_the_spec_vectors() -> mlua::Result<()> {
        let lua = lua()?;
        for &(input, hex) in VECTORS {
            lua.globals().set("input", input)?;
            assert_eq!(eval::<String>(&lua, "return murmur.hashstr(input)")?, hex);
        }
        assert_eq!(
            eval::<String>(&lua, "return murmur.hashstr('abc')")?,
            "32d82bf8ed3dba39"
        );
        Ok(())
    }

    #[test]
    fn hashnum_rounds_to_the_nearest_double() -> mlua::Result<()> {
        let lua = lua()?;
        assert_eq!(hash_bytes(b"hello"), 2_762_169_579_135_187_400);
        let hashed: f64 = eval(&lua, "return murmur.hashnum('hello')")?;
        assert_eq!(hashed.to_bits(), 2_762_169_579_135_187_456_f64.to_bits());
        // The same double as a Lua literal, and as text.
        assert!(eval::<bool>(
            &lua,
            "return murmur.hashnum('hello') == 2762169579135187456"
        )?);
        assert_eq!(
            eval::<String>(
                &lua,
                "return string.format('%.0f', murmur.hashnum('hello'))"
            )?,
            "2762169579135187456"
        );
        Ok(())
    }

    #[test]
    fn hashes_bytes_beyond_utf8_and_nul() -> mlua::Result<()> {
        let lua = lua()?;
        let bytes = b"\0\xff\x80a\0";
        lua.globals().set("input", lua.create_string(bytes)?)?;
        let hex: String = eval(&lua, "return murmur.hashstr(input)")?;
        assert_eq!(hex, format!("{:016x}", hash_bytes(bytes)));
        Ok(())
    }

    #[test]
    fn tail_is_read_little_endian() {
        // Every length from 0 to two whole blocks, so every tail length with and without
        // blocks before it.
        let input = b"0123456789abcdef";
        for len in 0..=input.len() {
            let expected = reference_hash(&input[..len]);
            assert_eq!(hash_bytes(&input[..len]), expected, "length {len}");
        }
    }

    #[test]
    fn numbers_hash_to_themselves() -> mlua::Result<()> {
        let lua = lua()?;
        for (chunk, hex) in [
            ("42", "000000000000002a"),
            ("0", "0000000000000000"),
            ("-0.0", "0000000000000000"),
            ("-1", "ffffffffffffffff"),
            ("3.9", "0000000000000003"),
            ("-3.9", "fffffffffffffffd"),
            ("0.5", "0000000000000000"),
            ("2^53 + 2", "0020000000000002"),
            ("-2^63", "8000000000000000"),
            ("2^63", "8000000000000000"),
            ("2^64 - 2048", "fffffffffffff800"),
            ("2^64", "0000000000000000"),
            ("2^64 + 4096", "0000000000001000"),
            ("-(2^64 + 4096)", "fffffffffffff000"),
            ("1e300", "0000000000000000"),
        ] {
            let hashed: String = eval(&lua, &format!("return murmur.hashstr({chunk})"))?;
            assert_eq!(hashed, hex, "{chunk}");
        }
        assert!(eval::<bool>(&lua, "return murmur.hashnum(42) == 42")?);
        assert!(eval::<bool>(&lua, "return murmur.hashnum(3.9) == 3")?);
        assert!(eval::<bool>(&lua, "return murmur.hashnum(-1) == 2^64")?);
        // A string of digits is a string, not a number.
        assert_eq!(
            eval::<String>(&lua, "return murmur.hashstr('42')")?,
            format!("{:016x}", hash_bytes(b"42"))
        );
        Ok(())
    }

    #[test]
    fn hashnum_output_fed_back_gives_the_rounded_hash() -> mlua::Result<()> {
        let lua = lua()?;
        let hex: String = eval(&lua, "return murmur.hashstr(murmur.hashnum('hello'))")?;
        assert_eq!(hex, format!("{:016x}", 2_762_169_579_135_187_456_u64));
        Ok(())
    }

    #[test]
    fn non_finite_numbers_are_errors() -> mlua::Result<()> {
        let lua = lua()?;
        for (chunk, shown) in [
            ("murmur.hashstr(0/0)", "murmur.hashstr: cannot hash NaN"),
            ("murmur.hashnum(1/0)", "murmur.hashnum: cannot hash inf"),
            ("murmur.hashstr(-1/0)", "murmur.hashstr: cannot hash -inf"),
        ] {
            let message = error_of(&lua, chunk);
            assert!(message.contains(shown), "{chunk}: {message}");
        }
        Ok(())
    }

    #[test]
    fn misuse_is_a_usage_error() -> mlua::Result<()> {
        let lua = lua()?;
        for (chunk, got) in [
            ("murmur.hashstr()", "got no argument"),
            ("murmur.hashstr(nil)", "got nil"),
            ("murmur.hashnum(true)", "got boolean"),
            ("murmur.hashstr({})", "got table"),
            ("murmur.hashnum(print)", "got function"),
            (
                "murmur.hashstr('a', 'b')",
                "got 2 arguments (string, string)",
            ),
            // Function style only (spec §3.7): a method call passes the table first.
            ("murmur:hashstr('a')", "got 2 arguments (table, string)"),
        ] {
            let message = error_of(&lua, chunk);
            let function = if chunk.contains("hashnum") {
                "hashnum"
            } else {
                "hashstr"
            };
            let usage = format!("usage: murmur.{function}(x): x is a string or a number, {got}");
            assert!(message.contains(&usage), "{chunk}: {message}");
        }
        Ok(())
    }

    /// MurmurHash2-64A written the long way, byte by byte, as a second opinion on the
    /// block and tail handling.
    fn reference_hash(bytes: &[u8]) -> u64 {
        let word = |chunk: &[u8]| {
            chunk
                .iter()
                .rev()
                .fold(0_u64, |acc, &b| (acc << 8) | u64::from(b))
        };
        let mut h = SEED ^ (bytes.len() as u64).wrapping_mul(MUL);
        let whole = bytes.len() / 8 * 8;
        for chunk in bytes[..whole].chunks(8) {
            let mut k = word(chunk).wrapping_mul(MUL);
            k ^= k >> 47;
            h = (h ^ k.wrapping_mul(MUL)).wrapping_mul(MUL);
        }
        if whole < bytes.len() {
            h = (h ^ word(&bytes[whole..])).wrapping_mul(MUL);
        }
        h ^= h >> 47;
        h = h.wrapping_mul(MUL);
        h ^ (h >> 47)
    }
}
