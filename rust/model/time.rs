//! RFC 3339 date-times to and from Unix nanoseconds, exactly: [`parse_rfc3339_ns`] reads the
//! timestamps Coinbase and Kraken send, [`write_rfc3339`] writes them as the simulators send
//! them. No allocation beyond the output buffer, no floats, no time zone database (UTC and
//! fixed `±HH:MM` offsets only).

use std::io::Write as _;

const NS_PER_SECOND: u64 = 1_000_000_000;
const SECONDS_PER_DAY: u64 = 86_400;

/// Reads an RFC 3339 date-time (`2023-02-09T20:32:50.714964855Z`, up to 9 fractional digits,
/// `Z` or a `±HH:MM` offset) as exact nanoseconds since the Unix epoch.
///
/// # Errors
///
/// What is wrong, for text outside that grammar, an impossible date or time (month 13,
/// February 30, second 60), more than 9 fractional digits, or a time before 1970 or past
/// `u64` nanoseconds (2554).
pub fn parse_rfc3339_ns(text: &str) -> Result<u64, &'static str> {
    let bytes = text.as_bytes();
    let digits = |from: usize, count: usize| -> Result<u32, &'static str> {
        let slice = bytes.get(from..from + count).ok_or("too short")?;
        slice.iter().try_fold(0_u32, |value, &byte| {
            if byte.is_ascii_digit() {
                Ok(value * 10 + u32::from(byte - b'0'))
            } else {
                Err("expected a digit")
            }
        })
    };
    let expect = |at: usize, wanted: &[u8]| -> Result<(), &'static str> {
        match bytes.get(at) {
            Some(byte) if wanted.contains(byte) => Ok(()),
            _ => Err("expected YYYY-MM-DDTHH:MM:SS"),
        }
    };
    let year = digits(0, 4)?;
    expect(4, b"-")?;
    let month = digits(5, 2)?;
    expect(7, b"-")?;
    let day = digits(8, 2)?;
    expect(10, b"Tt")?;
    let hour = digits(11, 2)?;
    expect(13, b":")?;
    let minute = digits(14, 2)?;
    expect(16, b":")?;
    let second = digits(17, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("no such time");
    }
    let mut at = 19;
    let mut nanos = 0_u64;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let first = at;
        while let Some(byte) = bytes.get(at).filter(|byte| byte.is_ascii_digit()) {
            if at - first == 9 {
                return Err("more than 9 fractional digits");
            }
            nanos = nanos * 10 + u64::from(byte - b'0');
            at += 1;
        }
        if at == first {
            return Err("no digit after the point");
        }
        nanos *= 10_u64.pow(u32::try_from(9 - (at - first)).unwrap_or(0));
    }
    let offset_seconds: i64 = match bytes.get(at) {
        Some(b'Z' | b'z') if bytes.len() == at + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if bytes.len() == at + 6 => {
            let hours = digits(at + 1, 2)?;
            expect(at + 3, b":")?;
            let minutes = digits(at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return Err("no such offset");
            }
            let magnitude = i64::from(hours * 3600 + minutes * 60);
            if sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return Err("expected Z or ±HH:MM at the end"),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_seconds;
    let seconds = u64::try_from(seconds).map_err(|_| "before 1970")?;
    seconds.checked_mul(1_000_000_000).and_then(|ns| ns.checked_add(nanos)).ok_or("after 2554")
}

const fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month as i64 + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Year, month, day of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
const fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// How many fractional-second digits [`write_rfc3339`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// As few as the value needs, trailing zeros dropped and no point when the nanoseconds are
    /// zero, as Go's `RFC3339Nano` prints (Coinbase): `20:19:35.39625135Z`, `20:19:35Z`.
    Shortest,
    /// Exactly this many digits (at most 9), truncated; none, and no point, for 0. Kraken
    /// writes 6: `07:49:37.708706Z`.
    Digits(u8),
}

/// Appends Unix `unix_ns` as an RFC 3339 UTC date-time, `YYYY-MM-DDTHH:MM:SS[.f…]Z`, with the
/// fraction as `fraction` says. [`parse_rfc3339_ns`] reads it back: exactly for
/// [`Fraction::Shortest`] and `Digits(9)`, truncated to the digits written otherwise.
pub fn write_rfc3339(out: &mut Vec<u8>, unix_ns: u64, fraction: Fraction) {
    let seconds = unix_ns / NS_PER_SECOND;
    let nanos = unix_ns % NS_PER_SECOND;
    let (year, month, day) = civil_from_days(seconds / SECONDS_PER_DAY);
    let in_day = seconds % SECONDS_PER_DAY;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60
    );
    let (digits, width) = match fraction {
        Fraction::Shortest if nanos == 0 => (0, 0),
        Fraction::Shortest => {
            let (mut digits, mut width) = (nanos, 9);
            while digits.is_multiple_of(10) {
                digits /= 10;
                width -= 1;
            }
            (digits, width)
        }
        Fraction::Digits(count) => {
            let width = usize::from(count.min(9));
            (nanos / 10_u64.pow(9 - u32::from(count.min(9))), width)
        }
    };
    if width > 0 {
        let _ = write!(out, ".{digits:0width$}");
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ns(text: &str) -> u64 {
        parse_rfc3339_ns(text).unwrap()
    }

    fn print(unix_ns: u64, fraction: Fraction) -> String {
        let mut out = Vec::new();
        write_rfc3339(&mut out, unix_ns, fraction);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc3339_is_exact_to_the_nanosecond() {
        assert_eq!(ns("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ns("1970-01-01T00:00:00.000000001Z"), 1);
        assert_eq!(ns("1970-01-01T00:00:01.5Z"), 1_500_000_000);
        assert_eq!(ns("2019-08-14T20:42:27.265Z"), 1_565_815_347_265_000_000);
        assert_eq!(ns("2023-02-09T20:19:35.39625135Z"), 1_675_973_975_396_251_350);
        assert_eq!(ns("2000-02-29T23:59:59.999999999Z"), 951_868_799_999_999_999);
        assert_eq!(ns("2024-02-29T23:59:59.123456789Z"), 1_709_251_199_123_456_789);
        assert_eq!(ns("2024-12-31T23:59:59Z"), 1_735_689_599_000_000_000);
        assert_eq!(ns("2023-02-09T21:32:50+01:00"), ns("2023-02-09T20:32:50Z"));
        assert_eq!(ns("2023-02-09T19:02:50.5-01:30"), ns("2023-02-09T20:32:50.5Z"));
        assert_eq!(ns("2023-01-01T00:00:00+00:00"), ns("2023-01-01T00:00:00Z"));
        assert_eq!(ns("2100-03-01t00:00:00z"), 4_107_542_400_000_000_000);
        for bad in [
            "",
            "2023-02-09",
            "2023-02-09T20:32:50",
            "2023-02-09T20:32:50.Z",
            "2023-02-09T20:32:50.1234567890Z",
            "2023-13-09T20:32:50Z",
            "2023-02-29T20:32:50Z",
            "1900-02-29T20:32:50Z",
            "2023-02-09T24:00:00Z",
            "2023-02-09T20:60:00Z",
            "2023-02-09T20:32:60Z",
            "2023-02-09 20:32:50Z",
            "2023-02-09T20:32:50ZZ",
            "2023-02-09T20:32:50+0100",
            "2023-02-09T20:32:50+24:00",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:30:00+01:00",
            "+2023-02-09T20:32:50Z",
            "２023-02-09T20:32:50Z",
            "２０２３-01-01T00:00:00Z",
            "2555-01-01T00:00:00Z",
        ] {
            assert!(parse_rfc3339_ns(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn times_print_as_the_venues_print_them() {
        assert_eq!(print(0, Fraction::Shortest), "1970-01-01T00:00:00Z");
        assert_eq!(print(1_675_973_975_396_251_350, Fraction::Shortest), "2023-02-09T20:19:35.39625135Z");
        assert_eq!(print(1_565_815_347_265_000_000, Fraction::Shortest), "2019-08-14T20:42:27.265Z");
        assert_eq!(print(951_868_799_999_999_999, Fraction::Shortest), "2000-02-29T23:59:59.999999999Z");
        assert_eq!(print(u64::MAX, Fraction::Shortest), "2554-07-21T23:34:33.709551615Z");
        assert_eq!(print(1_695_628_177_708_706_999, Fraction::Digits(6)), "2023-09-25T07:49:37.708706Z");
        assert_eq!(print(951_782_400_000_000_000, Fraction::Digits(6)), "2000-02-29T00:00:00.000000Z");
        assert_eq!(print(1_500_000_000, Fraction::Digits(0)), "1970-01-01T00:00:01Z");
        assert_eq!(print(1_500_000_000, Fraction::Digits(12)), "1970-01-01T00:00:01.500000000Z");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn written_times_parse_back(unix_ns in any::<u64>(), digits in 0_u8..=9) {
            prop_assert_eq!(parse_rfc3339_ns(&print(unix_ns, Fraction::Shortest)), Ok(unix_ns));
            let kept = 10_u64.pow(9 - u32::from(digits));
            prop_assert_eq!(parse_rfc3339_ns(&print(unix_ns, Fraction::Digits(digits))), Ok(unix_ns - unix_ns % kept));
        }
    }
}
