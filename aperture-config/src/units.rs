//! Durations, byte sizes and money as the config writes them.

use std::time::Duration;

use crate::raw::RawSize;

/// Parses a Go-style duration (`"300ms"`, `"1h30m"`, `"1.5h"`) with `d` (24 h) added.
/// `"0"` is zero. Units: `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`, `d`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(aperture_config::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert_eq!(aperture_config::parse_duration("0"), Ok(Duration::ZERO));
/// assert!(aperture_config::parse_duration("5").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s.starts_with('-') {
        return Err(format!("negative duration {s:?}"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(format!("invalid duration {s:?}"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "" => return Err(format!("missing unit in duration {s:?}")),
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        total = total
            .checked_add(scaled(num, nanos_per).ok_or_else(|| format!("invalid duration {s:?}"))?)
            .ok_or_else(|| format!("invalid duration {s:?}"))?;
        rest = next;
    }
    let secs =
        u64::try_from(total / 1_000_000_000).map_err(|_| format!("invalid duration {s:?}"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// `num` (digits with an optional fraction) times `unit`, exactly, truncating below 1 ns.
fn scaled(num: &str, unit: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut total = int.checked_mul(unit)?;
    let mut scale = unit;
    for d in frac.chars().take(30) {
        scale /= 10;
        total = total.checked_add(u128::from(d.to_digit(10)?) * scale)?;
    }
    Some(total)
}

/// Formats a duration the way the config writes it (`"10s"`, `"1h30m"`, `"0"`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0".into();
    }
    let nanos = d.as_nanos();
    if nanos % 1_000_000_000 != 0 {
        return if nanos % 1_000_000 == 0 {
            format!("{}ms", nanos / 1_000_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, len) in [("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

/// Parses a byte size: a number of bytes, or `"<n>"`, `"<n>B"`, `"<n>KiB"`, `"<n>MiB"`,
/// `"<n>GiB"` (also `KB`, `MB`, `GB` as powers of 1000).
pub fn parse_size(size: &RawSize) -> Result<u64, String> {
    let s = match size {
        RawSize::Bytes(n) => return Ok(*n),
        RawSize::Text(s) => s.trim(),
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        u => {
            return Err(format!(
                "unknown size unit {u:?} in {s:?} (use KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Nanodollars in one dollar.
pub const NANOS_PER_DOLLAR: i64 = 1_000_000_000;

/// Parses `"$5.00"` into nanodollars (exact; at most 9 decimal places).
pub fn parse_money(s: &str) -> Result<i64, String> {
    let amount = s
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| format!("{s:?} must start with \"$\""))?;
    let (int, frac) = amount.split_once('.').unwrap_or((amount, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid amount {s:?}"));
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid amount {s:?}"));
    }
    let whole: i64 = int.parse().map_err(|_| format!("invalid amount {s:?}"))?;
    let mut nanos: i64 = 0;
    let mut scale = NANOS_PER_DOLLAR;
    for b in frac.bytes() {
        scale /= 10;
        nanos += i64::from(b - b'0') * scale;
    }
    whole
        .checked_mul(NANOS_PER_DOLLAR)
        .and_then(|w| w.checked_add(nanos))
        .ok_or_else(|| format!("amount {s:?} is too large"))
}

/// Formats nanodollars as `"$4.20"` (two decimals, more when needed).
pub fn format_money(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let whole = n / NANOS_PER_DOLLAR as u64;
    let frac = format!("{:09}", n % NANOS_PER_DOLLAR as u64);
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 2 {
        format!("{frac:0<2}")
    } else {
        frac.to_string()
    };
    format!("{sign}${whole}.{frac}")
}

/// A refill rate: `amount` nanodollars every `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Nanodollars added per period.
    pub nanodollars: i64,
    /// The period.
    pub per: Duration,
}

/// Parses `"$5.00/day"` (units `min`, `hour`, `day`, `week`, `month` = 30 days).
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let (amount, unit) = s
        .split_once('/')
        .ok_or_else(|| format!("rate {s:?} must look like \"$5.00/day\""))?;
    let secs = match unit.trim() {
        "min" | "minute" => 60,
        "hour" | "h" => 3_600,
        "day" | "d" => 86_400,
        "week" => 604_800,
        "month" => 2_592_000,
        u => {
            return Err(format!(
                "unknown rate unit {u:?} (use min, hour, day, week or month)"
            ));
        }
    };
    Ok(Rate {
        nanodollars: parse_money(amount)?,
        per: Duration::from_secs(secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        let ok = [
            ("10s", 10_000),
            ("300ms", 300),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("30d", 2_592_000_000),
            ("720h", 2_592_000_000),
            ("0", 0),
            ("0s", 0),
            (".5s", 500),
        ];
        for (s, ms) in ok {
            assert_eq!(parse_duration(s).map(|d| d.as_millis()), Ok(ms), "{s}");
        }
        for s in ["", "5", "-1s", "1x", "1..2s", "s", "1h-2m"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(&RawSize::Text("32MiB".into())), Ok(32 << 20));
        assert_eq!(parse_size(&RawSize::Text("100".into())), Ok(100));
        assert_eq!(parse_size(&RawSize::Bytes(7)), Ok(7));
        assert!(parse_size(&RawSize::Text("1TiB".into())).is_err());
        assert!(parse_size(&RawSize::Text("MiB".into())).is_err());
    }

    #[test]
    fn money_and_rates() {
        assert_eq!(parse_money("$5.00"), Ok(5_000_000_000));
        assert_eq!(parse_money("$0.000000001"), Ok(1));
        assert_eq!(parse_money("$0"), Ok(0));
        for bad in ["5.00", "$", "$-1", "$1.2.3", "$1.0000000001", "$ 1"] {
            assert!(parse_money(bad).is_err(), "{bad}");
        }
        assert_eq!(format_money(4_200_000_000), "$4.20");
        assert_eq!(format_money(1), "$0.000000001");
        assert_eq!(
            parse_rate("$2.50/day"),
            Ok(Rate {
                nanodollars: 2_500_000_000,
                per: Duration::from_secs(86_400)
            })
        );
        assert!(parse_rate("$2.50/fortnight").is_err());
        assert!(parse_rate("$2.50").is_err());
    }

    proptest! {
        #[test]
        fn duration_format_round_trips(ms in 0u64..10_000_000_000) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn money_format_round_trips(n in 0i64..1_000_000_000_000_000) {
            prop_assert_eq!(parse_money(&format_money(n)), Ok(n));
        }

        #[test]
        fn duration_parser_never_panics(s in "\\PC{0,16}") {
            let _ = parse_duration(&s);
        }
    }
}
