//! [`Decimal`]: an exact decimal number as a venue sends it, parsed once per price or quantity.
//!
//! A value is `mantissa × 10^-scale` with an `i128` mantissa and a `u8` scale (the number of
//! digits after the point). It is `Copy`, never allocates, and keeps the scale it was sent with,
//! so `"16848.51000000"` prints back as `"16848.51000000"`; equality, ordering and hashing are by
//! value, so `1.50 == 1.5`.
//!
//! Invariants:
//! - `scale() <= MAX_SCALE` for every value ([`Decimal::new`] enforces it).
//! - A parsed value has at most [`Decimal::MAX_DIGITS`] significant digits, so `|mantissa| <
//!   10^38`; a value built by [`Decimal::new`] may use the whole `i128` range, and every method
//!   handles that range without overflow.
//!
//! # Accepted text
//!
//! The grammar is JSON's number grammar with leading zeros also allowed:
//!
//! ```text
//! decimal  = ["-"] digits ["." digits] [("e" | "E") ["+" | "-"] digits]
//! digits   = 1*("0".."9")
//! ```
//!
//! Why this grammar (see `PROTOCOLS.md`): Binance, Bybit, OKX and Coinbase send prices and
//! quantities as JSON strings in plain notation (`"16848.51000000"`, `"0.00100000"`, `"8477"`),
//! and signed values occur in ticker fields (`"-0.158315"`). Kraken v2 sends them as JSON
//! *numbers* (`0.5657`, `40.0`), and a JSON number may be written with an exponent (`1e-8`,
//! `1.5E+3`) — a serializer printing floats shortest-first does so for small values — so
//! exponents are accepted to cover every number a venue can send. A leading `+`, a bare `.5` or
//! `5.`, whitespace, `NaN`/`inf` and digit separators are not numbers in JSON, no venue sends
//! them, and they are rejected: an input outside the grammar is far more likely a parsing bug
//! upstream than a price.
//!
//! Limits: at most 38 significant digits (leading zeros do not count; trailing zeros after the
//! point do, because they are kept), and a scale of at most 38 after applying any exponent.
//! Venues send at most about 20 significant digits and 18 decimals.
//!
//! [`Display`](fmt::Display) prints plain notation at the kept scale. It reproduces the input
//! byte for byte when the input is *canonical*: no exponent, no superfluous leading zero
//! (`"0.5"`, not `"00.5"`), and not a negative zero (`"-0.00"` parses to zero and prints
//! `"0.00"`; the sign of zero is not kept). Every other input prints as the same value, so
//! Python's `Decimal(str(d))` equals the decimal the venue sent.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// An exact decimal number: `mantissa × 10^-scale`, with the scale it was sent with.
///
/// Equality, ordering and hashing are by value: `Decimal::parse("1.50")` equals
/// `Decimal::parse("1.5")` and hashes the same, but [`Display`](fmt::Display) prints each as
/// sent. See the [module documentation](self) for the accepted text.
#[derive(Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u8,
}

/// The text given to [`Decimal::parse`] is not a decimal it accepts.
///
/// Each variant names the input (lossily decoded as UTF-8, cut after 64 bytes with `…`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// The text does not follow the grammar; `at` is the byte offset where it stops doing so.
    #[error("invalid decimal {input:?}: {reason} at byte {at}")]
    Syntax {
        /// The input, as described on the type.
        input: String,
        /// Byte offset of the first byte that does not fit (the length if the text ended early).
        at: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// The value needs more than [`Decimal::MAX_DIGITS`] significant digits.
    #[error("decimal {input:?} has more than {} significant digits", Decimal::MAX_DIGITS)]
    TooManyDigits {
        /// The input, as described on the type.
        input: String,
    },
    /// The value needs more than [`Decimal::MAX_SCALE`] digits after the point.
    #[error("decimal {input:?} has more than {} digits after the point", Decimal::MAX_SCALE)]
    ScaleTooLarge {
        /// The input, as described on the type.
        input: String,
    },
}

/// `10^n` for `n` in `0..=38`; `10^38` is the largest power of ten an `i128` holds.
const POW10: [i128; 39] = {
    let mut table = [1_i128; 39];
    let mut n = 1;
    while n < table.len() {
        table[n] = table[n - 1] * 10;
        n += 1;
    }
    table
};

/// `10^n` for `n` in `0..=22`: the powers of ten an `f64` holds exactly.
const POW10_F64: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
    1e19, 1e20, 1e21, 1e22,
];

/// Bytes of the longest unsigned plain rendering: 39 digits (the width of `i128::MIN`) and a
/// point, or `0.` and 38 fraction digits.
const PLAIN_MAX_BYTES: usize = 48;

/// Room for [`Decimal::plain`]: a sign and the longest unsigned plain rendering.
#[derive(Debug)]
pub struct PlainText([u8; PLAIN_MAX_BYTES + 1]);

impl Default for PlainText {
    fn default() -> Self {
        Self([0; PLAIN_MAX_BYTES + 1])
    }
}

/// How much of an invalid input an error keeps.
const ERROR_INPUT_MAX_BYTES: usize = 64;

impl Decimal {
    /// Zero, with scale 0.
    pub const ZERO: Self = Self { mantissa: 0, scale: 0 };

    /// The most significant digits [`parse`](Self::parse) accepts: every 38-digit integer fits
    /// an `i128`.
    pub const MAX_DIGITS: u32 = 38;

    /// The largest scale (digits after the point) a `Decimal` has.
    pub const MAX_SCALE: u8 = 38;

    /// `mantissa × 10^-scale`, keeping `scale` as given (`new(150, 2)` prints `1.50`).
    ///
    /// # Panics
    ///
    /// If `scale` exceeds [`MAX_SCALE`](Self::MAX_SCALE).
    #[must_use]
    #[inline]
    pub const fn new(mantissa: i128, scale: u8) -> Self {
        assert!(scale <= Self::MAX_SCALE, "Decimal scale exceeds MAX_SCALE (38)");
        Self { mantissa, scale }
    }

    /// Parses a decimal in one pass over the bytes, without allocating or using floats.
    ///
    /// Accepts `&str`, `&[u8]` and byte-string literals; the grammar and limits are in the
    /// [module documentation](self). The scale is the number of digits after the point minus
    /// the exponent, or 0 if that is negative (`"1.5E+3"` is `1500`, `"1e-8"` is `0.00000001`).
    ///
    /// # Errors
    ///
    /// [`DecimalError::Syntax`] if the text is outside the grammar (empty, `"."`, `"1.2.3"`,
    /// `" 1"`, `"+1"`, `"NaN"`, …); [`DecimalError::TooManyDigits`] beyond
    /// [`MAX_DIGITS`](Self::MAX_DIGITS) significant digits; [`DecimalError::ScaleTooLarge`] if
    /// the scale would exceed [`MAX_SCALE`](Self::MAX_SCALE).
    #[inline]
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Self, DecimalError> {
        parse_bytes(input.as_ref())
    }

    /// The integer `m` such that the value is `m × 10^-scale`.
    #[must_use]
    #[inline]
    pub const fn mantissa(self) -> i128 {
        self.mantissa
    }

    /// The number of digits after the point, as sent (trailing zeros included).
    #[must_use]
    #[inline]
    pub const fn scale(self) -> u8 {
        self.scale
    }

    /// Whether the value is zero, at any scale.
    #[must_use]
    #[inline]
    pub const fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// Whether the value is below zero.
    #[must_use]
    #[inline]
    pub const fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The same value at the smallest scale: trailing zeros after the point removed
    /// (`16848.51000000` → `16848.51`, `5.000` → `5`, `0.00` → `0`).
    #[must_use]
    pub fn normalized(self) -> Self {
        let (mut mantissa, mut scale) = (self.mantissa, self.scale);
        if mantissa == 0 {
            return Self::ZERO;
        }
        if let Ok(mut small) = i64::try_from(mantissa) {
            // 64-bit division is several times cheaper than 128-bit; most values fit.
            while scale > 0 && small % 10 == 0 {
                small /= 10;
                scale -= 1;
            }
            mantissa = i128::from(small);
        } else {
            while scale > 0 && mantissa % 10 == 0 {
                mantissa /= 10;
                scale -= 1;
            }
        }
        Self { mantissa, scale }
    }

    /// The same value at `scale` digits after the point, if that is exact: `None` if `scale`
    /// exceeds [`MAX_SCALE`](Self::MAX_SCALE), if the mantissa would overflow an `i128`, or if
    /// lowering the scale would drop a non-zero digit (`1.25` at scale 1). Never rounds.
    #[must_use]
    pub fn checked_rescale(self, scale: u8) -> Option<Self> {
        if scale > Self::MAX_SCALE {
            return None;
        }
        let mantissa = match scale.cmp(&self.scale) {
            Ordering::Equal => self.mantissa,
            Ordering::Greater => self.mantissa.checked_mul(POW10[usize::from(scale - self.scale)])?,
            Ordering::Less => {
                let divisor = POW10[usize::from(self.scale - scale)];
                if self.mantissa % divisor != 0 {
                    return None;
                }
                self.mantissa / divisor
            }
        };
        Some(Self { mantissa, scale })
    }

    /// `self + other`, exact, at the larger of the two scales; `None` if the result does not
    /// fit (`1.25 + 0.5` is `1.75`).
    #[must_use]
    pub fn checked_add(self, other: Self) -> Option<Self> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.checked_rescale(scale)?, other.checked_rescale(scale)?);
        Some(Self { mantissa: a.mantissa.checked_add(b.mantissa)?, scale })
    }

    /// `self − other`, exact, at the larger of the two scales; `None` if the result does not
    /// fit (`1.25 − 0.5` is `0.75`; `100 − 0.001` is `99.999`).
    #[must_use]
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.checked_rescale(scale)?, other.checked_rescale(scale)?);
        Some(Self { mantissa: a.mantissa.checked_sub(b.mantissa)?, scale })
    }

    /// The nearest `f64`, correctly rounded (ties to even): the same `f64` as
    /// `str::parse::<f64>` and Python's `float()` give for the text this value was parsed from.
    ///
    /// Fast when the mantissa is below 2^53 and the scale at most 22 (one exact division, which
    /// covers venue prices and quantities); otherwise it formats the value on the stack and uses
    /// the standard library's correctly rounded parser. Values beyond `f64` range cannot occur
    /// (`|value| < 2^127`). Zero is `+0.0`.
    #[must_use]
    pub fn to_f64(self) -> f64 {
        const EXACT_MANTISSA_BOUND: u128 = 1 << f64::MANTISSA_DIGITS;
        if self.mantissa.unsigned_abs() <= EXACT_MANTISSA_BOUND && usize::from(self.scale) < POW10_F64.len() {
            #[expect(clippy::cast_precision_loss, reason = "|mantissa| <= 2^53 converts exactly")]
            let mantissa = self.mantissa as f64;
            // Both operands are exact, and IEEE division rounds the exact quotient once.
            return mantissa / POW10_F64[usize::from(self.scale)];
        }
        let mut buf = [0_u8; PLAIN_MAX_BYTES];
        // The text is always a valid float literal; parsing is sign-symmetric.
        let magnitude: f64 = self.write_unsigned(&mut buf).parse().unwrap_or(f64::NAN);
        if self.mantissa < 0 { -magnitude } else { magnitude }
    }

    /// Writes the magnitude in plain notation (digits, point at `scale`) into `buf` and
    /// returns it.
    /// The plain text [`Display`](fmt::Display) prints (`-0.0015`), written into `buf` without
    /// the formatting machinery: for checksums that hash many prices per update.
    ///
    /// # Panics
    ///
    /// Never: `buf` is one byte (the sign) longer than the longest unsigned rendering.
    #[must_use]
    pub fn plain(self, buf: &mut PlainText) -> &str {
        let (sign, rest) = buf.0.split_at_mut(1);
        let rest: &mut [u8; PLAIN_MAX_BYTES] = rest.try_into().expect("PlainText is one byte longer");
        let len = self.write_unsigned(rest).len();
        if self.mantissa < 0 {
            sign[0] = b'-';
            std::str::from_utf8(&buf.0[..=len]).unwrap_or_default()
        } else {
            std::str::from_utf8(&buf.0[1..=len]).unwrap_or_default()
        }
    }

    fn write_unsigned(self, buf: &mut [u8; PLAIN_MAX_BYTES]) -> &str {
        let mut digits = [0_u8; 40];
        let first = write_digits(self.mantissa.unsigned_abs(), &mut digits);
        let digits = &digits[first..];
        let scale = usize::from(self.scale);

        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            buf[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        if scale == 0 {
            put(digits);
        } else if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            put(int);
            put(b".");
            put(frac);
        } else {
            put(b"0.");
            for _ in digits.len()..scale {
                put(b"0");
            }
            put(digits);
        }
        std::str::from_utf8(&buf[..len]).unwrap_or_default()
    }
}

/// Writes the decimal digits of `n` at the end of `out` and returns the index of the first.
fn write_digits(mut n: u128, out: &mut [u8; 40]) -> usize {
    let mut i = out.len();
    // 128-bit division is slow; only values beyond u64 take it, for their top digits.
    while n > u128::from(u64::MAX) {
        i -= 1;
        out[i] = b'0' + digit(n % 10);
        n /= 10;
    }
    let mut small = u64::try_from(n).unwrap_or_default();
    loop {
        i -= 1;
        out[i] = b'0' + digit(u128::from(small % 10));
        small /= 10;
        if small == 0 {
            return i;
        }
    }
}

#[expect(clippy::cast_possible_truncation, reason = "callers pass a remainder of division by 10")]
const fn digit(n: u128) -> u8 {
    n as u8
}

/// The significant digits of a mantissa, accumulated in a `u64` while they fit (19 digits) and
/// in a `u128` beyond: 64-bit multiply-adds are cheaper, and most prices fit.
struct Digits {
    small: u64,
    wide: u128,
    /// Significant digits so far (those after the first non-zero one, inclusive).
    count: u32,
}

impl Digits {
    const SMALL_MAX: u32 = 19;

    /// Appends one digit (`0..=9`); false if that makes more than `MAX_DIGITS`.
    #[inline]
    fn push(&mut self, digit: u8) -> bool {
        if self.count < Self::SMALL_MAX {
            self.small = self.small * 10 + u64::from(digit);
            self.count += u32::from(self.small != 0);
            true
        } else {
            self.push_wide(digit)
        }
    }

    #[cold]
    fn push_wide(&mut self, digit: u8) -> bool {
        if self.count == Decimal::MAX_DIGITS {
            return false;
        }
        if self.count == Self::SMALL_MAX {
            self.wide = u128::from(self.small);
        }
        self.wide = self.wide * 10 + u128::from(digit);
        self.count += 1;
        true
    }

    fn value(&self) -> u128 {
        if self.count <= Self::SMALL_MAX { u128::from(self.small) } else { self.wide }
    }
}

fn parse_bytes(s: &[u8]) -> Result<Decimal, DecimalError> {
    let negative = s.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut digits = Digits { small: 0, wide: 0, count: 0 };

    let int_start = i;
    while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9) {
        if !digits.push(d) {
            return Err(DecimalError::too_many_digits(s));
        }
        i += 1;
    }
    if i == int_start {
        return Err(DecimalError::syntax(s, i, "expected a digit"));
    }

    let mut fraction_len = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            if !digits.push(d) {
                return Err(DecimalError::too_many_digits(s));
            }
            i += 1;
        }
        fraction_len = i - frac_start;
        if fraction_len == 0 {
            return Err(DecimalError::syntax(s, i, "expected a digit after '.'"));
        }
    }

    let mut exponent: i64 = 0;
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        let exponent_negative = s.get(i) == Some(&b'-');
        if let Some(b'-' | b'+') = s.get(i) {
            i += 1;
        }
        let exp_start = i;
        while let Some(d) = s.get(i).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9) {
            // Saturating: an exponent near i64::MAX is out of range however many digits precede.
            exponent = exponent.saturating_mul(10).saturating_add(i64::from(d));
            i += 1;
        }
        if i == exp_start {
            return Err(DecimalError::syntax(s, i, "expected a digit in the exponent"));
        }
        if exponent_negative {
            exponent = -exponent;
        }
    }

    if i != s.len() {
        return Err(DecimalError::syntax(s, i, "unexpected byte"));
    }
    finish(s, negative, &digits, fraction_len, exponent)
}

/// Applies the exponent and sign to the accumulated digits.
fn finish(
    s: &[u8],
    negative: bool,
    digits: &Digits,
    fraction_len: usize,
    exponent: i64,
) -> Result<Decimal, DecimalError> {
    // fraction_len <= s.len() <= isize::MAX, so the conversion cannot fail.
    let scale = i64::try_from(fraction_len).unwrap_or(i64::MAX).saturating_sub(exponent);
    let mut magnitude = digits.value();
    let scale = if scale < 0 {
        if magnitude != 0 {
            let shift = -scale;
            if shift.saturating_add(i64::from(digits.count)) > i64::from(Decimal::MAX_DIGITS) {
                return Err(DecimalError::too_many_digits(s));
            }
            // count + shift <= 38 digits, so the product is below 10^38.
            magnitude *= POW10[usize::try_from(shift).unwrap_or_default()].unsigned_abs();
        }
        0
    } else {
        match u8::try_from(scale) {
            Ok(scale) if scale <= Decimal::MAX_SCALE => scale,
            _ => return Err(DecimalError::scale_too_large(s)),
        }
    };
    // magnitude < 10^38 < i128::MAX.
    let magnitude = i128::try_from(magnitude).unwrap_or(i128::MAX);
    Ok(Decimal { mantissa: if negative { -magnitude } else { magnitude }, scale })
}

impl DecimalError {
    #[cold]
    #[inline(never)]
    fn syntax(input: &[u8], at: usize, reason: &'static str) -> Self {
        Self::Syntax { input: describe_input(input), at, reason }
    }

    #[cold]
    #[inline(never)]
    fn too_many_digits(input: &[u8]) -> Self {
        Self::TooManyDigits { input: describe_input(input) }
    }

    #[cold]
    #[inline(never)]
    fn scale_too_large(input: &[u8]) -> Self {
        Self::ScaleTooLarge { input: describe_input(input) }
    }
}

fn describe_input(input: &[u8]) -> String {
    if input.len() <= ERROR_INPUT_MAX_BYTES {
        String::from_utf8_lossy(input).into_owned()
    } else {
        let mut text = String::from_utf8_lossy(&input[..ERROR_INPUT_MAX_BYTES]).into_owned();
        text.push('…');
        text
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    /// Same as [`Decimal::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Default for Decimal {
    /// [`Decimal::ZERO`].
    fn default() -> Self {
        Self::ZERO
    }
}

impl fmt::Display for Decimal {
    /// Plain notation at the kept scale (`16848.51000000`, `0.00000001`, `-5`). Width, fill,
    /// alignment, `+` and `0` behave as for integers; precision is ignored (it would otherwise
    /// cut digits: use [`Decimal::checked_rescale`] to change the scale).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0_u8; PLAIN_MAX_BYTES];
        f.pad_integral(self.mantissa >= 0, "", self.write_unsigned(&mut buf))
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    /// By value, at any scales, without overflow.
    fn cmp(&self, other: &Self) -> Ordering {
        match self.scale.cmp(&other.scale) {
            Ordering::Equal => self.mantissa.cmp(&other.mantissa),
            Ordering::Less => cmp_scaled_up(self.mantissa, other.scale - self.scale, other.mantissa),
            Ordering::Greater => {
                cmp_scaled_up(other.mantissa, self.scale - other.scale, self.mantissa).reverse()
            }
        }
    }
}

/// Compares `a × 10^shift` with `b`. When the product overflows, its magnitude exceeds every
/// `i128`, so its sign alone decides (and `a` is not zero, or it would not overflow).
fn cmp_scaled_up(a: i128, shift: u8, b: i128) -> Ordering {
    match a.checked_mul(POW10[usize::from(shift)]) {
        Some(scaled) => scaled.cmp(&b),
        None if a > 0 => Ordering::Greater,
        None => Ordering::Less,
    }
}

impl Hash for Decimal {
    /// Hashes the [`normalized`](Decimal::normalized) form, which is the same for equal values.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let normalized = self.normalized();
        normalized.mantissa.hash(state);
        normalized.scale.hash(state);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn plain_text_is_what_display_prints() {
        let mut buf = PlainText::default();
        for text in
            ["0", "16848.51000000", "-0.0015", "0.00000001", "-5", "123456789012345678901234567890.12345678"]
        {
            let value = Decimal::parse(text).unwrap();
            assert_eq!(value.plain(&mut buf), value.to_string());
        }
    }

    #[test]
    fn checked_sub_is_exact_at_the_larger_scale() {
        let d = |text: &str| Decimal::parse(text).unwrap();
        assert_eq!(d("1.25").checked_sub(d("0.5")).unwrap().to_string(), "0.75");
        assert_eq!(d("100").checked_sub(d("0.001")).unwrap().to_string(), "99.999");
        assert_eq!(d("0.1").checked_sub(d("0.30")).unwrap().to_string(), "-0.20");
        assert!(Decimal::new(i128::MIN, 0).checked_sub(d("1")).is_none());
    }

    #[test]
    fn checked_add_is_exact_at_the_larger_scale() {
        let d = |text: &str| Decimal::parse(text).unwrap();
        assert_eq!(d("1.25").checked_add(d("0.5")).unwrap().to_string(), "1.75");
        assert_eq!(d("0.1").checked_add(d("0.20")).unwrap().to_string(), "0.30");
        assert!(Decimal::new(i128::MAX, 0).checked_add(d("1")).is_none());
    }

    use std::collections::hash_map::DefaultHasher;

    use proptest::prelude::*;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    /// The standard library's correctly rounded reading of `text`, as bits (so that the
    /// comparison is exact and says nothing about tolerance).
    fn std_f64_bits(text: &str) -> u64 {
        text.parse::<f64>().unwrap().to_bits()
    }

    fn hash_of(value: Decimal) -> u64 {
        let mut hasher = DefaultHasher::new();
        value.hash(&mut hasher);
        hasher.finish()
    }

    /// Prices and quantities as the venues send them (`PROTOCOLS.md` examples), field by field:
    /// (text, mantissa, scale).
    const VENUE_VALUES: &[(&str, i128, u8)] = &[
        // Binance: trade p/q, bookTicker b/B, depth snapshot levels, 24h ticker change percent.
        ("0.001", 1, 3),
        ("100", 100, 0),
        ("25.35190000", 2_535_190_000, 8),
        ("31.21000000", 3_121_000_000, 8),
        ("4.00000200", 400_000_200, 8),
        ("431.00000000", 43_100_000_000, 8),
        ("16848.51000000", 1_684_851_000_000, 8),
        ("0.00100000", 100_000, 8),
        ("250.00", 25_000, 2),
        // Bybit: orderbook levels with a zero quantity, trade, linear ticker fields.
        ("30247.20", 3_024_720, 2),
        ("0", 0, 0),
        ("16578.50", 1_657_850, 2),
        ("-0.158315", -158_315, 6),
        ("141946527.22907118", 14_194_652_722_907_118, 8),
        ("32824881841.75", 3_282_488_184_175, 2),
        // OKX: books levels (integers and 2 decimals), trade px/sz.
        ("8476.98", 847_698, 2),
        ("8477", 8477, 0),
        ("42219.9", 422_199, 1),
        ("0.12060306", 12_060_306, 8),
        // Coinbase: l2 price_level/new_quantity, ticker percent change.
        ("21921.73", 2_192_173, 2),
        ("0.06317902", 6_317_902, 8),
        ("-4.15775596190603", -415_775_596_190_603, 14),
        // Kraken v2: JSON numbers, including a trailing ".0" and a negative change.
        ("0.5657", 5657, 4),
        ("40.0", 400, 1),
        ("1098.3947558", 10_983_947_558, 7),
        ("-0.00017", -17, 5),
        // Gate: ten decimals.
        ("0.4705000000", 4_705_000_000, 10),
    ];

    #[test]
    fn venue_values_parse_to_mantissa_and_scale_and_print_as_sent() {
        for &(text, mantissa, scale) in VENUE_VALUES {
            let value = dec(text);
            assert_eq!((value.mantissa(), value.scale()), (mantissa, scale), "{text}");
            assert_eq!(value.to_string(), text);
            assert_eq!(value.to_f64().to_bits(), std_f64_bits(text), "{text}");
            assert_eq!(Decimal::parse(text.as_bytes()), Ok(value));
            assert_eq!(text.parse::<Decimal>(), Ok(value));
        }
    }

    #[test]
    fn exponent_forms_parse_to_plain_values() {
        for (text, plain) in [
            ("1e-8", "0.00000001"),
            ("1E-8", "0.00000001"),
            ("1.5E+3", "1500"),
            ("1.5e3", "1500"),
            ("2.5e-5", "0.000025"),
            ("1.25e1", "12.5"),
            ("-3e2", "-300"),
            ("0e10", "0"),
            ("1.0e0", "1.0"),
            ("0.5E-0", "0.5"),
            ("5e-37", "0.0000000000000000000000000000000000005"),
        ] {
            assert_eq!(dec(text).to_string(), plain, "{text}");
            assert_eq!(dec(text), dec(plain), "{text}");
        }
        assert_eq!(dec("0.0000001e7").to_string(), "1");
        assert_eq!(dec(&format!("0.{}1e100", "0".repeat(99))).to_string(), "1", "exponent undoes the zeros");
        assert_eq!(dec("1e-38").to_string(), format!("0.{}1", "0".repeat(37)));
        assert_eq!(dec("1e37").to_string(), format!("1{}", "0".repeat(37)));
    }

    #[test]
    fn non_canonical_inputs_print_their_value() {
        assert_eq!(dec("007.50").to_string(), "7.50");
        assert_eq!(dec("-0").to_string(), "0");
        assert_eq!(dec("-0.00").to_string(), "0.00");
        assert!(!dec("-0.00").is_negative());
        assert_eq!(dec("-0.00"), Decimal::ZERO);
    }

    #[test]
    fn invalid_inputs_are_rejected_with_the_input_named() {
        let syntax = [
            ("", 0),
            ("-", 1),
            (".", 0),
            (".5", 0),
            ("5.", 2),
            ("-.5", 1),
            ("1.2.3", 3),
            (" 1", 0),
            ("1 ", 1),
            ("+1", 0),
            ("1,5", 1),
            ("1_000", 1),
            ("NaN", 0),
            ("inf", 0),
            ("-inf", 1),
            ("0x10", 1),
            ("1e", 2),
            ("1e+", 3),
            ("1e-", 3),
            ("1e5.0", 3),
            ("1..2", 2),
            ("--1", 1),
            ("1-", 1),
            ("١", 0),
        ];
        for (text, at) in syntax {
            match Decimal::parse(text) {
                Err(DecimalError::Syntax { input, at: got, .. }) => {
                    assert_eq!((input.as_str(), got), (text, at), "{text:?}");
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
        let message = Decimal::parse("1.2.3").unwrap_err().to_string();
        assert_eq!(message, r#"invalid decimal "1.2.3": unexpected byte at byte 3"#);
    }

    #[test]
    fn limits_are_38_digits_and_scale_38() {
        let max = "9".repeat(38);
        assert_eq!(dec(&max).mantissa(), POW10[38] - 1);
        assert_eq!(dec(&format!("-0.{max}")).mantissa(), -(POW10[38] - 1));
        assert_eq!(dec(&format!("000{max}")).mantissa(), POW10[38] - 1, "leading zeros are free");
        assert_eq!(dec(&format!("0.{}1", "0".repeat(37))).scale(), 38);

        let too_many = [format!("1{max}"), format!("1.{max}"), "1e38".into(), format!("{max}0e-1")];
        for text in &too_many {
            assert_eq!(
                Decimal::parse(text),
                Err(DecimalError::TooManyDigits { input: text.clone() }),
                "{text}"
            );
        }
        let too_fine = [format!("0.{}1", "0".repeat(38)), "1e-39".into(), "0.0e-38".into()];
        for text in &too_fine {
            assert_eq!(Decimal::parse(text), Err(DecimalError::ScaleTooLarge { input: text.clone() }));
        }
        let huge_exponent = "1e-99999999999999999999";
        assert_eq!(
            Decimal::parse(huge_exponent),
            Err(DecimalError::ScaleTooLarge { input: huge_exponent.into() })
        );
        assert!(matches!(Decimal::parse("1e99999999999999999999"), Err(DecimalError::TooManyDigits { .. })));
        assert_eq!(dec("0e99999999999999999999"), Decimal::ZERO);
    }

    #[test]
    fn long_inputs_are_cut_in_errors() {
        let text = format!("{}x", "1".repeat(100));
        let Err(DecimalError::TooManyDigits { input }) = Decimal::parse(&text) else { panic!() };
        assert_eq!(input, format!("{}…", "1".repeat(64)));
        assert!(
            matches!(Decimal::parse(b"1\xff"), Err(DecimalError::Syntax { input, .. }) if input == "1\u{fffd}")
        );
    }

    #[test]
    fn equality_ordering_and_hash_are_by_value() {
        assert_eq!(dec("1.50"), dec("1.5"));
        assert_eq!(dec("1500"), dec("1.5e3"));
        assert_eq!(hash_of(dec("16848.51000000")), hash_of(dec("16848.51")));
        assert_eq!(hash_of(dec("0.000")), hash_of(Decimal::ZERO));
        assert!(dec("0.0024") < dec("0.0026"));
        assert!(dec("-1") < dec("-0.99999999"));
        assert!(dec("100") > dec("99.99999999999999999999"));
        assert_ne!(dec("1.0000000001"), dec("1"));

        // Rescaling i128::MAX or MIN overflows; the comparison must still be right.
        let huge = Decimal::new(i128::MAX, 0);
        let tiny = Decimal::new(i128::MIN, 0);
        let fine = Decimal::new(i128::MAX, 38);
        let neg_fine = Decimal::new(i128::MIN, 38);
        for (a, b) in [(fine, huge), (tiny, neg_fine), (tiny, fine), (neg_fine, huge), (neg_fine, fine)] {
            assert_eq!((a.cmp(&b), b.cmp(&a)), (Ordering::Less, Ordering::Greater), "{a:?} < {b:?}");
        }
        // i128::MAX at scale 37 is 17.01…: rescaling 17 to scale 37 fits, 18 fits too.
        assert!(Decimal::new(17, 0) < Decimal::new(i128::MAX, 37));
        assert!(Decimal::new(18, 0) > Decimal::new(i128::MAX, 37));
        assert!(Decimal::new(-18, 0) < Decimal::new(i128::MIN, 37));
    }

    #[test]
    fn normalized_and_checked_rescale() {
        assert_eq!(dec("16848.51000000").normalized().to_string(), "16848.51");
        assert_eq!(dec("5.000").normalized().to_string(), "5");
        assert_eq!(dec("-0.00").normalized().to_string(), "0");
        assert_eq!(dec("1500").normalized().to_string(), "1500");
        // Beyond i64: the 128-bit path.
        let wide = Decimal::new(i128::MAX - 7, 5).normalized();
        assert_eq!(wide.to_string(), "1701411834604692317316873037158841.0572");
        let wide = Decimal::new(POW10[38], 20).normalized();
        assert_eq!((wide.mantissa(), wide.scale()), (POW10[18], 0));

        assert_eq!(dec("1.5").checked_rescale(4).map(|d| d.to_string()), Some("1.5000".into()));
        assert_eq!(dec("1.5000").checked_rescale(1).map(|d| d.to_string()), Some("1.5".into()));
        assert_eq!(dec("1.25").checked_rescale(1), None, "would drop a digit");
        assert_eq!(dec("1").checked_rescale(39), None);
        assert_eq!(Decimal::new(i128::MAX / 5, 0).checked_rescale(1), None, "overflow");
    }

    #[test]
    fn accessors_and_formatting() {
        let value = dec("-0.00100000");
        assert_eq!((value.mantissa(), value.scale()), (-100_000, 8));
        assert!(value.is_negative() && !value.is_zero());
        assert!(dec("0.00").is_zero());
        assert_eq!(
            format!("{:>12}|{:<6}|{value:?}", dec("1.50"), dec("2")),
            "        1.50|2     |Decimal(-0.00100000)"
        );
        assert_eq!(
            format!("{:08}|{:+}|{:.1}|{:>6}", dec("-1.5"), dec("2.50"), dec("1.25"), dec("-3")),
            "-00001.5|+2.50|1.25|    -3",
            "numeric flags apply, precision does not cut digits"
        );
        assert_eq!(Decimal::new(i128::MIN, 0).to_string(), i128::MIN.to_string());
        assert_eq!(Decimal::new(i128::MIN, 38).to_string(), "-1.70141183460469231731687303715884105728");
        assert_eq!(Decimal::new(-1, 38).to_string(), format!("-0.{}1", "0".repeat(37)));
        assert_eq!(Decimal::default(), Decimal::ZERO);
    }

    #[test]
    #[should_panic(expected = "MAX_SCALE")]
    fn new_rejects_scale_above_max() {
        let _ = Decimal::new(1, 39);
    }

    #[test]
    fn to_f64_slow_path_is_correctly_rounded() {
        for text in [
            "9007199254740993",                     // 2^53 + 1: a tie, rounds to even
            "9007199254740993.5",                   // just above the tie
            "0.1000000000000000055511151231257827", // near 0.1's f64
            "1.00000000000000000000000000000000000",
            "123456789012345678901234567890.12345678",
            "-0.00000000000000000000000000000000000001",
        ] {
            assert_eq!(dec(text).to_f64().to_bits(), std_f64_bits(text), "{text}");
        }
        assert_eq!(Decimal::new(i128::MIN, 0).to_f64().to_bits(), (-(2.0_f64.powi(127))).to_bits());
    }

    /// A smoke check, not a benchmark (benches come later): parsing must stay in the tens of
    /// nanoseconds, so a regression to per-call allocation or float parsing would show as a
    /// slowdown of orders of magnitude. The bound is some 50× the debug-build cost.
    #[test]
    fn parse_is_cheap() {
        let inputs: Vec<&str> = VENUE_VALUES.iter().map(|&(text, ..)| text).collect();
        let start = std::time::Instant::now();
        let mut checksum = 0_i128;
        for _ in 0..4_000 {
            for text in &inputs {
                checksum =
                    checksum.wrapping_add(Decimal::parse(std::hint::black_box(*text)).unwrap().mantissa());
            }
        }
        assert_ne!(checksum, 0);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "took {:?}", start.elapsed());
    }

    /// Canonical decimal text: no exponent, no superfluous leading zero, no negative zero, at
    /// most 38 significant digits.
    fn canonical_decimal() -> impl Strategy<Value = String> {
        (any::<bool>(), "0|[1-9][0-9]{0,19}", proptest::option::of("[0-9]{1,18}"))
            .prop_filter("negative zero is not canonical", |(negative, int, frac)| {
                !(*negative && int == "0" && frac.as_deref().is_none_or(|f| f.bytes().all(|b| b == b'0')))
            })
            .prop_map(|(negative, int, frac)| {
                let sign = if negative { "-" } else { "" };
                match frac {
                    Some(frac) => format!("{sign}{int}.{frac}"),
                    None => format!("{sign}{int}"),
                }
            })
    }

    fn any_decimal() -> impl Strategy<Value = Decimal> {
        (any::<i128>(), 0..=Decimal::MAX_SCALE).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
    }

    proptest! {
        #[test]
        fn display_round_trips_canonical_text(text in canonical_decimal()) {
            prop_assert_eq!(dec(&text).to_string(), text);
        }

        #[test]
        fn trailing_zeros_do_not_change_the_value(text in canonical_decimal(), zeros in 0..10_usize) {
            let digits = text.trim_start_matches('-').trim_start_matches('0').replace('.', "").len();
            let zeros = zeros.min(37_usize.saturating_sub(digits));
            let padded = if text.contains('.') {
                format!("{text}{}", "0".repeat(zeros))
            } else {
                format!("{text}.{}", "0".repeat(zeros + 1))
            };
            let (a, b) = (dec(&text), dec(&padded));
            prop_assert_eq!(a, b);
            prop_assert_eq!(a.cmp(&b), Ordering::Equal);
            prop_assert_eq!(hash_of(a), hash_of(b));
            prop_assert_eq!(a.normalized(), b.normalized());
            prop_assert_eq!(a.normalized().to_string(), b.normalized().to_string());
        }

        #[test]
        fn to_f64_matches_the_standard_parser(text in canonical_decimal()) {
            prop_assert_eq!(dec(&text).to_f64().to_bits(), std_f64_bits(&text));
        }

        #[test]
        fn exponent_forms_match_the_standard_parser(
            text in canonical_decimal(),
            exponent in -20_i32..=20,
            upper in any::<bool>(),
        ) {
            let e = if upper { 'E' } else { 'e' };
            let with_exponent = format!("{text}{e}{exponent:+}");
            if let Ok(value) = Decimal::parse(&with_exponent) {
                prop_assert_eq!(value.to_f64().to_bits(), std_f64_bits(&with_exponent));
                prop_assert_eq!(value.to_f64().to_bits(), std_f64_bits(&value.to_string()));
            } else {
                let digits = text.trim_start_matches('-').replace('.', "");
                let fraction = text.split_once('.').map_or(0, |(_, f)| f.len());
                let significant = i32::try_from(digits.trim_start_matches('0').len()).unwrap();
                let scale = i32::try_from(fraction).unwrap() - exponent;
                let fits = scale <= 38 && (scale >= 0 || significant - scale <= 38 || significant == 0);
                prop_assert!(!fits, "{} rejected", with_exponent);
            }
        }

        #[test]
        fn ordering_matches_exact_arithmetic(
            (m1, s1) in (-999_999_999_999_999_999_i128..=999_999_999_999_999_999, 0..=18_u8),
            (m2, s2) in (-999_999_999_999_999_999_i128..=999_999_999_999_999_999, 0..=18_u8),
        ) {
            // Both at scale 18: |m| × 10^18 < 10^36 fits an i128, so this is exact.
            let expected = (m1 * POW10[usize::from(18 - s1)]).cmp(&(m2 * POW10[usize::from(18 - s2)]));
            prop_assert_eq!(Decimal::new(m1, s1).cmp(&Decimal::new(m2, s2)), expected);
        }

        #[test]
        fn ordering_is_a_total_order_on_the_whole_range(a in any_decimal(), b in any_decimal(), c in any_decimal()) {
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            if a <= b && b <= c {
                prop_assert!(a <= c);
            }
            prop_assert_eq!(a == b, a.normalized() == b.normalized() && hash_of(a) == hash_of(b));
            prop_assert_eq!(a.to_f64().to_bits(), std_f64_bits(&a.to_string()));
        }

        #[test]
        fn to_f64_fast_path_edges_match_the_standard_parser(
            mantissa in prop_oneof![
                -(1_i128 << 53)..=(1 << 53),
                ((1_i128 << 53) - 1000)..=((1 << 53) + 1000),
                -((1_i128 << 53) + 1000)..=-((1 << 53) - 1000),
            ],
            scale in 0..=24_u8,
        ) {
            let value = Decimal::new(mantissa, scale);
            prop_assert_eq!(value.to_f64().to_bits(), std_f64_bits(&value.to_string()));
        }

        #[test]
        fn checked_rescale_keeps_the_value(value in any_decimal(), scale in 0..=40_u8) {
            if let Some(rescaled) = value.checked_rescale(scale) {
                prop_assert_eq!(rescaled, value);
                prop_assert_eq!(rescaled.scale(), scale);
            }
        }
    }
}
