//! The bundled price table, `cost_basis` and `model_cost_map` (SPEC.md §9).
//!
//! Prices are exact: the table's decimal strings become integer atto-dollars per token, the
//! `model_cost_map` adjustment becomes the exact decimal of its shortest text (`1.1` is 11/10),
//! and the cost is rounded half up to nanodollars once, at the end.
//!
//! Cost = Σ tokens × price, with `output` tokens minus `reasoning` at `output`, `reasoning` at
//! `reasoning` (else `output`), `web_search` × `web_search`; then × adjustment. A category with
//! tokens but no price falls back: cache reads and 5-minute writes to `input`, 1-hour writes to
//! `input_cache_write` then `input`, image input to `input`, image output to `output`; with no
//! price even then (and for searches without `web_search`), there is no cost. Token-counting
//! endpoints cost 0. Results past `u64::MAX` nanodollars saturate.

mod decimal;
mod table;

use aperture_config::{CostAlias, CostBasis};

use crate::record::Usage;
pub use crate::store::Cost;
use crate::usage::ResponseFormat;
pub use table::{BUNDLED_PRICES, ModelPrices, PriceError, PriceKey, PriceTable};

/// What a model is priced as, after `model_cost_map` and date stripping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced<'a> {
    /// The table's model id.
    pub model: &'a str,
    /// Its prices.
    pub prices: &'a ModelPrices,
    /// The `model_cost_map` adjustment (1.0 when no alias matched).
    pub adjustment: f64,
}

/// The model priced instead of `model` and the adjustment: the first matching alias, else the
/// model itself at 1.0.
pub fn apply_aliases<'a>(model: &'a str, aliases: &'a [CostAlias]) -> (&'a str, f64) {
    aliases
        .iter()
        .find(|a| a.pattern.matches(model))
        .map_or((model, 1.0), |a| (a.price_as.as_str(), a.adjustment))
}

impl PriceTable {
    /// The prices for a forwarded `model` under `basis`, after `model_cost_map`.
    pub fn resolve<'a>(
        &'a self,
        basis: CostBasis,
        model: &str,
        aliases: &[CostAlias],
    ) -> Option<Priced<'a>> {
        let (priced_as, adjustment) = apply_aliases(model, aliases);
        let (model, prices) = self.lookup(basis.name(), priced_as)?;
        Some(Priced {
            model,
            prices,
            adjustment,
        })
    }

    /// The cost of a request, or None when no price is known (or usage is missing).
    /// Token-counting endpoints cost 0 whatever the table says.
    pub fn cost(
        &self,
        basis: CostBasis,
        model: &str,
        aliases: &[CostAlias],
        usage: &Usage,
        format: ResponseFormat,
    ) -> Option<Cost> {
        if format.is_count_tokens() {
            let (priced_as, adjustment) = apply_aliases(model, aliases);
            let name = self
                .lookup(basis.name(), priced_as)
                .map_or(priced_as, |(m, _)| m);
            return Some(Cost {
                nanodollars: 0,
                basis: format!("{}/{name}", basis.name()),
                adjustment,
            });
        }
        if usage.usage_missing {
            return None;
        }
        let priced = self.resolve(basis, model, aliases)?;
        Some(Cost {
            nanodollars: nanodollars(priced.prices, usage, priced.adjustment)?,
            basis: format!("{}/{}", basis.name(), priced.model),
            adjustment: priced.adjustment,
        })
    }

    /// The per-token USD price strings for `GET /v1/models` `pricing`, after `model_cost_map`
    /// (adjusted exactly): only listed keys, in [`PriceKey::ALL`] order; empty when unknown.
    pub fn model_pricing(
        &self,
        basis: CostBasis,
        model: &str,
        aliases: &[CostAlias],
    ) -> Vec<(&'static str, String)> {
        let Some(priced) = self.resolve(basis, model, aliases) else {
            return Vec::new();
        };
        let (mant, scale) = decimal::from_f64(priced.adjustment).unwrap_or((1, 0));
        PriceKey::ALL
            .iter()
            .filter_map(|k| {
                let atto = priced.prices.atto(*k)?;
                let text = match atto.checked_mul(mant) {
                    Some(units) => decimal::format(units, decimal::ATTO_SCALE + scale),
                    None => decimal::format(atto, decimal::ATTO_SCALE),
                };
                Some((k.as_str(), text))
            })
            .collect()
    }
}

/// The exact cost in nanodollars, rounded half up; None when a used category has no price.
pub fn nanodollars(prices: &ModelPrices, usage: &Usage, adjustment: f64) -> Option<u64> {
    use PriceKey::*;
    let p = |k| prices.atto(k);
    let reasoning = usage.reasoning.min(usage.output);
    let terms = [
        (usage.input, p(Input)),
        (usage.output - reasoning, p(Output)),
        (reasoning, p(Reasoning).or(p(Output))),
        (usage.cache_read, p(InputCacheRead).or(p(Input))),
        (usage.cache_write_5m, p(InputCacheWrite).or(p(Input))),
        (
            usage.cache_write_1h,
            p(InputCacheWrite1h).or(p(InputCacheWrite)).or(p(Input)),
        ),
        (usage.image_input, p(ImageInput).or(p(Input))),
        (usage.image_output, p(ImageOutput).or(p(Output))),
        (usage.web_search, p(WebSearch)),
    ];
    let mut total: u128 = 0;
    for (count, price) in terms {
        if count == 0 {
            continue;
        }
        let term = u128::from(count).saturating_mul(price?);
        total = total.saturating_add(term);
    }
    let (mant, scale) = decimal::from_f64(adjustment).unwrap_or((1, 0));
    let divisor = decimal::pow10(decimal::ATTO_SCALE - decimal::NANO_SCALE + scale);
    let nanos = match (total.checked_mul(mant), divisor) {
        (Some(n), Some(d)) => decimal::div_half_up(n, d),
        _ => u128::MAX,
    };
    Some(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table_parses_and_is_dated() {
        let t = PriceTable::from_json(BUNDLED_PRICES).unwrap();
        assert!(!t.updated().is_empty());
        for basis in ["anthropic", "openai", "google", "vertex"] {
            assert!(t.lookup(basis, "nope").is_none());
        }
        assert!(t.lookup("anthropic", "claude-sonnet-4-6").is_some());
        assert_eq!(t, PriceTable::bundled());
    }
}
