//! Model name → provider (SPEC.md §3.3, steps 2–6).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use aperture_config::{CompatFlag, Compatibility, Config};
use http::StatusCode;

use crate::api::ApiFormat;
use crate::envelope::{ErrorKind, ErrorResponse};

/// The provider chosen for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The provider id.
    pub provider: String,
    /// The model sent upstream (the bare name for a qualified request).
    pub upstream_model: String,
    /// The model as the caller named it.
    pub requested_model: String,
    /// The caller named `provider/model`; a body model must then be spliced to
    /// `upstream_model`.
    pub qualified: bool,
}

/// Why no provider serves a model. Messages name the model as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// No enabled, routable provider lists the model: 404
    /// `no route found for model "{model}"`.
    NoRoute {
        /// The requested model.
        model: String,
    },
    /// Providers list it, but the caller may use none of them: 403
    /// `access denied: model "{model}" is not granted`.
    NotGranted {
        /// The requested model.
        model: String,
    },
    /// Granted providers list it, but none has the endpoint's flag on: 404
    /// `model "{model}" is not available on {path}: enable the {flag} compatibility flag`.
    FlagOff {
        /// The requested model.
        model: String,
        /// The endpoint's flag.
        flag: CompatFlag,
    },
}

impl RouteError {
    /// The status and message of the answer; `path` is the request path, named by
    /// [`RouteError::FlagOff`]'s message (the others ignore it).
    pub fn status_and_message(&self, path: &str) -> (StatusCode, String) {
        match self {
            Self::NoRoute { model } => (
                StatusCode::NOT_FOUND,
                format!("no route found for model \"{model}\""),
            ),
            Self::NotGranted { model } => (
                StatusCode::FORBIDDEN,
                format!("access denied: model \"{model}\" is not granted"),
            ),
            Self::FlagOff { model, flag } => (
                StatusCode::NOT_FOUND,
                format!(
                    "model \"{model}\" is not available on {path}: enable the {} compatibility \
                     flag",
                    flag.name()
                ),
            ),
        }
    }

    /// The whole answer in `format`'s envelope (an OpenAI 404 gets code `model_not_found`).
    pub fn render(&self, format: ApiFormat, path: &str) -> ErrorResponse {
        let (status, message) = self.status_and_message(path);
        ErrorResponse::new(format, status, &message, ErrorKind::Standard)
    }
}

/// The message, with `this endpoint` in place of the request path.
impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.status_and_message("this endpoint").1)
    }
}

impl std::error::Error for RouteError {}

/// One provider that can serve a model.
#[derive(Debug, Clone)]
struct Candidate {
    provider: String,
    preference: i64,
    compat: Compatibility,
}

/// An enabled, routable provider.
#[derive(Debug, Clone)]
struct Listing {
    candidate: Candidate,
    /// Its models in config order, duplicates removed.
    models: Vec<String>,
    model_set: HashSet<String>,
}

/// Enabled, routable providers indexed by model, built once per config.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// Candidates per model, best first: highest preference, then provider id.
    by_model: HashMap<String, Vec<Candidate>>,
    /// Providers by id.
    providers: BTreeMap<String, Listing>,
}

impl RouteTable {
    /// Indexes the enabled, routable providers of `config`.
    pub fn new(config: &Config) -> Self {
        let mut table = Self::default();
        for p in config.providers.values() {
            if p.disabled || !p.routable {
                continue;
            }
            let candidate = Candidate {
                provider: p.id.clone(),
                preference: p.preference,
                compat: p.compatibility,
            };
            let mut models = Vec::new();
            let mut model_set = HashSet::new();
            for m in &p.models {
                if model_set.insert(m.clone()) {
                    models.push(m.clone());
                    let list = table.by_model.entry(m.clone()).or_default();
                    list.push(candidate.clone());
                }
            }
            let listing = Listing {
                candidate,
                models,
                model_set,
            };
            table.providers.insert(p.id.clone(), listing);
        }
        for list in table.by_model.values_mut() {
            list.sort_by(|a, b| {
                (Reverse(a.preference), &a.provider).cmp(&(Reverse(b.preference), &b.provider))
            });
        }
        table
    }

    /// Chooses the provider for `requested` on an endpoint needing `flag`.
    ///
    /// Qualified first: when the text before the first `/` is a provider id whose models hold
    /// the rest, that provider is the only candidate and the rest goes upstream; otherwise the
    /// whole string must equal a listed model. Path models (`from_path`) are bare only. Then
    /// candidates the caller is not granted (`is_granted(provider id, upstream model)`) and
    /// those without `flag` drop out; the highest `preference` wins, ties going to the provider
    /// id first in byte order. Disabled and unroutable providers take part in none of this.
    ///
    /// ```
    /// use aperture_config::{load_str, CompatFlag, Mode};
    /// use aperture_route::{RouteError, RouteTable};
    ///
    /// let config = load_str(r#"{
    ///   "providers": {
    ///     "openrouter": { "baseurl": "https://openrouter.ai/api",
    ///                     "models": ["qwen/qwen3-235b-a22b-2507", "gpt-5"] },
    ///     "openai": { "baseurl": "https://api.openai.com", "models": ["gpt-5"],
    ///                 "preference": 10 },
    ///   },
    /// }"#, Mode::Load).config.unwrap();
    /// let table = RouteTable::new(&config);
    /// let everything = |_: &str, _: &str| true;
    ///
    /// let route = table.find("gpt-5", false, CompatFlag::OpenaiChat, everything)?;
    /// assert_eq!(route.provider, "openai"); // higher preference
    ///
    /// let route = table.find("openrouter/gpt-5", false, CompatFlag::OpenaiChat, everything)?;
    /// assert_eq!((route.provider.as_str(), route.upstream_model.as_str()), ("openrouter", "gpt-5"));
    /// assert!(route.qualified);
    ///
    /// // No provider is called `qwen`: the whole string is the model.
    /// let route = table.find("qwen/qwen3-235b-a22b-2507", false, CompatFlag::OpenaiChat, everything)?;
    /// assert!(!route.qualified);
    ///
    /// let only_openrouter = |provider: &str, _: &str| provider == "openrouter";
    /// let route = table.find("gpt-5", false, CompatFlag::OpenaiChat, only_openrouter)?;
    /// assert_eq!(route.provider, "openrouter");
    ///
    /// let err = table.find("gpt-5", false, CompatFlag::AnthropicMessages, everything).unwrap_err();
    /// assert_eq!(
    ///     err.status_and_message("/v1/messages").1,
    ///     r#"model "gpt-5" is not available on /v1/messages: enable the anthropic_messages compatibility flag"#,
    /// );
    /// # Ok::<(), RouteError>(())
    /// ```
    pub fn find(
        &self,
        requested: &str,
        from_path: bool,
        flag: CompatFlag,
        is_granted: impl Fn(&str, &str) -> bool,
    ) -> Result<Route, RouteError> {
        let qualified =
            requested
                .split_once('/')
                .filter(|_| !from_path)
                .and_then(|(provider, rest)| {
                    let listing = self.providers.get(provider)?;
                    listing.model_set.contains(rest).then_some((listing, rest))
                });
        let (candidates, upstream) = match qualified {
            Some((listing, rest)) => (std::slice::from_ref(&listing.candidate), rest),
            None => match self.by_model.get(requested) {
                Some(list) => (list.as_slice(), requested),
                None => (&[][..], requested),
            },
        };
        if candidates.is_empty() {
            return Err(RouteError::NoRoute {
                model: requested.to_owned(),
            });
        }
        let mut any_granted = false;
        for c in candidates {
            if !is_granted(&c.provider, upstream) {
                continue;
            }
            any_granted = true;
            if c.compat.get(flag) {
                return Ok(Route {
                    provider: c.provider.clone(),
                    upstream_model: upstream.to_owned(),
                    requested_model: requested.to_owned(),
                    qualified: qualified.is_some(),
                });
            }
        }
        let model = requested.to_owned();
        Err(if any_granted {
            RouteError::FlagOff { model, flag }
        } else {
            RouteError::NotGranted { model }
        })
    }

    /// Ids of the enabled, routable providers with `flag` on, sorted by id (for
    /// `/v1/responses/{id}`: the sole granted `openai_responses` provider).
    pub fn providers_for_flag(&self, flag: CompatFlag) -> Vec<&str> {
        self.providers
            .values()
            .filter(|l| l.candidate.compat.get(flag))
            .map(|l| l.candidate.provider.as_str())
            .collect()
    }

    /// The models of an enabled, routable provider, in config order; `None` for other ids.
    pub fn provider_models(&self, provider: &str) -> Option<&[String]> {
        self.providers.get(provider).map(|l| l.models.as_slice())
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
