//! Field readers the adapters share: a venue's decimal text to a [`Decimal`], absent and
//! non-negative variants, venue timestamps to Unix nanoseconds.
//!
//! Every error is a `String` that names the field (`"price: …"`), the reason an adapter puts in
//! its [`ParseError`](super::ParseError). Venue rules beyond these (OKX refuses exponents,
//! Kraken sends raw JSON numbers) stay in the venue's module and call these on the text.

use crate::model::Decimal;
use crate::model::time::parse_rfc3339_ns;

/// `text` as an exact decimal (any sign).
///
/// # Errors
///
/// `"{field}: …"` with [`Decimal::parse`]'s reason, for text that is not a decimal or does not
/// fit.
pub fn decimal(text: &str, field: &str) -> Result<Decimal, String> {
    Decimal::parse(text).map_err(|error| format!("{field}: {error}"))
}

/// `text` as an exact decimal that is not negative: a quantity, or a price where the venue
/// never sends a negative one.
///
/// # Errors
///
/// As [`decimal`], and `"{field}: negative …"` for a value below zero.
pub fn quantity(text: &str, field: &str) -> Result<Decimal, String> {
    let value = decimal(text, field)?;
    if value.is_negative() {
        return Err(format!("{field}: negative {text:?}"));
    }
    Ok(value)
}

/// [`decimal`] of a field that may be absent; absent is `None` (an empty string is not absent
/// here: see [`optional_or_blank`]).
///
/// # Errors
///
/// As [`decimal`], for a present field.
pub fn optional(text: Option<&str>, field: &str) -> Result<Option<Decimal>, String> {
    text.map(|text| decimal(text, field)).transpose()
}

/// [`optional`], where an empty string also means absent (Bybit's and OKX's "no value").
///
/// # Errors
///
/// As [`decimal`], for a present, non-empty field.
pub fn optional_or_blank(text: Option<&str>, field: &str) -> Result<Option<Decimal>, String> {
    optional(text.filter(|text| !text.is_empty()), field)
}

/// [`quantity`] of a field that may be absent; absent is `None`.
///
/// # Errors
///
/// As [`quantity`], for a present field.
pub fn optional_quantity(text: Option<&str>, field: &str) -> Result<Option<Decimal>, String> {
    text.map(|text| quantity(text, field)).transpose()
}

/// Unix milliseconds as Unix nanoseconds.
///
/// # Errors
///
/// For a time past `u64` nanoseconds (the year 2554).
pub fn millis_to_ns(ms: u64) -> Result<u64, String> {
    ms.checked_mul(1_000_000).ok_or_else(|| format!("time {ms} ms is past 2554"))
}

/// An RFC 3339 timestamp field as Unix nanoseconds, exactly ([`parse_rfc3339_ns`]).
///
/// # Errors
///
/// `"{field}: {reason}: {text:?}"` for text [`parse_rfc3339_ns`] refuses.
pub fn rfc3339_ns(text: &str, field: &str) -> Result<u64, String> {
    parse_rfc3339_ns(text).map_err(|reason| format!("{field}: {reason}: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_text_and_errors_name_the_field() {
        assert_eq!(decimal("-1.50", "price").unwrap().to_string(), "-1.50");
        assert!(decimal("x", "price").unwrap_err().starts_with("price: "));
        assert_eq!(quantity("0", "size").unwrap(), Decimal::parse("0").unwrap());
        assert_eq!(quantity("-1", "size").unwrap_err(), r#"size: negative "-1""#);
        assert!(quantity("1e400", "size").unwrap_err().starts_with("size: "));
    }

    #[test]
    fn absent_and_blank_fields() {
        assert_eq!(optional(None, "last"), Ok(None));
        assert!(optional(Some(""), "last").is_err());
        assert_eq!(optional(Some("2"), "last"), Ok(Some(Decimal::parse("2").unwrap())));
        assert_eq!(optional_or_blank(Some(""), "last"), Ok(None));
        assert_eq!(optional_or_blank(None, "last"), Ok(None));
        assert!(optional_or_blank(Some("x"), "last").is_err());
        assert_eq!(optional_quantity(None, "volume"), Ok(None));
        assert!(optional_quantity(Some("-0.1"), "volume").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(millis_to_ns(1_672_515_782_136), Ok(1_672_515_782_136_000_000));
        assert!(millis_to_ns(u64::MAX / 1_000_000 + 1).is_err());
        assert_eq!(rfc3339_ns("1970-01-01T00:00:01.5Z", "time"), Ok(1_500_000_000));
        assert!(rfc3339_ns("yesterday", "time").unwrap_err().starts_with("time: "));
    }
}
