//! Exact non-negative decimals for prices: parsed into integer units at a decimal scale, never
//! through floating point.

/// Prices are kept in atto-dollars (10⁻¹⁸ $) per token.
pub(crate) const ATTO_SCALE: u32 = 18;
/// Nanodollars are 10⁻⁹ $.
pub(crate) const NANO_SCALE: u32 = 9;

/// `10^n`, or None past u128.
pub(crate) fn pow10(n: u32) -> Option<u128> {
    10u128.checked_pow(n)
}

/// Parses `123`, `0.000003`, `3e-6`, `1.5E+3` into `(units, scale)` with value =
/// units / 10^scale. Signs other than the exponent's, spaces and empty parts are refused.
pub(crate) fn parse(text: &str) -> Option<(u128, u32)> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut units: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        units = units.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    let scale = i64::try_from(frac.len()).ok()? - i64::from(exp);
    if scale >= 0 {
        Some((units, u32::try_from(scale).ok()?))
    } else {
        let up = pow10(u32::try_from(-scale).ok()?)?;
        Some((units.checked_mul(up)?, 0))
    }
}

/// `units / 10^scale` expressed at `target` scale, when exact.
pub(crate) fn rescale(units: u128, scale: u32, target: u32) -> Option<u128> {
    if scale <= target {
        units.checked_mul(pow10(target - scale)?)
    } else {
        let div = pow10(scale - target)?;
        (units % div == 0).then_some(units / div)
    }
}

/// Parses a price string into atto-dollars, exactly (at most 18 decimal places).
pub(crate) fn parse_atto(text: &str) -> Option<u128> {
    let (units, scale) = parse(text)?;
    rescale(units, scale, ATTO_SCALE)
}

/// Formats `units / 10^scale` as a plain decimal without trailing zeros (`0.000003`, `12`).
pub(crate) fn format(units: u128, scale: u32) -> String {
    let digits = units.to_string();
    let scale = scale as usize;
    let (int, frac) = if digits.len() > scale {
        let (i, f) = digits.split_at(digits.len() - scale);
        (i.to_string(), f.to_string())
    } else {
        ("0".to_string(), format!("{digits:0>scale$}"))
    };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int
    } else {
        format!("{int}.{frac}")
    }
}

/// An `f64` multiplier as an exact decimal, from its shortest round-trip text (`1.1` is
/// `(11, 1)`). None for values that are not finite and non-negative or do not fit.
pub(crate) fn from_f64(x: f64) -> Option<(u128, u32)> {
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    parse(&format!("{x}"))
}

/// `n / d` rounded half up.
pub(crate) fn div_half_up(n: u128, d: u128) -> u128 {
    let q = n / d;
    if (n % d) * 2 >= d { q + 1 } else { q }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_atto("0.000003"), Some(3_000_000_000_000));
        assert_eq!(parse_atto("3e-6"), Some(3_000_000_000_000));
        assert_eq!(parse_atto("0.01"), Some(10_000_000_000_000_000));
        assert_eq!(parse_atto("2"), Some(2_000_000_000_000_000_000));
        assert_eq!(parse_atto(".5"), Some(500_000_000_000_000_000));
        assert_eq!(parse_atto("0.000000000000000001"), Some(1));
        assert_eq!(parse_atto("0.0000000000000000001"), None);
        assert_eq!(parse_atto("0.0000000000000000010"), Some(1));
        for bad in ["", ".", "-1", "1.2.3", "abc", " 1", "1e", "0x10"] {
            assert_eq!(parse_atto(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_without_trailing_zeros() {
        assert_eq!(format(3_000_000_000_000, 18), "0.000003");
        assert_eq!(format(33, 7), "0.0000033");
        assert_eq!(format(1200, 2), "12");
        assert_eq!(format(0, 18), "0");
        assert_eq!(format(15, 0), "15");
    }

    #[test]
    fn floats_and_rounding() {
        assert_eq!(from_f64(1.1), Some((11, 1)));
        assert_eq!(from_f64(1.0), Some((1, 0)));
        assert_eq!(from_f64(f64::NAN), None);
        assert_eq!(div_half_up(15, 10), 2);
        assert_eq!(div_half_up(14, 10), 1);
        assert_eq!(div_half_up(25, 10), 3);
    }
}
