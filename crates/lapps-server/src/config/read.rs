//! Typed reading of a `config::Value` tree: every type and range check, with diagnostics that
//! name the value's origin (the file, or the overriding variable) and its key path.

use config::{Map, Value, ValueKind};

use super::diagnostics::{Diagnostic, KeyPath, Report, quoted};
use super::schema::{self, Field};

/// Reads values of one document, reporting problems into a [`Report`].
pub(super) struct Reader<'r> {
    /// The document's name, for what has no origin of its own (defaults, merged tables).
    file: &'r str,
    report: &'r mut Report,
}

impl<'r> Reader<'r> {
    pub(super) fn new(file: &'r str, report: &'r mut Report) -> Self {
        Self { file, report }
    }

    /// The file or variable that `value` comes from.
    pub(super) fn source<'v>(&'v self, value: Option<&'v Value>) -> &'v str {
        value.and_then(Value::origin).unwrap_or(self.file)
    }

    pub(super) fn error(&mut self, value: Option<&Value>, path: &KeyPath, msg: impl Into<String>) {
        let source = self.source(value).to_owned();
        self.report.error(&source, path, msg);
    }

    pub(super) fn warning(
        &mut self,
        value: Option<&Value>,
        path: &KeyPath,
        msg: impl Into<String>,
    ) {
        let source = self.source(value).to_owned();
        self.report.warning(&source, path, msg);
    }

    fn mismatch(&mut self, value: &Value, path: &KeyPath, expected: &str) {
        self.error(
            Some(value),
            path,
            format!("expected {expected}, found {}", found(value)),
        );
    }

    /// The entries of the table `value` that `fields` knows, skipping `null`s; the others are
    /// reported as unknown keys.
    pub(super) fn entries<'v>(
        &mut self,
        value: &'v Value,
        path: &KeyPath,
        fields: &'static [Field],
    ) -> Vec<(&'static str, &'v Value, KeyPath)> {
        let Some(table) = self.table(value, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in table {
            if matches!(value.kind, ValueKind::Nil) {
                continue;
            }
            match schema::field(fields, key) {
                Some(field) => out.push((field.name, value, path.key(key))),
                None => self.unknown(value, &path.key(key)),
            }
        }
        out
    }

    pub(super) fn unknown(&mut self, value: &Value, path: &KeyPath) {
        let source = self.source(Some(value)).to_owned();
        self.report
            .push(Diagnostic::unknown_key(&source, path.to_string()));
    }

    /// `value` as a table (a JSON object).
    pub(super) fn table<'v>(
        &mut self,
        value: &'v Value,
        path: &KeyPath,
    ) -> Option<&'v Map<String, Value>> {
        if let ValueKind::Table(table) = &value.kind {
            Some(table)
        } else {
            self.mismatch(value, path, "an object");
            None
        }
    }

    /// `value` as an integer within `range`: `4` and `4.0` are integers, `4.5` is not.
    pub(super) fn uint(&mut self, value: &Value, path: &KeyPath, range: Range) -> Option<u64> {
        let n = integer(value);
        match n {
            Some(n) if n >= i128::from(range.min) && n <= i128::from(range.max) => {
                u64::try_from(n).ok()
            }
            Some(n) if range.open && n > i128::from(range.max) => {
                let expected = format!("{} no larger than {}", range.describe(), range.max);
                self.mismatch(value, path, &expected);
                None
            }
            _ => {
                self.mismatch(value, path, &range.describe());
                None
            }
        }
    }

    /// [`Reader::uint`] as a `usize`.
    pub(super) fn usize(&mut self, value: &Value, path: &KeyPath, min: u64) -> Option<usize> {
        let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        self.uint(value, path, Range::open(min, max))
            .and_then(|n| usize::try_from(n).ok())
    }

    pub(super) fn boolean(&mut self, value: &Value, path: &KeyPath) -> Option<bool> {
        if let ValueKind::Boolean(b) = value.kind {
            Some(b)
        } else {
            self.mismatch(value, path, "a boolean");
            None
        }
    }

    pub(super) fn string<'v>(&mut self, value: &'v Value, path: &KeyPath) -> Option<&'v str> {
        if let ValueKind::String(s) = &value.kind {
            Some(s)
        } else {
            self.mismatch(value, path, "a string");
            None
        }
    }

    /// A finite number greater than zero.
    pub(super) fn positive_number(&mut self, value: &Value, path: &KeyPath) -> Option<f64> {
        #[expect(
            clippy::cast_precision_loss,
            reason = "a weight is a float; the nearest double of a huge integer is fine"
        )]
        let n = match value.kind {
            ValueKind::Float(f) => Some(f),
            ValueKind::I64(i) => Some(i as f64),
            ValueKind::U64(u) => Some(u as f64),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n > 0.0 => Some(n),
            _ => {
                self.mismatch(value, path, "a number > 0");
                None
            }
        }
    }

    /// `value` as an array.
    pub(super) fn array<'v>(&mut self, value: &'v Value, path: &KeyPath) -> Option<&'v [Value]> {
        if let ValueKind::Array(items) = &value.kind {
            Some(items)
        } else {
            self.mismatch(value, path, "an array");
            None
        }
    }

    /// `value` as an array of strings, each with its path; `None` if any item is not a string.
    pub(super) fn strings<'v>(
        &mut self,
        value: &'v Value,
        path: &KeyPath,
    ) -> Option<Vec<(&'v str, &'v Value, KeyPath)>> {
        let items = self.array(value, path)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = path.index(i);
            match self.string(item, &item_path) {
                Some(s) => out.push((s, item, item_path)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// A string that is one of `names`, mapped by `parse`.
    pub(super) fn name<T>(
        &mut self,
        value: &Value,
        path: &KeyPath,
        names: &[&str],
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        if let Some(parsed) = string_of(value).and_then(&parse) {
            return Some(parsed);
        }
        let expected = match names {
            [a, b] => format!("{} or {}", quoted(a), quoted(b)),
            _ => format!(
                "one of {}",
                names
                    .iter()
                    .map(|n| quoted(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.mismatch(value, path, &expected);
        None
    }
}

fn string_of(value: &Value) -> Option<&str> {
    match &value.kind {
        ValueKind::String(s) => Some(s),
        _ => None,
    }
}

/// The accepted range of an integer key.
#[derive(Clone, Copy, Debug)]
pub(super) struct Range {
    min: u64,
    max: u64,
    /// `max` is the limit of the Rust type, not a documented bound of the key.
    open: bool,
}

impl Range {
    /// `min` or more, up to the type's limit `max`.
    pub(super) const fn open(min: u64, max: u64) -> Self {
        Self {
            min,
            max,
            open: true,
        }
    }

    /// From `min` to `max`, both documented bounds.
    pub(super) const fn between(min: u64, max: u64) -> Self {
        Self {
            min,
            max,
            open: false,
        }
    }

    fn describe(self) -> String {
        match (self.min, self.open) {
            (0, true) => "a non-negative integer".to_owned(),
            (min, true) => format!("an integer >= {min}"),
            (min, false) => format!("an integer from {min} to {}", self.max),
        }
    }
}

/// The integral value of a number: `4` or `4.0`, not `4.5`.
pub(super) fn integer(value: &Value) -> Option<i128> {
    match value.kind {
        ValueKind::I64(i) => Some(i128::from(i)),
        ValueKind::U64(u) => Some(i128::from(u)),
        ValueKind::I128(i) => Some(i),
        ValueKind::U128(u) => i128::try_from(u).ok(),
        ValueKind::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e30 =>
        {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "integral and below 1e30, so it fits an i128 exactly"
            )]
            Some(f as i128)
        }
        _ => None,
    }
}

/// How messages show a value that has the wrong type or range.
pub(super) fn found(value: &Value) -> String {
    match &value.kind {
        ValueKind::Nil => "null".to_owned(),
        ValueKind::Boolean(b) => b.to_string(),
        ValueKind::I64(i) => i.to_string(),
        ValueKind::I128(i) => i.to_string(),
        ValueKind::U64(u) => u.to_string(),
        ValueKind::U128(u) => u.to_string(),
        ValueKind::Float(f) => format!("{f:?}"),
        ValueKind::String(s) => quoted(s),
        ValueKind::Table(_) => "an object".to_owned(),
        ValueKind::Array(_) => "an array".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_uint(kind: ValueKind, range: Range) -> Result<u64, String> {
        let mut report = Report::default();
        let value = Value::new(Some(&"t.json".to_owned()), kind);
        let got = Reader::new("t.json", &mut report).uint(&value, &KeyPath::root().key("k"), range);
        got.ok_or_else(|| report.finish().unwrap_err().to_string())
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        let r = Range::open(0, u64::from(u32::MAX));
        assert_eq!(read_uint(ValueKind::I64(4), r), Ok(4));
        assert_eq!(read_uint(ValueKind::Float(4.0), r), Ok(4));
        assert_eq!(
            read_uint(ValueKind::Float(4.5), r),
            Err("t.json: k: expected a non-negative integer, found 4.5".to_owned())
        );
        assert_eq!(
            read_uint(ValueKind::I64(-1), r),
            Err("t.json: k: expected a non-negative integer, found -1".to_owned())
        );
        assert_eq!(
            read_uint(ValueKind::I64(5_000_000_000), r),
            Err(
                "t.json: k: expected a non-negative integer no larger than 4294967295, \
                 found 5000000000"
                    .to_owned()
            )
        );
        assert_eq!(
            read_uint(ValueKind::Float(f64::NAN), r),
            Err("t.json: k: expected a non-negative integer, found NaN".to_owned())
        );
        assert_eq!(
            read_uint(ValueKind::String("4".into()), Range::between(1, 9)),
            Err(r#"t.json: k: expected an integer from 1 to 9, found "4""#.to_owned())
        );
        assert_eq!(
            read_uint(ValueKind::I64(0), Range::open(1, 99)),
            Err("t.json: k: expected an integer >= 1, found 0".to_owned())
        );
    }
}
