//! Endpoint classification: method + path + headers → [`Endpoint`] (SPEC.md §3.2).

use aperture_config::CompatFlag;
use http::{HeaderMap, Method, header};

use crate::api::{ApiFormat, ApiType};
use crate::classify_error::ClassifyError;
use crate::path::{escapes_well_formed, has_encoded_separator, is_dot_or_empty, percent_decode};

/// The longest known endpoint has nine segments; longer paths never match.
const MAX_SEGMENTS: usize = 9;

/// Where the model of a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The top-level `model` member of the JSON body ([`crate::extract_body_model`]).
    Body,
    /// The model segment of the path, percent-decoded. Path models are bare only.
    Path(String),
    /// A stored OpenAI response (`/v1/responses/{id}…`), percent-decoded: the provider that
    /// produced it, else the sole granted `openai_responses` provider.
    ResponseId(String),
}

/// A classified inference request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The kind of endpoint.
    pub api_type: ApiType,
    /// The compatibility flag a provider needs to serve it.
    pub flag: CompatFlag,
    /// The envelope family for gateway-made errors.
    pub format: ApiFormat,
    /// Where the model comes from.
    pub model: ModelSource,
    /// The path to send upstream: as received (not decoded) minus a leading `/bedrock` or
    /// `/codex`. The query string is not part of it.
    pub upstream_path: String,
    /// The path alone says the answer streams (`:streamGenerateContent`,
    /// `invoke-with-response-stream`, `converse-stream`, `:streamRawPredict`).
    pub streaming_hint: bool,
}

/// What the path matched, before method and header checks.
struct Matched {
    api_type: ApiType,
    flag: CompatFlag,
    /// Which segment holds the model or response id, and the byte length of its model part.
    slot: Slot,
    streaming: bool,
    allow: &'static str,
}

enum Slot {
    Body,
    Path { seg: usize, len: usize },
    ResponseId { seg: usize },
}

impl Slot {
    fn model_segment(&self) -> Option<usize> {
        match self {
            Slot::Path { seg, .. } => Some(*seg),
            _ => None,
        }
    }
}

impl Endpoint {
    /// Classifies a request by method, path (`uri.path()`, without the query) and headers.
    ///
    /// Checks run in this order: paths outside `/v1/`, `/v1beta/`, `/v1beta1/`, `/bedrock/`,
    /// `/codex/` and `/chat/` are [`ClassifyError::NotGateway`]; then dot or empty segments and
    /// malformed `%` escapes ([`ClassifyError::BadPath`]); encoded `/` or `\` outside the model
    /// segment (`BadPath`); unknown paths ([`ClassifyError::NotFound`]);
    /// `Upgrade: websocket` ([`ClassifyError::WebSocket`]); the method
    /// ([`ClassifyError::MethodNotAllowed`]).
    ///
    /// `GET /v1/models` and `/v1/models/{id}` (SPEC.md §6.5) are not inference endpoints: the
    /// server answers them before classifying.
    ///
    /// ```
    /// use aperture_route::{ApiFormat, ApiType, ClassifyError, Endpoint, ModelSource};
    /// use http::{HeaderMap, Method, StatusCode};
    ///
    /// let headers = HeaderMap::new();
    /// let ep = Endpoint::classify(
    ///     &Method::POST,
    ///     "/bedrock/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream",
    ///     &headers,
    /// )?;
    /// assert_eq!(ep.api_type, ApiType::BedrockConverse);
    /// assert_eq!(ep.format, ApiFormat::Bedrock);
    /// assert_eq!(ep.model, ModelSource::Path("anthropic.claude-3-5-sonnet-20240620-v1:0".into()));
    /// assert_eq!(ep.upstream_path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
    /// assert!(ep.streaming_hint);
    ///
    /// let err = Endpoint::classify(&Method::POST, "/v1/nope", &headers).unwrap_err();
    /// assert_eq!(err.format(), Some(ApiFormat::OpenAi));
    /// assert_eq!(
    ///     err.status_and_message(),
    ///     (StatusCode::NOT_FOUND, "unknown endpoint POST /v1/nope".to_string()),
    /// );
    /// # Ok::<(), ClassifyError>(())
    /// ```
    pub fn classify(
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Result<Endpoint, ClassifyError> {
        let Some(rest) = path.strip_prefix('/') else {
            return Err(ClassifyError::NotGateway);
        };
        let namespace = rest.split('/').find(|s| !is_dot_or_empty(s));
        let Some(ns_format) = namespace.and_then(|ns| namespace_format(ns, headers)) else {
            return Err(ClassifyError::NotGateway);
        };
        let bad_path = |format| Err(ClassifyError::BadPath { format });

        let mut segs = [""; MAX_SEGMENTS];
        let mut count = 0;
        for seg in rest.split('/') {
            if is_dot_or_empty(seg) || !escapes_well_formed(seg) {
                return bad_path(ns_format);
            }
            if let Some(slot) = segs.get_mut(count) {
                *slot = seg;
            }
            count += 1;
        }
        let matched = segs.get(..count).and_then(match_segments);
        let format = matched.as_ref().map_or(ns_format, |m| m.api_type.format());

        let model_seg = matched.as_ref().and_then(|m| m.slot.model_segment());
        let mut all = rest.split('/').enumerate();
        if all.any(|(i, seg)| Some(i) != model_seg && has_encoded_separator(seg)) {
            return bad_path(format);
        }
        let Some(m) = matched else {
            return Err(ClassifyError::NotFound {
                format,
                method: method.clone(),
                path: path.to_owned(),
            });
        };
        if is_websocket(headers) {
            return Err(ClassifyError::WebSocket { format });
        }
        let allowed = match m.allow {
            ALLOW_POST => method == Method::POST,
            _ => [Method::GET, Method::DELETE, Method::POST].contains(method),
        };
        if !allowed {
            return Err(ClassifyError::MethodNotAllowed {
                format,
                method: method.clone(),
                path: path.to_owned(),
                allow: m.allow,
            });
        }

        let decode = |seg: &str| percent_decode(seg).map(|s| s.into_owned());
        let model = match m.slot {
            Slot::Body => ModelSource::Body,
            Slot::Path { seg, len } => match segs[seg].get(..len).and_then(decode) {
                Some(model) => ModelSource::Path(model),
                None => return bad_path(format),
            },
            Slot::ResponseId { seg } => match decode(segs[seg]) {
                Some(id) => ModelSource::ResponseId(id),
                None => return bad_path(format),
            },
        };
        let upstream_path = match namespace {
            Some("bedrock" | "codex") => path.get(1 + segs[0].len()..).unwrap_or(path),
            _ => path,
        };
        Ok(Endpoint {
            api_type: m.api_type,
            flag: m.flag,
            format,
            model,
            upstream_path: upstream_path.to_owned(),
            streaming_hint: m.streaming,
        })
    }
}

/// The envelope for errors under an inference prefix, or `None` outside them (SPEC.md §7).
fn namespace_format(ns: &str, headers: &HeaderMap) -> Option<ApiFormat> {
    match ns {
        "v1" if headers.contains_key("anthropic-version") => Some(ApiFormat::Anthropic),
        "v1" | "codex" | "chat" => Some(ApiFormat::OpenAi),
        "v1beta" | "v1beta1" => Some(ApiFormat::Gemini),
        "bedrock" => Some(ApiFormat::Bedrock),
        _ => None,
    }
}

/// Whether any `Upgrade` header names the `websocket` protocol.
fn is_websocket(headers: &HeaderMap) -> bool {
    headers.get_all(header::UPGRADE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|p| {
                let name = p.trim().split('/').next().unwrap_or("");
                name.eq_ignore_ascii_case("websocket")
            })
        })
    })
}

const ALLOW_POST: &str = "POST";
const ALLOW_BY_ID: &str = "GET, DELETE, POST";

fn body(api_type: ApiType) -> Option<Matched> {
    Some(Matched {
        api_type,
        flag: api_type.flag(),
        slot: Slot::Body,
        streaming: false,
        allow: ALLOW_POST,
    })
}

/// The known endpoints. Literal segments win over `{id}` (`/v1/responses/compact`).
fn match_segments(s: &[&str]) -> Option<Matched> {
    use ApiType::*;
    match s {
        ["chat", "completions"] | ["v1", "chat", "completions"] => body(OaiCompletions),
        ["v1", "responses"]
        | ["v1", "responses", "compact" | "input_tokens"]
        | ["codex", "responses"]
        | ["codex", "responses", "compact"] => body(OaiResponses),
        ["v1", "responses", _] | ["v1", "responses", _, "cancel" | "input_items"] => {
            Some(Matched {
                api_type: OaiResponses,
                flag: OaiResponses.flag(),
                slot: Slot::ResponseId { seg: 2 },
                streaming: false,
                allow: ALLOW_BY_ID,
            })
        }
        ["v1", "messages"] => body(AntMessages),
        ["v1", "messages", "count_tokens"] => body(AntCountTokens),
        ["v1beta" | "v1", "models", last] => {
            let (len, action) = split_action(last)?;
            let streaming = match action {
                "generateContent" | "countTokens" => false,
                "streamGenerateContent" => true,
                _ => return None,
            };
            path_model(GeminiGenerateContent, 2, len, streaming)
        }
        ["bedrock", "model", m, action] => {
            let (api_type, streaming) = match *action {
                "invoke" | "count-tokens" => (BedrockInvoke, false),
                "invoke-with-response-stream" => (BedrockInvoke, true),
                "converse" => (BedrockConverse, false),
                "converse-stream" => (BedrockConverse, true),
                _ => return None,
            };
            path_model(api_type, 2, m.len(), streaming)
        }
        [
            "v1" | "v1beta1",
            "projects",
            _,
            "locations",
            _,
            "publishers",
            _,
            "models",
            last,
        ] => {
            let (len, action) = split_action(last)?;
            let (api_type, streaming) = match action {
                "generateContent" | "countTokens" => (VertexGenerateContent, false),
                "streamGenerateContent" => (VertexGenerateContent, true),
                "rawPredict" if &last[..len] == "count-tokens" => return body(VertexRawPredict),
                "rawPredict" => (VertexRawPredict, false),
                "streamRawPredict" => (VertexRawPredict, true),
                _ => return None,
            };
            path_model(api_type, 8, len, streaming)
        }
        ["v1" | "v1beta1", "publishers", "google", "models", last] => {
            let (len, action) = split_action(last)?;
            if !action.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            let mut m = path_model(
                VertexGenerateContent,
                4,
                len,
                action == "streamGenerateContent",
            )?;
            m.flag = CompatFlag::ExperimentalGeminiCliVertexCompat;
            Some(m)
        }
        _ => None,
    }
}

fn path_model(api_type: ApiType, seg: usize, len: usize, streaming: bool) -> Option<Matched> {
    Some(Matched {
        api_type,
        flag: api_type.flag(),
        slot: Slot::Path { seg, len },
        streaming,
        allow: ALLOW_POST,
    })
}

/// Splits `{m}:{action}` at the last `:`; both parts must be non-empty.
fn split_action(seg: &str) -> Option<(usize, &str)> {
    let (model, action) = seg.rsplit_once(':')?;
    (!model.is_empty() && !action.is_empty()).then_some((model.len(), action))
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
