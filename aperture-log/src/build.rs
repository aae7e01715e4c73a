//! Building a request's record once its response has ended (SPEC.md §8): status and error by
//! how it ended, usage and cost, the session id, and captures redacted as §8.3 says.
//!
//! The record layer of a gateway gathers a [`RequestHead`] when the request arrives and its
//! response head leaves, inner layers fill a [`crate::RecordSlot`], the usage observer yields an
//! [`Observation`]; [`build`] turns them into the [`RequestRecord`] a store keeps, under a
//! [`RecordPolicy`] derived from the config.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aperture_config::{CostAlias, CostBasis, FilterableHeader};
use http::HeaderMap;

use crate::pricing::PriceTable;
use crate::redact::{self, InstallKey};
use crate::store::{Cost, RequestRecord};
use crate::usage::{ResponseFormat, SessionHooks, SessionSource, session_id};
use crate::{Observation, SlotData, Usage};

/// What the record keeps and how it prices, from one config version.
#[derive(Debug, Clone)]
pub struct RecordPolicy {
    /// Prices: the bundled table with `gateway.price_file` merged over it.
    pub prices: Arc<PriceTable>,
    /// Every credential in the config ([`redact::configured_secrets`]), scrubbed from stored
    /// bodies.
    pub secrets: Arc<Secrets>,
    /// Each provider's `cost_basis` and `model_cost_map`.
    pub costs: Arc<HashMap<String, (Option<CostBasis>, Vec<CostAlias>)>>,
    /// Bodies and headers are kept (`database.retention` is not `"0"`).
    pub capture: bool,
    /// Tool calls are kept even without captures (`purge` does not name `tools`).
    pub keep_tools: bool,
    /// `gateway.capture.max_body_bytes`.
    pub max_body_bytes: usize,
    /// `database.filterable_headers`.
    pub filterable_headers: Vec<FilterableHeader>,
}

/// Secret byte strings; `Debug` never shows them.
#[derive(Clone, Default)]
pub struct Secrets(pub Vec<Vec<u8>>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets([{} REDACTED])", self.0.len())
    }
}

/// What is known of a request by the time its response head leaves the gateway.
#[derive(Debug)]
pub struct RequestHead {
    /// `req_<ULID>`.
    pub id: String,
    /// Arrival, unix milliseconds.
    pub time_ms: i64,
    /// Arrival.
    pub start: Instant,
    /// The method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query with secret values redacted ([`redact::query`]).
    pub query: Option<String>,
    /// The query as sent, only to find credentials to scrub; never stored.
    pub raw_query: Option<String>,
    /// The API type (`anthropic_messages`, …).
    pub api_type: &'static str,
    /// How the response is read for usage, when it can be.
    pub format: Option<ResponseFormat>,
    /// The request headers as received.
    pub request_headers: HeaderMap,
    /// The response status (0 until the head).
    pub status: u16,
    /// The response headers.
    pub response_headers: HeaderMap,
    /// The message of an error the gateway answered itself.
    pub gateway_error: Option<String>,
}

/// How a response body ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The whole body went out.
    Complete,
    /// The body failed (upstream error, stream idle timeout).
    Failed(String),
    /// The client went away first (499).
    ClientGone,
}

/// Builds the record of `head` from what the slot, the observer and the outcome say. `now` is
/// when the response ended; `first_byte` when its first body byte went out.
#[allow(clippy::too_many_arguments)]
pub fn build(
    head: RequestHead,
    slot: &SlotData,
    observation: Option<&Observation>,
    first_byte: Option<Instant>,
    now: Instant,
    outcome: &Outcome,
    policy: &RecordPolicy,
    key: &InstallKey,
    hooks: &SessionHooks<'_>,
) -> RequestRecord {
    let (status, error) = match outcome {
        Outcome::Complete => (head.status, head.gateway_error.clone()),
        Outcome::Failed(e) => (head.status, Some(e.clone())),
        Outcome::ClientGone => (499, Some("client closed the connection".to_string())),
    };
    let missing = Observation {
        usage: Usage {
            usage_missing: true,
            ..Usage::default()
        },
        ..Observation::default()
    };
    let observation = observation.unwrap_or(&missing);
    let error = error.or_else(|| observation.stream_error.clone());
    let login = slot.identity.as_ref().map_or("", |i| i.login.as_str());
    let cost = cost(policy, &head, slot, &observation.usage);
    let request_body = slot.request_body.clone().unwrap_or_default();
    let (session, session_source) = match head.format {
        Some(f) => session_id(
            &head.request_headers,
            &request_body,
            f,
            login,
            &slot.provider,
            hooks,
        ),
        None => (String::new(), SessionSource::Random),
    };
    let capture = policy.capture;
    let cap = policy.max_body_bytes;
    let mut secrets = redact::client_credentials(&head.request_headers, head.raw_query.as_deref());
    secrets.extend(policy.secrets.0.iter().cloned());
    let (request_body, request_truncated) = redact::body(&request_body, &secrets, cap);
    let response_json = observation
        .response_body
        .as_ref()
        .filter(|_| capture)
        .and_then(|v| serde_json::to_vec(v).ok());
    let (response_body, response_truncated) = response_json
        .map(|b| redact::body(&b, &secrets, cap))
        .unwrap_or((Vec::new(), false));
    let header = |h: &HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    RequestRecord {
        time_ms: head.time_ms,
        identity: slot.identity.clone().unwrap_or_default(),
        provider: slot.provider.clone(),
        model: slot.model.clone(),
        requested_model: slot.requested_model.clone(),
        api_type: head.api_type.to_string(),
        status,
        error: error.map(|e| aperture_config::scrub_secrets(&e)),
        duration_ms: ms(now - head.start),
        ttfb_ms: first_byte.map(|t| ms(t - head.start)),
        stream: observation.stream,
        incomplete: observation.incomplete || *outcome == Outcome::ClientGone,
        upstream_request_id: ["request-id", "x-request-id", "x-amzn-requestid"]
            .iter()
            .find_map(|h| header(&head.response_headers, h)),
        usage: observation.usage.clone(),
        cost,
        session_id: session,
        session_source: session_source.as_str().to_string(),
        user_agent: header(&head.request_headers, "user-agent"),
        tool_calls: if policy.keep_tools {
            observation
                .tool_calls
                .iter()
                .map(|t| redact::tool_call(t, &secrets))
                .collect()
        } else {
            Vec::new()
        },
        request_headers: if capture {
            redact::headers(&head.request_headers, key)
        } else {
            Vec::new()
        },
        response_headers: if capture {
            redact::headers(&head.response_headers, key)
        } else {
            Vec::new()
        },
        request_body: (capture && !request_body.is_empty()).then_some(request_body),
        request_body_truncated: request_truncated,
        response_body: (capture && !response_body.is_empty()).then_some(response_body),
        response_body_truncated: response_truncated,
        indexed_headers: if capture {
            redact::indexed(
                &head.request_headers,
                &head.response_headers,
                &policy.filterable_headers,
            )
        } else {
            Vec::new()
        },
        id: head.id,
        method: head.method,
        path: head.path,
        query: head.query,
    }
}

/// The price of the request, when its provider has a cost basis and the gateway did not answer
/// it itself.
fn cost(policy: &RecordPolicy, head: &RequestHead, slot: &SlotData, usage: &Usage) -> Option<Cost> {
    if head.gateway_error.is_some() {
        return None;
    }
    let (basis, aliases) = policy.costs.get(&slot.provider)?;
    policy
        .prices
        .cost((*basis)?, &slot.model, aliases, usage, head.format?)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordIdentity;
    use bytes::Bytes;

    const SECRET: &str = "sk-config-secret-0123456789";

    fn policy(capture: bool) -> RecordPolicy {
        RecordPolicy {
            prices: Arc::new(PriceTable::bundled()),
            secrets: Arc::new(Secrets(vec![SECRET.as_bytes().to_vec()])),
            costs: Arc::new(HashMap::from([(
                "openai".to_string(),
                (Some(CostBasis::Openai), Vec::new()),
            )])),
            capture,
            keep_tools: capture,
            max_body_bytes: 1 << 20,
            filterable_headers: Vec::new(),
        }
    }

    fn head(gateway_error: Option<&str>) -> RequestHead {
        let mut request_headers = HeaderMap::new();
        request_headers.insert(
            "authorization",
            "Bearer sk-client-token-0001".parse().unwrap(),
        );
        RequestHead {
            id: "req_1".into(),
            time_ms: 1,
            start: Instant::now(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            query: None,
            raw_query: None,
            api_type: "openai_chat",
            format: Some(ResponseFormat::OpenAiChat),
            request_headers,
            status: 200,
            response_headers: HeaderMap::new(),
            gateway_error: gateway_error.map(str::to_string),
        }
    }

    fn slot() -> SlotData {
        let body = format!(r#"{{"model":"gpt-5","note":"{SECRET} and sk-client-token-0001"}}"#);
        SlotData {
            identity: Some(RecordIdentity {
                login: "alice".into(),
                ..RecordIdentity::default()
            }),
            provider: "openai".into(),
            model: "gpt-5".into(),
            request_body: Some(Bytes::from(body)),
            ..SlotData::default()
        }
    }

    fn record(
        head: RequestHead,
        observation: Option<&Observation>,
        outcome: Outcome,
        capture: bool,
    ) -> RequestRecord {
        let key = InstallKey::ephemeral();
        let hmac = |d: &[u8]| key.hmac(d);
        let random = || key.random16();
        let hooks = SessionHooks {
            hmac: &hmac,
            random: &random,
            previous_response: None,
        };
        let now = Instant::now();
        build(
            head,
            &slot(),
            observation,
            None,
            now,
            &outcome,
            &policy(capture),
            &key,
            &hooks,
        )
    }

    fn used(input: u64, output: u64) -> Observation {
        Observation {
            usage: Usage {
                input,
                output,
                ..Usage::default()
            },
            ..Observation::default()
        }
    }

    #[test]
    fn a_completed_request_is_priced_and_its_secrets_scrubbed() {
        let r = record(head(None), Some(&used(1000, 100)), Outcome::Complete, true);
        assert_eq!((r.status, r.incomplete), (200, false));
        assert_eq!(r.identity.login, "alice");
        assert!(r.cost.is_some_and(|c| c.nanodollars > 0));
        let body = String::from_utf8(r.request_body.unwrap()).unwrap();
        assert!(
            !body.contains(SECRET) && !body.contains("sk-client-token-0001"),
            "{body}"
        );
        assert!(body.contains("[REDACTED]"));
        let auth = r
            .request_headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap();
        assert!(auth.1.starts_with("[REDACTED:fp="), "{auth:?}");
    }

    #[test]
    fn a_client_that_left_is_a_499_and_a_gateway_refusal_costs_nothing() {
        let r = record(head(None), None, Outcome::ClientGone, true);
        assert_eq!((r.status, r.incomplete), (499, true));
        assert!(r.usage.usage_missing);
        let r = record(
            head(Some("no route")),
            Some(&used(10, 10)),
            Outcome::Complete,
            true,
        );
        assert_eq!(r.error.as_deref(), Some("no route"));
        assert!(r.cost.is_none());
    }

    #[test]
    fn without_captures_no_body_or_header_is_kept_but_usage_is() {
        let r = record(head(None), Some(&used(5, 7)), Outcome::Complete, false);
        assert!(r.request_body.is_none() && r.request_headers.is_empty());
        assert_eq!((r.usage.input, r.usage.output), (5, 7));
    }
}
