//! Exact costs from the price table (SPEC.md §9).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aperture_config::{CostAlias, CostBasis, ShellGlob};
use aperture_log::Usage;
use aperture_log::pricing::{PriceError, PriceTable};
use aperture_log::usage::ResponseFormat;

const CHAT: ResponseFormat = ResponseFormat::AnthropicMessages;

fn usage(input: u64, output: u64) -> Usage {
    Usage {
        input,
        output,
        ..Usage::default()
    }
}

fn alias(pattern: &str, price_as: &str, adjustment: f64) -> CostAlias {
    CostAlias {
        pattern: ShellGlob::parse(pattern).unwrap(),
        price_as: price_as.into(),
        adjustment,
    }
}

fn nanos(t: &PriceTable, basis: CostBasis, model: &str, u: &Usage) -> Option<u64> {
    t.cost(basis, model, &[], u, CHAT).map(|c| c.nanodollars)
}

#[test]
fn a_million_tokens_at_three_dollars_is_three_billion_nanodollars() {
    let t = PriceTable::bundled();
    let c = t
        .cost(
            CostBasis::Anthropic,
            "claude-sonnet-4-6",
            &[],
            &usage(1_000_000, 0),
            CHAT,
        )
        .unwrap();
    assert_eq!(c.nanodollars, 3_000_000_000);
    assert_eq!(c.basis, "anthropic/claude-sonnet-4-6");
    assert_eq!(c.adjustment, 1.0);
    assert_eq!(
        nanos(
            &t,
            CostBasis::Anthropic,
            "claude-sonnet-4-6",
            &usage(0, 1_000_000)
        ),
        Some(15_000_000_000)
    );
}

#[test]
fn every_category_is_priced_exactly() {
    let t = PriceTable::bundled();
    let u = Usage {
        input: 472,
        output: 89,
        cache_read: 3000,
        cache_write_5m: 200,
        cache_write_1h: 1000,
        web_search: 2,
        ..Usage::default()
    };
    // 472×3 + 89×15 + 3000×0.3 + 200×3.75 + 1000×6 (µ$) + 2 × $0.01
    // = 1416 + 1335 + 900 + 750 + 6000 = 10401 µ$ = 10_401_000 n$, + 20_000_000 n$.
    assert_eq!(
        nanos(&t, CostBasis::Anthropic, "claude-sonnet-4-5", &u),
        Some(30_401_000)
    );
    // Haiku 4.5: 472×1 + 89×5 + 3000×0.1 + 200×1.25 + 1000×2 = 3467 µ$.
    assert_eq!(
        nanos(&t, CostBasis::Anthropic, "claude-haiku-4-5", &u),
        Some(23_467_000)
    );
}

#[test]
fn reasoning_at_output_unless_listed() {
    let t = PriceTable::bundled();
    let u = Usage {
        input: 176,
        output: 300,
        cache_read: 1024,
        reasoning: 128,
        ..Usage::default()
    };
    // gpt-5: 176×1.25 + 300×10 + 1024×0.125 = 220 + 3000 + 128 = 3348 µ$.
    assert_eq!(nanos(&t, CostBasis::Openai, "gpt-5", &u), Some(3_348_000));
    let mut custom = PriceTable::from_json(
        r#"{"updated":"2026-01-01","bases":{"openai":{"gpt-5":{"input":"0.00000125","output":"0.00001","reasoning":"0.00002","input_cache_read":"0.000000125"}}}}"#,
    )
    .unwrap();
    custom.merge(PriceTable::default());
    // 172 non-reasoning output tokens at $10/M, 128 reasoning at $20/M.
    assert_eq!(
        nanos(&custom, CostBasis::Openai, "gpt-5", &u),
        Some(220_000 + 1_720_000 + 2_560_000 + 128_000)
    );
}

#[test]
fn dates_are_stripped_after_an_exact_miss() {
    let t = PriceTable::bundled();
    let one = usage(1_000_000, 0);
    let c = t
        .cost(
            CostBasis::Anthropic,
            "claude-sonnet-4-5-20250929",
            &[],
            &one,
            CHAT,
        )
        .unwrap();
    assert_eq!(
        (c.nanodollars, c.basis.as_str()),
        (3_000_000_000, "anthropic/claude-sonnet-4-5")
    );
    let c = t
        .cost(
            CostBasis::Vertex,
            "claude-opus-4-1@20250805",
            &[],
            &one,
            CHAT,
        )
        .unwrap();
    assert_eq!(
        (c.nanodollars, c.basis.as_str()),
        (15_000_000_000, "vertex/claude-opus-4-1")
    );
    assert_eq!(
        nanos(&t, CostBasis::Openai, "gpt-4o-2024-08-06", &one),
        Some(2_500_000_000)
    );
    // An exact dated entry wins over the stripped name.
    assert_eq!(
        nanos(&t, CostBasis::Openai, "gpt-4o-2024-05-13", &one),
        Some(5_000_000_000)
    );
    assert_eq!(
        nanos(&t, CostBasis::Google, "gemini-2.5-flash", &one),
        Some(300_000_000)
    );
    // No price: no cost.
    assert_eq!(
        nanos(&t, CostBasis::Anthropic, "claude-sonnet-4-5-2025092", &one),
        None
    );
    assert_eq!(
        nanos(&t, CostBasis::Openrouter, "claude-sonnet-4-5", &one),
        None
    );
    let missing = Usage {
        usage_missing: true,
        ..Usage::default()
    };
    assert_eq!(
        nanos(&t, CostBasis::Anthropic, "claude-sonnet-4-5", &missing),
        None
    );
}

#[test]
fn model_cost_map_first_match_and_exact_adjustment() {
    let t = PriceTable::bundled();
    let aliases = [
        alias("claude-*-preview*", "claude-sonnet-4-5", 1.1),
        alias("claude-*", "claude-haiku-4-5", 1.0),
    ];
    let c = t
        .cost(
            CostBasis::Anthropic,
            "claude-x-preview-7",
            &aliases,
            &usage(1_000_000, 0),
            CHAT,
        )
        .unwrap();
    // 3 × 1.1 in floating point is 3.3000000000000003; the exact decimal is 3.3.
    assert_eq!(c.nanodollars, 3_300_000_000);
    assert_eq!(c.basis, "anthropic/claude-sonnet-4-5");
    assert_eq!(c.adjustment, 1.1);
    let c = t
        .cost(
            CostBasis::Anthropic,
            "claude-sonnet-4-6",
            &aliases,
            &usage(1_000_000, 0),
            CHAT,
        )
        .unwrap();
    assert_eq!(
        (c.nanodollars, c.basis.as_str()),
        (1_000_000_000, "anthropic/claude-haiku-4-5")
    );
    // An alias to an unknown model prices nothing.
    let c = t.cost(
        CostBasis::Anthropic,
        "m",
        &[alias("m", "nope", 1.0)],
        &usage(1, 1),
        CHAT,
    );
    assert!(c.is_none());
    // /v1/models pricing after the map, adjusted exactly.
    let p = t.model_pricing(CostBasis::Anthropic, "claude-x-preview-7", &aliases);
    assert_eq!(p[0], ("input", "0.0000033".to_string()));
    assert_eq!(p[1], ("output", "0.0000165".to_string()));
    assert!(p.iter().any(|(k, v)| *k == "web_search" && v == "0.011"));
    assert!(p.iter().all(|(k, _)| *k != "reasoning"));
    let p = t.model_pricing(CostBasis::Openai, "gpt-4o-mini", &[]);
    assert_eq!(
        p,
        vec![
            ("input", "0.00000015".to_string()),
            ("output", "0.0000006".to_string()),
            ("input_cache_read", "0.000000075".to_string())
        ]
    );
    assert!(
        t.model_pricing(CostBasis::Openai, "unknown", &[])
            .is_empty()
    );
}

#[test]
fn rounding_is_half_up_to_nanodollars() {
    let t = PriceTable::from_json(
        r#"{"bases":{"openai":{"half":{"input":"0.0000000005","output":"0.0000000004"}}}}"#,
    )
    .unwrap();
    let n = |i, o| nanos(&t, CostBasis::Openai, "half", &usage(i, o));
    assert_eq!(n(1, 0), Some(1)); // 0.5 → 1
    assert_eq!(n(3, 0), Some(2)); // 1.5 → 2
    assert_eq!(n(0, 1), Some(0)); // 0.4 → 0
    assert_eq!(n(1, 1), Some(1)); // 0.9 → 1
    assert_eq!(n(0, 0), Some(0));
    // The sum is rounded once, not each term: 0.4 + 0.4 = 0.8 → 1.
    assert_eq!(n(0, 2), Some(1));
}

#[test]
fn count_tokens_costs_zero() {
    let t = PriceTable::bundled();
    let c = t
        .cost(
            CostBasis::Anthropic,
            "claude-sonnet-4-5-20250929",
            &[],
            &usage(2095, 0),
            ResponseFormat::CountTokens,
        )
        .unwrap();
    assert_eq!(
        (c.nanodollars, c.basis.as_str()),
        (0, "anthropic/claude-sonnet-4-5")
    );
}

#[test]
fn price_files_override_whole_entries_and_bad_files_are_refused() {
    let mut t = PriceTable::bundled();
    let over = PriceTable::from_json(
        r#"{"updated":"2099-01-01","bases":{"anthropic":{"claude-sonnet-4-6":{"input":"0.000001","output":"0.000002"}},"azure":{"gpt-5":{"input":"1.25e-6","output":0.00001}}}}"#,
    )
    .unwrap();
    t.merge(over);
    assert_eq!(t.updated(), "2099-01-01");
    let u = Usage {
        input: 1_000_000,
        cache_read: 1_000_000,
        ..Usage::default()
    };
    // The replaced entry has no cache-read price: reads fall back to input.
    assert_eq!(
        nanos(&t, CostBasis::Anthropic, "claude-sonnet-4-6", &u),
        Some(2_000_000_000)
    );
    assert_eq!(
        nanos(&t, CostBasis::Azure, "gpt-5", &usage(1_000_000, 1_000_000)),
        Some(11_250_000_000)
    );
    // Web searches without a web_search price: no cost.
    let searches = Usage {
        web_search: 1,
        ..Usage::default()
    };
    assert_eq!(
        nanos(&t, CostBasis::Anthropic, "claude-sonnet-4-6", &searches),
        None
    );

    for (bad, what) in [
        (
            r#"{"bases":{"a":{"m":{"ouput":"1"}}}}"#,
            "unknown price key",
        ),
        (r#"{"bases":{"a":{"m":{"input":"-1"}}}}"#, "non-negative"),
        (
            r#"{"bases":{"a":{"m":{"input":"0.0000000000000000001"}}}}"#,
            "18 places",
        ),
        (r#"{"bases":{"a":{"m":{"input":true}}}}"#, "decimal string"),
        (r#"{"bases":[]}"#, "bases"),
        ("not json", "expected"),
    ] {
        let err = PriceTable::from_json(bad).unwrap_err();
        assert!(err.to_string().contains(what), "{bad}: {err}");
        if what == "unknown price key" {
            assert!(matches!(err, PriceError::Price { ref key, .. } if key == "ouput"));
        }
    }
}
