//! The price table: `{"updated": "...", "bases": {"<basis>": {"<model>": {"<key>": "<USD per
//! token>"}}}}`, bundled and overridable by `gateway.price_file`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::decimal;

/// The bundled table's text.
pub const BUNDLED_PRICES: &str = include_str!("../../prices.json");

/// A price in the table (SPEC.md §6.5 keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriceKey {
    /// `input`: per input token.
    Input,
    /// `output`: per output token.
    Output,
    /// `input_cache_read`: per cache-read token.
    InputCacheRead,
    /// `input_cache_write`: per token written to the 5-minute cache.
    InputCacheWrite,
    /// `input_cache_write_1h`: per token written to the 1-hour cache.
    InputCacheWrite1h,
    /// `reasoning`: per reasoning token (else `output`).
    Reasoning,
    /// `image_input`: per image input token.
    ImageInput,
    /// `image_output`: per image output token.
    ImageOutput,
    /// `web_search`: per search.
    WebSearch,
}

impl PriceKey {
    /// Every key, in the order `/v1/models` lists them.
    pub const ALL: [PriceKey; 9] = [
        Self::Input,
        Self::Output,
        Self::InputCacheRead,
        Self::InputCacheWrite,
        Self::InputCacheWrite1h,
        Self::Reasoning,
        Self::ImageInput,
        Self::ImageOutput,
        Self::WebSearch,
    ];

    /// The JSON key.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Output => "output",
            Self::InputCacheRead => "input_cache_read",
            Self::InputCacheWrite => "input_cache_write",
            Self::InputCacheWrite1h => "input_cache_write_1h",
            Self::Reasoning => "reasoning",
            Self::ImageInput => "image_input",
            Self::ImageOutput => "image_output",
            Self::WebSearch => "web_search",
        }
    }

    /// Parses a JSON key.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One model's prices, exact, in atto-dollars (10⁻¹⁸ $) per token (per search for
/// `web_search`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelPrices {
    prices: BTreeMap<PriceKey, u128>,
}

impl ModelPrices {
    /// A price in atto-dollars, if listed.
    pub fn atto(&self, key: PriceKey) -> Option<u128> {
        self.prices.get(&key).copied()
    }

    /// Sets a price in atto-dollars.
    pub fn set_atto(&mut self, key: PriceKey, atto: u128) {
        self.prices.insert(key, atto);
    }

    /// The listed prices as USD decimal strings (`"0.000003"`), in [`PriceKey::ALL`] order.
    pub fn strings(&self) -> Vec<(PriceKey, String)> {
        self.prices
            .iter()
            .map(|(k, v)| (*k, decimal::format(*v, decimal::ATTO_SCALE)))
            .collect()
    }
}

/// Why a price table was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PriceError {
    /// Not JSON, or not the table's shape.
    #[error("price table: {0}")]
    Shape(String),
    /// A bad price.
    #[error("price table: bases.{basis}.{model}.{key}: {reason}")]
    Price {
        /// The basis.
        basis: String,
        /// The model.
        model: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// The table: per cost basis, per model, the prices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceTable {
    updated: String,
    bases: BTreeMap<String, BTreeMap<String, ModelPrices>>,
}

impl PriceTable {
    /// The bundled table (compiled in; a table that fails to parse is caught by tests, and would
    /// yield an empty table rather than a panic).
    pub fn bundled() -> Self {
        Self::from_json(BUNDLED_PRICES).unwrap_or_default()
    }

    /// Parses a table. Prices are strings (or JSON numbers) of USD per token with at most 18
    /// decimal places; unknown price keys are refused; a top-level `notes` string is allowed.
    pub fn from_json(text: &str) -> Result<Self, PriceError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| PriceError::Shape(e.to_string()))?;
        let Value::Object(top) = doc else {
            return Err(PriceError::Shape("expected an object".into()));
        };
        let mut table = Self::default();
        for (key, value) in top {
            match (key.as_str(), value) {
                ("updated", Value::String(s)) => table.updated = s,
                ("notes", Value::String(_)) => {}
                ("bases", Value::Object(bases)) => {
                    for (basis, models) in bases {
                        let Value::Object(models) = models else {
                            return Err(PriceError::Shape(format!(
                                "bases.{basis}: expected an object"
                            )));
                        };
                        let entry = table.bases.entry(basis.clone()).or_default();
                        for (model, prices) in models {
                            let parsed = parse_model(&basis, &model, prices)?;
                            entry.insert(model, parsed);
                        }
                    }
                }
                (k, _) => return Err(PriceError::Shape(format!("unexpected or mistyped {k:?}"))),
            }
        }
        Ok(table)
    }

    /// Overrides this table with `other`: each model entry of `other` replaces the same
    /// (basis, model) entry whole; `updated` becomes the later date.
    pub fn merge(&mut self, other: PriceTable) {
        if other.updated > self.updated {
            self.updated = other.updated;
        }
        for (basis, models) in other.bases {
            self.bases.entry(basis).or_default().extend(models);
        }
    }

    /// The table's date (`YYYY-MM-DD`), empty when not given.
    pub fn updated(&self) -> &str {
        &self.updated
    }

    /// Sets one model's prices.
    pub fn insert(&mut self, basis: &str, model: &str, prices: ModelPrices) {
        self.bases
            .entry(basis.to_string())
            .or_default()
            .insert(model.to_string(), prices);
    }

    /// The prices of `model` under `basis`: exact id first, then without a trailing date
    /// (`-20250929`, `@20250929`, `-2025-09-29`). Returns the table's model id with them.
    pub fn lookup(&self, basis: &str, model: &str) -> Option<(&str, &ModelPrices)> {
        let models = self.bases.get(basis)?;
        let found = models
            .get_key_value(model)
            .or_else(|| strip_date(model).and_then(|m| models.get_key_value(m)))?;
        Some((found.0.as_str(), found.1))
    }
}

fn parse_model(basis: &str, model: &str, prices: Value) -> Result<ModelPrices, PriceError> {
    let err = |key: &str, reason: &str| PriceError::Price {
        basis: basis.to_string(),
        model: model.to_string(),
        key: key.to_string(),
        reason: reason.to_string(),
    };
    let Value::Object(prices) = prices else {
        return Err(err("", "expected an object of prices"));
    };
    let mut out = ModelPrices::default();
    for (key, value) in prices {
        let k = PriceKey::parse(&key).ok_or_else(|| err(&key, "unknown price key"))?;
        let text = match &value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(err(&key, "expected a decimal string")),
        };
        let atto = decimal::parse_atto(text.trim()).ok_or_else(|| {
            err(
                &key,
                "expected a non-negative decimal with at most 18 places",
            )
        })?;
        out.set_atto(k, atto);
    }
    Ok(out)
}

/// `model` without a trailing `-YYYYMMDD`, `@YYYYMMDD` or `-YYYY-MM-DD`.
pub(crate) fn strip_date(model: &str) -> Option<&str> {
    let b = model.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    if n > 9 && matches!(b[n - 9], b'-' | b'@') && digits(&b[n - 8..]) {
        return Some(&model[..n - 9]);
    }
    if n > 11
        && b[n - 11] == b'-'
        && digits(&b[n - 10..n - 6])
        && b[n - 6] == b'-'
        && digits(&b[n - 5..n - 3])
        && b[n - 3] == b'-'
        && digits(&b[n - 2..])
    {
        return Some(&model[..n - 11]);
    }
    None
}
