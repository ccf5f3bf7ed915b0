//! Lua values straight to CBOR: the bytes `cbor::encode(&lua_to_value(value)?)` gives,
//! without building the document in between (issue 5: `ws:send` in the LAppS form).
//!
//! [`Encoder`] walks a value as [`Converter`](super::convert) does, with the same rules and
//! limits, and writes as it goes: members sorted by name, arrays padded with nulls, documents
//! and references from their trees. It does not report errors: wherever the conversion could
//! fail, or where writing in order would need what only the conversion knows (two keys with
//! one member name, where the later one in `next` order wins), it gives up, and the caller
//! converts instead, which then gives the error or the document.

use std::ffi::c_void;
use std::ops::Range;

use lapps_proto::lapps::Number;
use lapps_proto::lapps::cbor;
use mlua::{BorrowedBytes, Either, Lua, Table};

use super::convert::{array_index, error_message};
use super::handle::{Handle, Subject};
use super::{MAX_DEPTH, MAX_PADDING};

/// Appends the CBOR of `value` to `out` and returns true, or returns false (with `out` in
/// any state) where [`lua_to_value`](super::convert::lua_to_value) must decide.
pub(crate) fn lua_to_cbor(lua: &Lua, value: &mlua::Value, out: &mut Vec<u8>) -> bool {
    Encoder {
        lua,
        path: Vec::new(),
        outer: 0,
        out,
    }
    .value(value)
    .is_some()
}

/// [`lua_to_cbor`] for a table holding `members` (in name order, `nil` for absent ones):
/// the table itself is not walked. `values` gets where each present member's value was
/// written in `out`.
pub(crate) fn members_to_cbor(
    lua: &Lua,
    members: &[(&str, Subject)],
    out: &mut Vec<u8>,
    values: &mut [Option<Range<usize>>],
) -> bool {
    debug_assert!(members.windows(2).all(|pair| pair[0].0 < pair[1].0));
    let present = |value: &&(&str, Subject)| !matches!(value.1, Either::Right(mlua::Value::Nil));
    let mut encoder = Encoder {
        lua,
        path: Vec::new(),
        // The table around the members counts toward the depth, as in the converter. Its
        // address is not known here; a table that holds itself is still refused one level
        // down, where it is met again, and then the converter decides.
        outer: 1,
        out,
    };
    cbor::encode_head(
        encoder.out,
        cbor::MAP,
        members.iter().filter(present).count() as u64,
    );
    for ((name, value), range) in members.iter().zip(values.iter_mut()) {
        if matches!(value, Either::Right(mlua::Value::Nil)) {
            continue;
        }
        cbor::encode_text(name, encoder.out);
        let start = encoder.out.len();
        let written = match value {
            Either::Left(handle) => handle.encode(encoder.depth(), encoder.out).ok(),
            Either::Right(value) => encoder.value(value),
        };
        if written.is_none() {
            return false;
        }
        *range = Some(start..encoder.out.len());
    }
    true
}

/// One walk; `None` anywhere means "convert instead".
struct Encoder<'a> {
    lua: &'a Lua,
    /// The tables being written, outermost first, as in the converter.
    path: Vec<*const c_void>,
    /// Tables around `path` that count toward the depth but are not walked here.
    outer: usize,
    out: &'a mut Vec<u8>,
}

/// A table key as a member name.
enum Name {
    /// A string key: its bytes, UTF-8 checked.
    Lua(BorrowedBytes),
    /// A number or boolean key in its `tostring` form.
    Text(String),
}

impl Name {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Lua(bytes) => bytes,
            Self::Text(text) => text.as_bytes(),
        }
    }
}

impl Encoder<'_> {
    /// The number of tables around the value being written, as the converter counts them.
    fn depth(&self) -> usize {
        self.path.len() + self.outer
    }

    fn value(&mut self, value: &mlua::Value) -> Option<()> {
        match value {
            mlua::Value::Nil => self.out.push(cbor::NULL),
            mlua::Value::Boolean(false) => self.out.push(cbor::FALSE),
            mlua::Value::Boolean(true) => self.out.push(cbor::TRUE),
            mlua::Value::Integer(i) => cbor::encode_number(Number::Int(*i), self.out),
            mlua::Value::Number(f) => cbor::encode_number(Number::from_f64(*f), self.out),
            mlua::Value::String(s) => {
                let bytes = s.as_bytes();
                if is_utf8(&bytes) {
                    cbor::encode_head(self.out, cbor::TEXT, bytes.len() as u64);
                } else {
                    cbor::encode_head(self.out, cbor::BYTES, bytes.len() as u64);
                }
                self.out.extend_from_slice(&bytes);
            }
            mlua::Value::Table(table) => self.table(table)?,
            mlua::Value::UserData(data) => {
                Handle::tree_of(data)?.encode(self.depth(), self.out).ok()?;
            }
            mlua::Value::Error(error) => cbor::encode_text(&error_message(error), self.out),
            _ => return None,
        }
        Some(())
    }

    fn table(&mut self, table: &Table) -> Option<()> {
        let pointer = table.to_pointer();
        if self.path.contains(&pointer) || self.depth() >= MAX_DEPTH {
            return None;
        }
        let mut entries = Vec::new();
        let mut array = true;
        let mut length = 0;
        table
            .for_each(|key: mlua::Value, value: mlua::Value| {
                if array {
                    match array_index(&key) {
                        Some(index) => length = length.max(index.saturating_add(1)),
                        None => array = false,
                    }
                }
                entries.push((key, value));
                Ok(())
            })
            .ok()?;
        self.path.push(pointer);
        let written = if array {
            self.array(entries, length)
        } else {
            self.object(entries)
        };
        self.path.pop();
        written
    }

    /// Every key is a positive integer: an array as long as the largest, gaps as null.
    fn array(&mut self, entries: Vec<(mlua::Value, mlua::Value)>, length: usize) -> Option<()> {
        if length - entries.len() > MAX_PADDING {
            return None;
        }
        let mut indexed: Vec<(usize, mlua::Value)> = entries
            .into_iter()
            .map(|(key, value)| Some((array_index(&key)?, value)))
            .collect::<Option<_>>()?;
        indexed.sort_unstable_by_key(|(index, _)| *index);
        if indexed.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return None;
        }
        cbor::encode_head(self.out, cbor::ARRAY, length as u64);
        let mut next = 0;
        for (index, value) in &indexed {
            self.out.resize(self.out.len() + (index - next), cbor::NULL);
            self.value(value)?;
            next = index + 1;
        }
        self.out
            .resize(self.out.len() + (length - next), cbor::NULL);
        Some(())
    }

    /// Any other table: an object, members in name order.
    fn object(&mut self, entries: Vec<(mlua::Value, mlua::Value)>) -> Option<()> {
        let mut named: Vec<(Name, mlua::Value)> = entries
            .into_iter()
            .map(|(key, value)| Some((self.member_name(key)?, value)))
            .collect::<Option<_>>()?;
        named.sort_unstable_by(|(a, _), (b, _)| a.bytes().cmp(b.bytes()));
        if named
            .windows(2)
            .any(|pair| pair[0].0.bytes() == pair[1].0.bytes())
        {
            return None;
        }
        cbor::encode_head(self.out, cbor::MAP, named.len() as u64);
        for (name, value) in &named {
            cbor::encode_head(self.out, cbor::TEXT, name.bytes().len() as u64);
            self.out.extend_from_slice(name.bytes());
            self.value(value)?;
        }
        Some(())
    }

    /// The member name of a table key, as the converter names it.
    fn member_name(&self, key: mlua::Value) -> Option<Name> {
        match key {
            mlua::Value::String(s) => {
                let bytes = s.as_bytes();
                is_utf8(&bytes).then_some(Name::Lua(bytes))
            }
            mlua::Value::Boolean(b) => Some(Name::Text(b.to_string())),
            mlua::Value::Integer(_) | mlua::Value::Number(_) => Some(Name::Text(
                self.lua
                    .coerce_string(key)
                    .ok()?
                    .map(|text| text.to_string_lossy())
                    .unwrap_or_default(),
            )),
            _ => None,
        }
    }
}

/// Whether a Lua string is text, as the converter decides it.
fn is_utf8(bytes: &[u8]) -> bool {
    if bytes.len() < 64 {
        std::str::from_utf8(bytes).is_ok()
    } else {
        lapps_proto::utf8::is_valid(bytes)
    }
}

#[cfg(test)]
mod tests {
    use lapps_proto::lapps::Value;

    use super::*;

    /// The fast bytes, checked equal to the converter's wherever the fast path answers;
    /// `None` where it gives up.
    fn fast(lua: &Lua, value: &mlua::Value) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let answered = lua_to_cbor(lua, value, &mut out);
        let converted = super::super::convert::lua_to_value(lua, value)
            .map(|value: Value| cbor::to_vec(&value));
        if answered {
            assert_eq!(Some(&out), converted.as_ref().ok(), "{value:?}");
            Some(out)
        } else {
            None
        }
    }

    fn lua() -> Lua {
        let lua = Lua::new();
        let table = super::super::install(
            &lua,
            &std::rc::Rc::new(crate::InstanceEnv {
                service: "test".into(),
                index: 0,
                instance_id: 1,
                stop: crate::StopSignal::new(),
                host: std::rc::Rc::new(crate::NoConnections),
                queues: std::sync::Arc::new(crate::mqr::Queues::new()),
            }),
        )
        .unwrap();
        lua.globals().set("nljson", table).unwrap();
        let raise = lua
            .create_function(|_, ()| Err::<(), _>(mlua::Error::runtime("boom")))
            .unwrap();
        lua.globals().set("raise", raise).unwrap();
        lua
    }

    /// Values the fast path writes, as the converter's document encodes.
    const WRITTEN: &str = r#"
        local doc = nljson.decode('{"a": [1, 2.5, {"b": null, "c": "x"}], "d": "é", "e": {}}')
        local _, err = pcall(raise)
        local big = {}
        for i = 1, 40 do big[i] = i * 1.5 end
        return {
          false, true, 0, -0.0, 1.5, 0.1, 2^53, 2^63, 2^64, -2^63, -2^64, 0/0, 1/0, -1/0,
          "", "text", "\255\0", ("x"):rep(100), ("é"):rep(40), ("\200"):rep(100),
          {}, {1, 2, 3}, {[1] = 1, [3] = 3}, {[2] = "two"}, {[1.0] = 1, [2] = 2},
          {a = 1, b = {c = {}}}, {[1] = 1, a = 2}, {[1.5] = 1, [-1] = 2, [0] = 3},
          {[true] = 1, [false] = 2}, {z = 1, y = 2, x = 3, ["é"] = 4, [""] = 5, aa = 6},
          {[2^40] = 1, x = 2}, {[1e300] = "big", [0.5] = "half"},
          doc, doc.a, doc.a[3], doc.e, nljson.decode("5"), nljson.decode("null"),
          {x = doc.a, y = {doc, doc}}, {err}, err, big,
          {cid = 0, status = 1, result = doc.a}, {cid = 0, status = 0,
            error = {code = -32601, message = "Method not found"}},
        }
    "#;

    #[test]
    fn writes_what_the_converted_document_encodes_to() {
        let lua = lua();
        let values: Table = lua.load(WRITTEN).eval().unwrap();
        let mut count = 0;
        for value in values.sequence_values::<mlua::Value>() {
            let value = value.unwrap();
            assert!(fast(&lua, &value).is_some(), "gave up on {value:?}");
            count += 1;
        }
        // `nil` ends the sequence, so it is checked on its own.
        assert_eq!(fast(&lua, &mlua::Value::Nil), Some(vec![cbor::NULL]));
        assert_eq!(count, 44);
    }

    #[test]
    fn gives_up_where_the_converter_fails_or_decides() {
        let lua = lua();
        let values: Table = lua
            .load(
                r#"
                local cyclic = {}
                cyclic.self = cyclic
                local deep = {}
                for _ = 1, 200 do deep = {deep} end
                local doc = nljson.decode('{"a": {"b": 1}}')
                local detached = doc.a
                doc.a = 5
                local padded = {}
                padded[2^21] = 1
                return {
                  print, coroutine.create(print), cyclic, deep, {[print] = 1},
                  {["\255"] = 1}, {[1] = 1, ["1"] = 2}, {[true] = 1, ["true"] = 2},
                  detached, {x = detached}, padded, {{{print}}},
                }
                "#,
            )
            .eval()
            .unwrap();
        for value in values.sequence_values::<mlua::Value>() {
            let value = value.unwrap();
            assert_eq!(fast(&lua, &value), None, "{value:?}");
        }
    }

    #[test]
    fn random_tables_encode_as_converted() {
        let lua = lua();
        let generate: mlua::Function = lua
            .load(
                r#"
                local random = math.random
                math.randomseed(5)
                local keys = { "a", "b", "cid", "é", "", 1, 2, 3, 5, 1.5, true, -1, 0, 2^33 }
                local function value(depth)
                  local kind = random(depth > 3 and 6 or 9)
                  if kind == 1 then return random(-5, 5)
                  elseif kind == 2 then return random() * 100
                  elseif kind == 3 then return ("s"):rep(random(0, 3))
                  elseif kind == 4 then return random(2) == 1
                  elseif kind == 5 then return "\255"
                  elseif kind == 6 then return nljson.decode('[1, {"k": "v"}]')
                  end
                  local t = {}
                  if random(2) == 1 then
                    for i = 1, random(0, 5) do t[i] = value(depth + 1) end
                    if random(3) == 1 then t[random(1, 9)] = value(depth + 1) end
                  else
                    for _ = 1, random(0, 5) do t[keys[random(#keys)]] = value(depth + 1) end
                  end
                  return t
                end
                return function() return value(0) end
                "#,
            )
            .eval()
            .unwrap();
        let mut written = 0;
        for _ in 0..3000 {
            let value: mlua::Value = generate.call(()).unwrap();
            if fast(&lua, &value).is_some() {
                written += 1;
            }
        }
        assert!(written > 2500, "{written}");
    }
}
