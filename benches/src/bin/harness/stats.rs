//! Percentiles and small formatting helpers.

/// Sorts `v` (NaN-safe) and returns it.
pub(crate) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// The `p` quantile (0..=1) of an already sorted slice, nearest rank; NaN when empty.
pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let last = sorted.len() - 1;
    let i = ((last as f64) * p).round() as usize;
    sorted[i.min(last)]
}

/// The median of an unsorted slice; NaN when empty.
pub(crate) fn median(v: &[f64]) -> f64 {
    pct(&sorted(v.to_vec()), 0.5)
}

/// `123 µs`, or `n/a` for NaN.
pub(crate) fn us(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.0} µs")
    }
}

/// `+123 µs` / `−123 µs`, or `n/a` for NaN.
pub(crate) fn signed_us(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v < 0.0 {
        format!("−{:.0} µs", -v)
    } else {
        format!("+{v:.0} µs")
    }
}

/// `12.3 ms`, or `n/a` for NaN.
pub(crate) fn ms(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.1} ms")
    }
}

/// kB (as /proc reports it) as `12.3 MB` (MiB), or `n/a`.
pub(crate) fn mb(kb: Option<u64>) -> String {
    match kb {
        Some(kb) => format!("{:.1} MB", kb as f64 / 1024.0),
        None => "n/a".into(),
    }
}

/// `12,345`.
pub(crate) fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A JSON number, or null for NaN.
pub(crate) fn num(v: f64) -> serde_json::Value {
    if v.is_finite() {
        serde_json::json!((v * 10.0).round() / 10.0)
    } else {
        serde_json::Value::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_formats() {
        let v = sorted(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(pct(&v, 0.0), 1.0);
        assert_eq!(pct(&v, 0.5), 3.0);
        assert_eq!(pct(&v, 1.0), 5.0);
        assert!(pct(&[], 0.5).is_nan());
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(int(999), "999");
    }
}
