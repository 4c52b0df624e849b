//! Resource quantities (`resource.Quantity`) with apimachinery's parsing, rounding, arithmetic
//! and canonical serialization, as admission (LimitRanger, ResourceQuota) and the scheduler
//! need them.
//!
//! A quantity is held as a signed count of nano-units (10⁻⁹) in an `i128`, plus the
//! [`Format`] it was written in. Upstream keeps an arbitrary-precision decimal instead, but
//! every value it can produce from a parse is rounded up to a whole number of nano-units, so
//! nano-units lose nothing; `i128` bounds the magnitude at about 1.7·10²⁹ (upstream has no
//! bound for decimal quantities, and caps binary ones at 2⁶³−1 while parsing, as here).
//!
//! Upstream's rules, all kept here:
//! - Syntax: `<sign>? <digits> (. <digits>)? <suffix>`, the suffix one of `n u m "" k M G T P E`
//!   (powers of 1000), `Ki Mi Gi Ti Pi Ei` (powers of 1024), or `e<exp>`/`E<exp>`. The suffix
//!   decides the [`Format`].
//! - Anything finer than 1n rounds up (away from zero) to the next nano-unit.
//! - A binary quantity parsed with a magnitude above 2⁶³−1 is capped there; one whose magnitude
//!   is below 1 becomes [`Format::DecimalSI`].
//! - Serialization is canonical: the largest suffix that keeps an integer mantissa. A binary
//!   quantity is written with a power of 1024 only when its magnitude is at least 1024 and it is
//!   a whole number; otherwise it is written as a decimal one (`1500` stays `1500`, `1.5` is
//!   `1500m`).
//! - A parsed string already in canonical form is kept as it was written and written back
//!   verbatim (upstream's cached string), which is why `+1` is written back as `+1`; arithmetic
//!   drops it.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Upstream's `ErrFormatWrong`.
const ERR_FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Upstream's `ErrSuffix`.
const ERR_SUFFIX: &str = "unable to parse quantity's suffix";
/// Bosun's own error for magnitudes beyond the `i128` nano-unit range (upstream accepts them).
const ERR_RANGE: &str = "quantity is too large: its magnitude must be below 1.7e29";

/// Nano-units in one unit.
const NANOS_PER_UNIT: u128 = 1_000_000_000;
/// Nano-units in one milli-unit.
const NANOS_PER_MILLI: u128 = 1_000_000;
/// Upstream's `maxAllowed` for binary quantities (2⁶³−1), in nano-units.
const BINARY_CAP: u128 = (i64::MAX as u128) * NANOS_PER_UNIT;
/// The largest magnitude held, in nano-units.
const MAX_MAGNITUDE: u128 = i128::MAX as u128;

/// How a quantity is written: the three suffix families of upstream's `Format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Powers of 1000: `n u m "" k M G T P E` (e.g. `12M` = 12·10⁶).
    DecimalSI,
    /// Powers of 1024: `Ki Mi Gi Ti Pi Ei` (e.g. `12Mi` = 12·2²⁰).
    BinarySI,
    /// Exponent notation (e.g. `12e6`).
    DecimalExponent,
}

impl Format {
    /// Upstream's name for the format (`"DecimalSI"`, `"BinarySI"`, `"DecimalExponent"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DecimalSI => "DecimalSI",
            Format::BinarySI => "BinarySI",
            Format::DecimalExponent => "DecimalExponent",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quantity that could not be parsed; its text is upstream's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QuantityError(pub String);

impl QuantityError {
    fn new(message: &str) -> QuantityError {
        QuantityError(message.to_string())
    }
}

/// A fixed-point quantity with upstream's `resource.Quantity` semantics.
///
/// Equality, ordering and hashing are by value only, ignoring the format (upstream `Cmp`):
/// `1Gi == 1024Mi` and `1k == 1000`.
#[derive(Clone, Debug)]
pub struct Quantity {
    /// The value in nano-units (10⁻⁹).
    nanos: i128,
    /// The format used when writing the value.
    format: Format,
    /// The parsed text, kept when upstream would keep it (already canonical); cleared by
    /// arithmetic.
    text: Option<Box<str>>,
}

impl Quantity {
    /// Parses a quantity with upstream's syntax and rounding (`ParseQuantity`). Leading or
    /// trailing whitespace is an error, as upstream.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::new(ERR_FORMAT_WRONG));
        }
        if s == "0" {
            return Ok(Quantity {
                nanos: 0,
                format: Format::DecimalSI,
                text: Some(s.into()),
            });
        }
        let parts = split(s)?;
        let suffix =
            interpret_suffix(parts.suffix).ok_or_else(|| QuantityError::new(ERR_SUFFIX))?;
        let mut format = suffix.format;

        let digits: Vec<u8> = parts
            .num
            .bytes()
            .chain(parts.denom.bytes())
            .map(|b| b - b'0')
            .collect();
        let (exp10, exp2) = match suffix.base {
            Base::Ten => (i64::from(suffix.exponent) - parts.denom.len() as i64, 0),
            Base::Two => (-(parts.denom.len() as i64), suffix.exponent as u32),
        };
        let magnitude = nano_magnitude(digits, exp10, exp2);
        let magnitude = match (magnitude, format) {
            (Some(m), Format::BinarySI) => m.min(BINARY_CAP),
            (None, Format::BinarySI) => BINARY_CAP,
            (Some(m), _) => m,
            (None, _) => return Err(QuantityError::new(ERR_RANGE)),
        };
        if format == Format::BinarySI && magnitude > 0 && magnitude < NANOS_PER_UNIT {
            // Upstream: "This avoids rounding and hopefully confusion, too."
            format = Format::DecimalSI;
        }
        let nanos = if parts.positive {
            magnitude as i128
        } else {
            -(magnitude as i128)
        };
        let text = upstream_keeps_text(&parts, &suffix).then(|| s.into());
        Ok(Quantity {
            nanos,
            format,
            text,
        })
    }

    /// Zero, in [`Format::DecimalSI`].
    pub fn zero() -> Quantity {
        Quantity::from_nanos(0, Format::DecimalSI)
    }

    /// `milli`/1000 in the given format (upstream `NewMilliQuantity`).
    pub fn from_milli(milli: i64, format: Format) -> Quantity {
        Quantity::from_nanos(i128::from(milli) * NANOS_PER_MILLI as i128, format)
    }

    /// `value` in the given format (upstream `NewQuantity`).
    pub fn from_value(value: i64, format: Format) -> Quantity {
        Quantity::from_nanos(i128::from(value) * NANOS_PER_UNIT as i128, format)
    }

    /// `nanos`·10⁻⁹ in the given format (upstream `NewScaledQuantity(nanos, Nano)`).
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity {
            nanos,
            format,
            text: None,
        }
    }

    /// The value in nano-units (exact).
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format used when writing the value.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The value in milli-units, rounded away from zero and saturated to `i64` (upstream
    /// `MilliValue`).
    pub fn milli_value(&self) -> i64 {
        scaled(self.nanos, NANOS_PER_MILLI)
    }

    /// The value, rounded away from zero and saturated to `i64` (upstream `Value`).
    pub fn value(&self) -> i64 {
        scaled(self.nanos, NANOS_PER_UNIT)
    }

    /// Whether the value is zero.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// -1, 0 or 1 as the value is negative, zero or positive (upstream `Sign`).
    pub fn sign(&self) -> i32 {
        self.nanos.signum() as i32
    }

    /// Adds `other` (upstream `Add`): the format stays `self`'s, unless `self` is zero, when it
    /// becomes `other`'s. Saturates at the representable range.
    pub fn add(&mut self, other: &Quantity) {
        if self.is_zero() {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_add(other.nanos);
        self.text = None;
    }

    /// Subtracts `other` (upstream `Sub`), with [`Quantity::add`]'s format rule.
    pub fn sub(&mut self, other: &Quantity) {
        if self.is_zero() {
            self.format = other.format;
        }
        self.nanos = self.nanos.saturating_sub(other.nanos);
        self.text = None;
    }

    /// Negates the value in place (upstream `Neg`).
    pub fn neg(&mut self) {
        self.nanos = self.nanos.saturating_neg();
        self.text = None;
    }

    /// The value as a float, approximately (upstream `AsApproximateFloat64`).
    pub fn as_f64(&self) -> f64 {
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// Reads a quantity from JSON the way upstream's `UnmarshalJSON` does: a string (surrounding
    /// whitespace ignored) or a number; `null` is zero.
    pub fn from_json(v: &Value) -> Result<Quantity, QuantityError> {
        match v {
            Value::Null => Ok(Quantity::zero()),
            Value::String(s) => Quantity::parse(s.trim()),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Quantity::parse(&i.to_string())
                } else if let Some(u) = n.as_u64() {
                    Quantity::parse(&u.to_string())
                } else {
                    Quantity::parse(&float_text(n.as_f64().unwrap_or(0.0)))
                }
            }
            _ => Err(QuantityError::new(ERR_FORMAT_WRONG)),
        }
    }

    /// Writes the canonical form (upstream `CanonicalizeBytes`).
    fn write_canonical(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let magnitude = self.nanos.unsigned_abs();
        let mut format = self.format;
        if format == Format::BinarySI {
            if magnitude < 1024 * NANOS_PER_UNIT || !magnitude.is_multiple_of(NANOS_PER_UNIT) {
                // Between -1024 and 1024, or not a whole number: written as DecimalSI so that
                // nothing is rounded.
                format = Format::DecimalSI;
            } else {
                let mut units = magnitude / NANOS_PER_UNIT;
                let mut exponent = 0;
                while units >= 1024 && units.is_multiple_of(1024) {
                    units /= 1024;
                    exponent += 1;
                }
                const BINARY: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
                match BINARY.get(exponent) {
                    Some(suffix) => return write!(f, "{sign}{units}{suffix}"),
                    // Past Ei there is no binary suffix: write the exact decimal value.
                    None => format = Format::DecimalExponent,
                }
            }
        }
        let (mantissa, exponent) = decimal_canonical(magnitude);
        let suffix = match (format, exponent) {
            (Format::DecimalSI, -9) => "n",
            (Format::DecimalSI, -6) => "u",
            (Format::DecimalSI, -3) => "m",
            (_, 0) => "",
            (Format::DecimalSI, 3) => "k",
            (Format::DecimalSI, 6) => "M",
            (Format::DecimalSI, 9) => "G",
            (Format::DecimalSI, 12) => "T",
            (Format::DecimalSI, 15) => "P",
            (Format::DecimalSI, 18) => "E",
            // DecimalExponent, and DecimalSI past E: exponent notation keeps the magnitude.
            _ => return write!(f, "{sign}{mantissa}e{exponent}"),
        };
        write!(f, "{sign}{mantissa}{suffix}")
    }
}

impl Default for Quantity {
    fn default() -> Quantity {
        Quantity::zero()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => f.write_str(text),
            None => self.write_canonical(f),
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Quantity) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Quantity) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// Accepts what upstream's `UnmarshalJSON` accepts.
struct QuantityVisitor;

impl<'de> Visitor<'de> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a quantity string or number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
        Quantity::parse(v.trim()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
        Quantity::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
        Quantity::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
        Quantity::parse(&float_text(v)).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::zero())
    }

    fn visit_none<E: de::Error>(self) -> Result<Quantity, E> {
        Ok(Quantity::zero())
    }
}

/// A resource list: resource name → quantity (upstream `ResourceList`).
pub type ResourceList = BTreeMap<String, Quantity>;

/// Reads a resource list from a JSON object such as `{"cpu": "100m", "memory": "1Gi"}`;
/// `null` (a missing field) is an empty list. Values may be strings or numbers.
pub fn resource_list(v: &Value) -> Result<ResourceList, QuantityError> {
    match v {
        Value::Null => Ok(ResourceList::new()),
        Value::Object(map) => map
            .iter()
            .map(|(name, q)| Ok((name.clone(), Quantity::from_json(q)?)))
            .collect(),
        _ => Err(QuantityError::new("a resource list must be a JSON object")),
    }
}

/// A JSON number as text for the parser (Rust never writes a float in exponent notation).
fn float_text(v: f64) -> String {
    if v.is_finite() {
        v.to_string()
    } else {
        String::new()
    }
}

/// `nanos / per`, rounded away from zero, saturated to `i64` (upstream `ScaledValue`).
fn scaled(nanos: i128, per: u128) -> i64 {
    let magnitude = nanos.unsigned_abs();
    let mut whole = magnitude / per;
    if !magnitude.is_multiple_of(per) {
        whole += 1;
    }
    if nanos < 0 {
        i64::try_from(whole).map_or(i64::MIN, |w| -w)
    } else {
        i64::try_from(whole).unwrap_or(i64::MAX)
    }
}

/// A non-zero magnitude in nano-units as `mantissa · 10^exponent` with the exponent a multiple
/// of 3 and as large as possible (upstream `AsCanonicalBytes`).
fn decimal_canonical(magnitude: u128) -> (u128, i32) {
    let mut mantissa = magnitude;
    let mut exponent: i32 = -9;
    while mantissa >= 10 && mantissa.is_multiple_of(10) {
        mantissa /= 10;
        exponent += 1;
    }
    // Lower the exponent to a multiple of 3; the mantissa never exceeds the magnitude.
    let excess = exponent.rem_euclid(3);
    mantissa *= 10u128.pow(excess as u32);
    (mantissa, exponent - excess)
}

/// The number base of a suffix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Base {
    Ten,
    Two,
}

/// What a suffix means: `base^exponent`, in a format.
struct Suffix {
    base: Base,
    exponent: i32,
    format: Format,
}

/// A quantity string split as upstream's `parseQuantityString` splits it.
struct Parts<'a> {
    positive: bool,
    /// Integer digits without leading zeros; `"0"` when there are none.
    num: &'a str,
    /// Fraction digits, as written.
    denom: &'a str,
    suffix: &'a str,
}

/// Splits a quantity string into sign, integer digits, fraction digits and suffix.
fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
    let bytes = s.as_bytes();
    let end = bytes.len();
    let mut pos = 0;
    let mut positive = true;
    match bytes.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && bytes[pos] == b'0' {
        pos += 1;
    }
    if pos == end {
        return Ok(Parts {
            positive,
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_start = pos;
    while pos < end && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == num_start {
        "0"
    } else {
        &s[num_start..pos]
    };
    let mut denom = "";
    if pos < end && bytes[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < end && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[denom_start..pos];
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < end && (bytes[pos] == b'-' || bytes[pos] == b'+') {
        pos += 1;
    }
    while pos < end && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != end {
        return Err(QuantityError::new(ERR_FORMAT_WRONG));
    }
    Ok(Parts {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// Upstream's suffix table (`quantitySuffixer.interpret`).
fn interpret_suffix(suffix: &str) -> Option<Suffix> {
    let decimal = |exponent| Suffix {
        base: Base::Ten,
        exponent,
        format: Format::DecimalSI,
    };
    let binary = |exponent| Suffix {
        base: Base::Two,
        exponent,
        format: Format::BinarySI,
    };
    Some(match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))
                .filter(|rest| !rest.is_empty())?;
            // Exponents outside ±(2³¹−1) are rejected rather than truncated.
            let exponent = i64::from_str(rest).ok()?;
            if exponent.unsigned_abs() > i32::MAX as u64 {
                return None;
            }
            Suffix {
                base: Base::Ten,
                exponent: exponent as i32,
                format: Format::DecimalExponent,
            }
        }
    })
}

/// The magnitude of `digits · 2^exp2 · 10^exp10` in nano-units, rounded up to a whole
/// nano-unit; `None` if it exceeds `i128`.
fn nano_magnitude(mut digits: Vec<u8>, exp10: i64, exp2: u32) -> Option<u128> {
    let leading = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..leading);
    if digits.is_empty() {
        return Some(0);
    }
    let mut remaining = exp2;
    while remaining > 0 {
        let step = remaining.min(30);
        multiply_digits(&mut digits, 1u64 << step);
        remaining -= step;
    }
    let trailing = digits.iter().rev().take_while(|&&d| d == 0).count();
    digits.truncate(digits.len() - trailing);
    // Exponent relative to a nano-unit.
    let shift = exp10 + trailing as i64 + 9;
    let len = digits.len() as i64;
    if shift >= 0 {
        if len + shift > 40 {
            return None;
        }
        let mut value = digits_value(&digits)?;
        for _ in 0..shift {
            value = value.checked_mul(10)?;
        }
        (value <= MAX_MAGNITUDE).then_some(value)
    } else {
        // The last digit is non-zero and falls in the fraction, so the value rounds up.
        let whole = len + shift;
        if whole <= 0 {
            return Some(1);
        }
        if whole > 40 {
            return None;
        }
        let value = digits_value(&digits[..whole as usize])?.checked_add(1)?;
        (value <= MAX_MAGNITUDE).then_some(value)
    }
}

/// Multiplies a big-endian decimal digit string by `factor` in place.
fn multiply_digits(digits: &mut Vec<u8>, factor: u64) {
    let mut carry = 0u64;
    for d in digits.iter_mut().rev() {
        let v = u64::from(*d) * factor + carry;
        *d = (v % 10) as u8;
        carry = v / 10;
    }
    let mut head = Vec::new();
    while carry > 0 {
        head.push((carry % 10) as u8);
        carry /= 10;
    }
    head.reverse();
    digits.splice(0..0, head);
}

/// The value of a big-endian decimal digit string; `None` on overflow.
fn digits_value(digits: &[u8]) -> Option<u128> {
    digits.iter().try_fold(0u128, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u128::from(d))
    })
}

/// Whether upstream keeps the parsed text as the quantity's string: its int64 fast path with a
/// string already in canonical form.
fn upstream_keeps_text(parts: &Parts<'_>, suffix: &Suffix) -> bool {
    match suffix.base {
        Base::Ten => {
            let shifted = format!("{}{}", parts.num, parts.denom);
            let scale = i64::from(suffix.exponent) - parts.denom.len() as i64;
            shifted.len() <= 19
                && scale >= -9
                && shifted.parse::<i64>().is_ok()
                && scale % 3 == 0
                && !shifted.ends_with("000")
                && !shifted.starts_with('0')
        }
        Base::Two => {
            // Upstream's precision estimate: 15 - len(num) - exponent·3/10 - 1 >= 0.
            let precision = 14 - parts.num.len() as i64 - i64::from(suffix.exponent) * 3 / 10;
            if !parts.denom.is_empty() || precision < 0 {
                return false;
            }
            let Ok(value) = parts.num.parse::<i64>() else {
                return false;
            };
            value.checked_mul(1i64 << suffix.exponent).is_some() && value & 0x07 != 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn canonical_forms_match_upstream() {
        let table = [
            // zeros, whatever the suffix
            ("0", "0"),
            ("0n", "0"),
            ("0m", "0"),
            ("0Ki", "0"),
            ("0Ti", "0"),
            ("0.0", "0"),
            ("-0", "0"),
            ("-0.000m", "0"),
            ("0e10", "0"),
            // plain and fractional decimals
            ("1", "1"),
            ("1.0", "1"),
            ("100", "100"),
            ("1500", "1500"),
            ("1000", "1k"),
            ("2000", "2k"),
            ("0.5", "500m"),
            (".5", "500m"),
            ("1.5", "1500m"),
            ("9.01", "9010m"),
            ("0.001", "1m"),
            (".001", "1m"),
            ("0.00500", "5m"),
            // every decimal suffix
            ("5n", "5n"),
            ("1000n", "1u"),
            ("4u", "4u"),
            ("1000u", "1m"),
            ("3m", "3m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("8k", "8k"),
            ("50k", "50k"),
            ("1000k", "1M"),
            ("0.0005k", "500m"),
            ("7M", "7M"),
            ("1000M", "1G"),
            ("6G", "6G"),
            ("5T", "5T"),
            ("40.1T", "40100G"),
            ("2P", "2P"),
            ("2.5P", "2500T"),
            ("1E", "1E"),
            ("1.01E", "1010P"),
            ("12E", "12E"),
            ("10000E", "10e21"),
            ("123456789012345678901234567", "123456789012345678901234567"),
            // every binary suffix
            ("1Ki", "1Ki"),
            ("8Ki", "8Ki"),
            ("1024Ki", "1Mi"),
            ("7Mi", "7Mi"),
            ("1024Mi", "1Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("6Gi", "6Gi"),
            ("5Ti", "5Ti"),
            ("1024Ti", "1Pi"),
            ("4Pi", "4Pi"),
            ("3Ei", "3Ei"),
            // binary values that cannot be written with a binary suffix
            ("0.5Mi", "512Ki"),
            ("1.1Ki", "1126400m"),
            ("100.035Ki", "102435840m"),
            ("0.05Gi", "53687091200m"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
            // binary values capped at 2^63-1
            ("8Ei", "9223372036854775807"),
            ("9Ei", "9223372036854775807"),
            ("9223372036854775807Ki", "9223372036854775807"),
            // exponents
            ("1e3", "1e3"),
            ("1e14", "100e12"),
            ("1e20", "100e18"),
            ("1.2e3", "1200"),
            ("1.3E+6", "1300e3"),
            ("1.40e9", "1400e6"),
            ("1.5e-1", "150e-3"),
            ("0.5e0", "500e-3"),
            ("0.5e-2", "5e-3"),
            ("80e-3", "80e-3"),
            // precision: anything finer than 1n rounds up
            ("3.001n", "4n"),
            ("0.9n", "1n"),
            ("0.0000000001", "1n"),
            ("0.00000000050", "1n"),
            ("0.00000012345", "124n"),
            ("0.00000012354", "124n"),
            ("1.1E-9", "2e-9"),
            ("0.5e-9", "1e-9"),
            ("1e-100", "1e-9"),
            ("0.0000000000001", "1n"),
            // negatives
            ("-1", "-1"),
            ("-1000", "-1k"),
            ("-1.5", "-1500m"),
            ("-3.001n", "-4n"),
            ("-0.0000000000001", "-1n"),
            ("-1024Mi", "-1Gi"),
            ("-1.5Gi", "-1536Mi"),
            ("-0.5Mi", "-512Ki"),
            ("-1.1Ki", "-1126400m"),
            ("-9Ei", "-9223372036854775807"),
            ("-1.2e3", "-1200"),
        ];
        assert!(table.len() >= 40);
        for (input, expected) in table {
            assert_eq!(
                q(input).to_string(),
                expected,
                "canonical form of {input:?}"
            );
            // The canonical form parses back to the same value and writes itself back.
            let again = q(expected);
            assert_eq!(again, q(input), "round trip of {input:?}");
            assert_eq!(
                again.to_string(),
                expected,
                "re-canonicalising {expected:?}"
            );
        }
    }

    #[test]
    fn canonical_text_is_kept_verbatim_until_arithmetic() {
        let table = [
            ("+1", "+1", "1"),
            ("01", "01", "1"),
            ("1E3", "1E3", "1e3"),
            ("1e+3", "1e+3", "1e3"),
            ("10e0", "10e0", "10"),
            ("+1Ki", "+1Ki", "1Ki"),
            ("1.", "1.", "1"),
            ("1.G", "1.G", "1G"),
            // Upstream only checks the digits and the scale, so these count as canonical.
            ("100.035k", "100.035k", "100035"),
            ("10.035M", "10.035M", "10035k"),
            ("6.987654321G", "6.987654321G", "6987654321"),
            ("-2.500k", "-2.500k", "-2500"),
            ("100m", "100m", "100m"),
        ];
        for (input, kept, canonical) in table {
            let mut quantity = q(input);
            assert_eq!(quantity.to_string(), kept, "{input:?} as parsed");
            quantity.add(&Quantity::zero());
            assert_eq!(
                quantity.to_string(),
                canonical,
                "{input:?} after arithmetic"
            );
        }
        // Non-canonical text is not kept.
        assert_eq!(q("+1000").to_string(), "1k");
        assert_eq!(q("+1.5").to_string(), "1500m");
    }

    #[test]
    fn parsed_values_are_exact_to_the_nano() {
        let table: [(&str, i128); 16] = [
            ("1", 1_000_000_000),
            ("5n", 5),
            ("4u", 4_000),
            ("3m", 3_000_000),
            ("8k", 8_000_000_000_000),
            ("1Ki", 1024 * 1_000_000_000),
            ("7Mi", 7 * (1 << 20) * 1_000_000_000),
            ("3Ei", 3 * (1i128 << 60) * 1_000_000_000),
            ("100.035k", 100_035_000_000_000),
            ("0.0005k", 500_000_000),
            ("1.7E18", 17 * 10i128.pow(17) * 1_000_000_000),
            ("3.001n", 4),
            ("0.0000000005", 1),
            ("-0.0000000005", -1),
            ("0.025Ti", 27_487_790_694_400_000_000),
            ("-", 0),
        ];
        for (input, nanos) in table {
            assert_eq!(q(input).nanos(), nanos, "{input:?}");
        }
    }

    #[test]
    fn formats_follow_the_suffix() {
        let table = [
            ("0", Format::DecimalSI),
            ("1", Format::DecimalSI),
            ("1m", Format::DecimalSI),
            ("1k", Format::DecimalSI),
            ("0Ki", Format::BinarySI),
            ("1Ki", Format::BinarySI),
            ("0.5Mi", Format::BinarySI),
            ("1e3", Format::DecimalExponent),
            ("1E-3", Format::DecimalExponent),
            // A binary quantity below 1 becomes DecimalSI.
            ("0.000000000001Ki", Format::DecimalSI),
            ("-0.000000000001Ki", Format::DecimalSI),
        ];
        for (input, format) in table {
            assert_eq!(q(input).format(), format, "{input:?}");
        }
    }

    #[test]
    fn malformed_quantities_are_rejected_with_upstream_messages() {
        let format_wrong = [
            "",
            " 1",
            "1 ",
            "aoeu",
            "Non-Numeric",
            "1.1.M",
            "1+1.0M",
            "0.1am",
            "1Ki ",
        ];
        for input in format_wrong {
            let err = Quantity::parse(input).expect_err(input);
            assert_eq!(err.to_string(), ERR_FORMAT_WRONG, "{input:?}");
        }
        let bad_suffix = [
            "0.1mi",
            ".5i",
            "1i",
            "-3.01i",
            "-3.01e-",
            "1e",
            "1e+",
            "1K",
            "1ee5",
            "1-5",
            "1Kii",
            "--1",
            "1e4294967297",
            "1E2147483648",
            "1E-2147483648",
            "1e-9223372036854775808",
        ];
        for input in bad_suffix {
            let err = Quantity::parse(input).expect_err(input);
            assert_eq!(err.to_string(), ERR_SUFFIX, "{input:?}");
        }
        assert_eq!(
            Quantity::parse("aoeu").unwrap_err().to_string(),
            "quantities must match the regular expression \
             '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        // Exponents at the int32 bound are accepted; zero stays zero whatever the exponent.
        assert!(q("0e2147483647").is_zero());
        assert_eq!(q("1E-2147483647").to_string(), "1e-9");
    }

    #[test]
    fn out_of_range_decimal_quantities_are_rejected() {
        for input in [
            "2e29",
            "1e30",
            "-1e30",
            "1e2147483647",
            "1000000000000000000000000000000",
        ] {
            let err = Quantity::parse(input).expect_err(input);
            assert_eq!(err.to_string(), ERR_RANGE, "{input:?}");
        }
        assert_eq!(q("1e29").to_string(), "100e27");
        // Binary quantities are capped instead, as upstream.
        assert_eq!(
            q("1000000000000000000000000000000Ki").to_string(),
            "9223372036854775807"
        );
    }

    #[test]
    fn ordering_is_by_value_ignoring_format() {
        assert!(q("10000T") > q("100Gi"));
        assert!(q("100m") > q("50m"));
        assert!(q("50m") < q("100m"));
        assert!(q("-1") < q("0"));
        assert!(q("1n") > q("0"));
        assert_eq!(q("0"), q("0Ki"));
        assert_eq!(q("1Gi"), q("1024Mi"));
        assert_eq!(q("1k"), q("1000"));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("1.5"), q("1500m"));
        assert_eq!(q("1Gi").cmp(&q("1073741824")), Ordering::Equal);
        let mut list = [q("1Gi"), q("1"), q("-2"), q("500m"), q("1M")];
        list.sort();
        let sorted: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["-2", "500m", "1", "1M", "1Gi"]);
    }

    #[test]
    fn add_and_sub_keep_the_receivers_format_unless_it_is_zero() {
        // A zero receiver adopts the other's format, in either direction.
        for value in ["100m", "1Gi"] {
            let mut sum = q(value);
            sum.add(&q("0"));
            assert_eq!(sum.to_string(), value);
            let mut sum = q("0");
            sum.add(&q(value));
            assert_eq!(sum.to_string(), value);
            assert_eq!(sum.format(), q(value).format());

            let mut diff = q(value);
            diff.sub(&q("0"));
            assert_eq!(diff.to_string(), value);
            let mut diff = q("0");
            diff.sub(&q(value));
            assert_eq!(diff.to_string(), format!("-{value}"));
        }
        // Otherwise the receiver's format stays.
        let mut x = q("10");
        x.add(&Quantity::from_value(1, Format::BinarySI));
        assert_eq!(
            (x.to_string(), x.format()),
            ("11".to_string(), Format::DecimalSI)
        );
        let mut x = Quantity::from_value(10, Format::BinarySI);
        x.sub(&q("1"));
        assert_eq!((x.value(), x.format()), (9, Format::BinarySI));
        let mut x = q("1Gi");
        x.add(&q("512Mi"));
        assert_eq!(x.to_string(), "1536Mi");
        let mut x = q("1Ki");
        x.add(&q("1"));
        assert_eq!(x.to_string(), "1025");
        let mut x = q("1Gi");
        x.add(&q("0.5"));
        assert_eq!(x.to_string(), "1073741824500m");
        let mut x = q("1");
        x.sub(&q("1500m"));
        assert_eq!(x.to_string(), "-500m");
        let mut x = q("1");
        x.sub(&q("1"));
        assert!(x.is_zero());
        assert_eq!(x.to_string(), "0");
        // Arithmetic is not capped at 2^63-1: 4Ei + 4Ei is 8Ei.
        let mut x = q("4Ei");
        x.add(&q("4Ei"));
        assert_eq!(x.to_string(), "8Ei");
        assert_eq!(x.value(), i64::MAX);
    }

    #[test]
    fn binary_values_past_ei_are_written_in_decimal() {
        let mut x = Quantity::zero();
        let ei = q("1Ei");
        for _ in 0..1024 {
            x.add(&ei);
        }
        assert_eq!(x.format(), Format::BinarySI);
        assert_eq!(x.to_string(), "1180591620717411303424");
        assert_eq!(q(&x.to_string()), x);
        let three_ei_ki = 3i128 << 70;
        let mut x = Quantity::from_nanos(three_ei_ki * NANOS_PER_UNIT as i128, Format::BinarySI);
        assert_eq!(x.to_string(), three_ei_ki.to_string());
        x.neg();
        assert_eq!(x.to_string(), format!("-{three_ei_ki}"));
        // Below that, binary suffixes are used as long as the value divides.
        let x = Quantity::from_nanos(10i128.pow(20) * NANOS_PER_UNIT as i128, Format::BinarySI);
        assert_eq!(x.to_string(), "95367431640625Mi");
    }

    #[test]
    fn value_and_milli_value_round_away_from_zero() {
        let table = [
            ("0", 0, 0),
            ("1", 1, 1000),
            ("-1", -1, -1000),
            ("1500m", 2, 1500),
            ("-1500m", -2, -1500),
            ("0.0005", 1, 1),
            ("-0.0005", -1, -1),
            ("1n", 1, 1),
            ("-1n", -1, -1),
            (".484785E-1", 1, 49),
            ("-.484785E-1", -1, -49),
            ("9.5000000001Gi", 10200547329, 10200547328108),
            ("-9.5000000001Gi", -10200547329, -10200547328108),
            ("1.5Gi", 1610612736, 1610612736000),
            ("100m", 1, 100),
            ("1e20", i64::MAX, i64::MAX),
            ("-1e20", i64::MIN, i64::MIN),
            ("1e16", 10i64.pow(16), i64::MAX),
        ];
        for (input, value, milli) in table {
            let quantity = q(input);
            assert_eq!(quantity.value(), value, "value of {input:?}");
            assert_eq!(quantity.milli_value(), milli, "milli_value of {input:?}");
        }
    }

    #[test]
    fn constructors_match_upstream_new_quantity() {
        let milli = [
            (1, Format::DecimalSI, "1m"),
            (1000, Format::DecimalSI, "1"),
            (1234000, Format::DecimalSI, "1234"),
            (1024, Format::BinarySI, "1024m"),
            (1024 * 1024, Format::BinarySI, "1048576m"),
            (1000000, Format::DecimalExponent, "1e3"),
            (-1500, Format::DecimalSI, "-1500m"),
        ];
        for (value, format, expected) in milli {
            let quantity = Quantity::from_milli(value, format);
            assert_eq!(quantity.to_string(), expected, "from_milli({value})");
            assert_eq!(quantity.milli_value(), value);
        }
        let whole = [
            (1, Format::DecimalSI, "1"),
            (1000, Format::DecimalSI, "1k"),
            (1234000, Format::DecimalSI, "1234k"),
            (1024, Format::BinarySI, "1Ki"),
            (1024 * 1024, Format::BinarySI, "1Mi"),
            (1000000, Format::DecimalExponent, "1e6"),
            (5, Format::BinarySI, "5"),
            (1000, Format::BinarySI, "1k"),
            (1500, Format::BinarySI, "1500"),
            (2000, Format::BinarySI, "2000"),
            (-2000, Format::BinarySI, "-2000"),
            (i64::MAX, Format::DecimalSI, "9223372036854775807"),
        ];
        for (value, format, expected) in whole {
            let quantity = Quantity::from_value(value, format);
            assert_eq!(quantity.to_string(), expected, "from_value({value})");
            assert_eq!(quantity.value(), value);
            assert_eq!(quantity.format(), format);
        }
        assert!(Quantity::zero().is_zero());
        assert_eq!(Quantity::zero().format(), Format::DecimalSI);
        assert_eq!(Quantity::default(), Quantity::zero());
        assert_eq!("2Gi".parse::<Quantity>().unwrap(), q("2048Mi"));
    }

    #[test]
    fn floats_approximate_the_value() {
        assert_eq!(q("2Ki").as_f64(), 2048.0);
        assert_eq!(q("1.1Ki").as_f64(), 1126.4);
        assert_eq!(q("1Mi").as_f64(), 1.048576e6);
        assert_eq!(q("2Gi").as_f64(), 2.147483648e9);
        assert_eq!(q("-250m").as_f64(), -0.25);
        assert_eq!(q("0").as_f64(), 0.0);
    }

    #[test]
    fn serde_uses_the_canonical_string() {
        assert_eq!(serde_json::to_value(q("0.5")).unwrap(), json!("500m"));
        assert_eq!(serde_json::to_value(q("1024Mi")).unwrap(), json!("1Gi"));
        assert_eq!(serde_json::to_value(q("+1")).unwrap(), json!("+1"));
        let table = [
            (json!("100m"), "100m"),
            (json!(" 1"), "1"),
            (json!("1 "), "1"),
            (json!(1), "1"),
            (json!(-1), "-1"),
            (json!(1000), "1k"),
            (json!(1.5), "1500m"),
            (json!(0.1), "100m"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(null), "0"),
        ];
        for (input, expected) in table {
            let quantity: Quantity = serde_json::from_value(input.clone()).unwrap();
            assert_eq!(quantity.to_string(), expected, "{input}");
            assert_eq!(Quantity::from_json(&input).unwrap().to_string(), expected);
        }
        let err = serde_json::from_value::<Quantity>(json!("1i")).unwrap_err();
        assert_eq!(err.to_string(), ERR_SUFFIX);
        assert!(serde_json::from_value::<Quantity>(json!(true)).is_err());
        let back: Quantity =
            serde_json::from_str(&serde_json::to_string(&q("1.5Gi")).unwrap()).unwrap();
        assert_eq!(back, q("1536Mi"));
    }

    #[test]
    fn resource_lists_are_read_from_json_objects() {
        let list = resource_list(&json!({"cpu": "100m", "memory": "1Gi", "pods": 10})).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list["cpu"].milli_value(), 100);
        assert_eq!(list["memory"].value(), 1 << 30);
        assert_eq!(list["pods"].to_string(), "10");
        assert!(resource_list(&Value::Null).unwrap().is_empty());
        assert!(resource_list(&json!({})).unwrap().is_empty());
        let err = resource_list(&json!({"cpu": "1x"})).unwrap_err();
        assert_eq!(err.to_string(), ERR_FORMAT_WRONG);
        assert!(resource_list(&json!(["cpu"])).is_err());
        assert!(resource_list(&json!({"cpu": {}})).is_err());
    }
}
