//! What an untagged scalar means: null, a boolean, an integer, a float or a string,
//! decided exactly as serde-saphyr 2.2's `deserialize_any` decides it for the tree
//! `yaml::parse_full` builds (YAML 1.1 booleans, YAML 1.2 integers with `0x`/`0o`/`0b`
//! and `_` separators, no legacy octal, non-finite floats refused). The differential
//! tests of `yaml` hold the two to the same answers; this module must not grow rules of
//! its own.
//!
//! Anything whose meaning is not a plain value here (a non-finite float, which
//! serde-saphyr refuses with its own message) is [`Resolved::Unsure`], and the caller
//! leaves the file to serde-saphyr.

/// The meaning of one scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    Int(i128),
    /// A float; the caller still widens integer literals beyond 64 bits (see
    /// `yaml::wide_integer`), as the serde path does.
    Float(f64),
    Str,
    /// Not decided here: serde-saphyr reads the file.
    Unsure,
}

/// What an untagged scalar of text `value` means; `plain` when it was written without
/// quotes and not as a block scalar (those are always strings).
pub(super) fn resolve(value: &str, plain: bool) -> Resolved {
    if !plain {
        return Resolved::Str;
    }
    if matches!(value, "" | "~" | "null" | "Null" | "NULL") {
        return Resolved::Null;
    }
    let t = trim(value);
    if let Some(b) = yaml11_bool(t) {
        return Resolved::Bool(b);
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    // Spellings serde-saphyr keeps as strings before any number parser sees them.
    let uppercase_radix = matches!(unsigned.as_bytes(), [b'0', b'X' | b'O' | b'B', ..]);
    let signed_nan = t.len() != unsigned.len() && is_nan_spelling(unsigned);
    if uppercase_radix || signed_nan {
        return Resolved::Str;
    }
    let int = if t.starts_with('-') {
        (!leading_zero_decimal(t))
            .then(|| integer(t))
            .flatten()
            .filter(|v| i64::try_from(*v).is_ok())
    } else {
        integer(t).filter(|v| u64::try_from(*v).is_ok())
    };
    if let Some(v) = int {
        return Resolved::Int(v);
    }
    match float(t, unsigned) {
        Some(f) if f.is_finite() => Resolved::Float(f),
        Some(_) => Resolved::Unsure,
        None => Resolved::Str,
    }
}

/// The ASCII padding serde-saphyr trims before converting a scalar.
fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\r', '\n'])
}

fn yaml11_bool(t: &str) -> Option<bool> {
    let is = |words: [&str; 4]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if is(["true", "yes", "y", "on"]) {
        Some(true)
    } else if is(["false", "no", "n", "off"]) {
        Some(false)
    } else {
        None
    }
}

fn is_nan_spelling(s: &str) -> bool {
    matches!(s, ".nan" | ".NaN" | ".NAN")
}

/// A decimal integer with a redundant leading zero (`0127`, `-01`).
fn leading_zero_decimal(t: &str) -> bool {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A YAML 1.2 integer (sign, optional lowercase radix prefix, digits with single `_`
/// between them) that fits in `i128`; the caller narrows it to the 64-bit visitor's range.
fn integer(t: &str) -> Option<i128> {
    let (negative, rest) = match t.strip_prefix('+') {
        Some(rest) => (false, rest),
        None => match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        },
    };
    let (radix, digits) = if let Some(d) = rest.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = rest.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = rest.strip_prefix("0b") {
        (2, d)
    } else {
        if rest.starts_with('0') && rest != "0" {
            return None;
        }
        (10, rest)
    };
    let magnitude = digits_value(digits, radix)?;
    if negative {
        if magnitude == i128::MAX as u128 + 1 {
            return Some(i128::MIN);
        }
        i128::try_from(magnitude).ok()?.checked_neg()
    } else {
        i128::try_from(magnitude).ok()
    }
}

/// The value of `digits` in `radix`; an `_` must sit between two digits.
fn digits_value(digits: &str, radix: u32) -> Option<u128> {
    let bytes = digits.as_bytes();
    let mut value: u128 = 0;
    let mut saw_digit = false;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let between =
                i > 0 && bytes[i - 1] != b'_' && bytes.get(i + 1).is_some_and(|n| *n != b'_');
            if !between {
                return None;
            }
            continue;
        }
        let digit = char::from(b).to_digit(16).filter(|d| *d < radix)?;
        value = value
            .checked_mul(u128::from(radix))?
            .checked_add(u128::from(digit))?;
        saw_digit = true;
    }
    saw_digit.then_some(value)
}

/// A float as serde-saphyr's typeless path reads it: YAML's `.inf`/`.nan` spellings, any
/// finite number Rust parses, and a numeral that overflows to infinity (`1e999`).
fn float(t: &str, unsigned: &str) -> Option<f64> {
    let negative = t.starts_with('-');
    if is_nan_spelling(unsigned) {
        return Some(f64::NAN);
    }
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let parsed = t.parse::<f64>().ok()?;
    let numeral = unsigned.as_bytes().first().is_some_and(u8::is_ascii_digit);
    (parsed.is_finite() || numeral).then_some(parsed)
}
