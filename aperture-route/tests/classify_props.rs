//! Property tests: generated endpoint paths classify to the right api type and model; any path
//! classifies without panicking and within the documented invariants.

use aperture_config::CompatFlag;
use aperture_route::{ApiType, ClassifyError, Endpoint, ModelSource};
use http::{HeaderMap, Method};
use proptest::prelude::*;

/// Percent-encodes what a path segment cannot hold as is; `/` always, `:` when asked.
fn encode(model: &str, encode_colon: bool, lower_hex: bool) -> String {
    let mut out = String::new();
    for c in model.chars() {
        let keep = c.is_ascii_alphanumeric() || "-._~@".contains(c) || (c == ':' && !encode_colon);
        if keep {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                if lower_hex {
                    out.push_str(&format!("%{b:02x}"));
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

fn model() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        8 => prop::char::range('a', 'z'),
        2 => prop::char::range('0', '9'),
        1 => prop::sample::select(vec!['-', '.', '_', '@', ':', '/', '%', ' ', 'é', '\\']),
    ];
    prop::collection::vec(c, 1..30)
        .prop_map(String::from_iter)
        .prop_filter("dot segments are refused", |m| m != "." && m != "..")
}

fn seg() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,12}"
}

#[derive(Debug, Clone)]
enum Family {
    Gemini {
        v: &'static str,
    },
    Bedrock,
    Vertex {
        v: &'static str,
        project: String,
        location: String,
        publisher: String,
    },
    GeminiCli {
        v: &'static str,
    },
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        prop::sample::select(vec!["v1", "v1beta"]).prop_map(|v| Family::Gemini { v }),
        Just(Family::Bedrock),
        (
            prop::sample::select(vec!["v1", "v1beta1"]),
            seg(),
            seg(),
            seg()
        )
            .prop_map(|(v, project, location, publisher)| Family::Vertex {
                v,
                project,
                location,
                publisher
            }),
        prop::sample::select(vec!["v1", "v1beta1"]).prop_map(|v| Family::GeminiCli { v }),
    ]
}

/// The path, the upstream path, and the expected api type, flag and streaming hint.
fn build(f: &Family, m: &str, pick: usize) -> (String, String, ApiType, CompatFlag, bool) {
    use ApiType::*;
    let pick_of = |n: usize| pick % n;
    match f {
        Family::Gemini { v } => {
            let (a, s) = [
                ("generateContent", false),
                ("streamGenerateContent", true),
                ("countTokens", false),
            ][pick_of(3)];
            let path = format!("/{v}/models/{m}:{a}");
            (
                path.clone(),
                path,
                GeminiGenerateContent,
                CompatFlag::GeminiGenerateContent,
                s,
            )
        }
        Family::Bedrock => {
            let (a, t, flag, s) = [
                (
                    "invoke",
                    BedrockInvoke,
                    CompatFlag::BedrockModelInvoke,
                    false,
                ),
                (
                    "invoke-with-response-stream",
                    BedrockInvoke,
                    CompatFlag::BedrockModelInvoke,
                    true,
                ),
                (
                    "count-tokens",
                    BedrockInvoke,
                    CompatFlag::BedrockModelInvoke,
                    false,
                ),
                (
                    "converse",
                    BedrockConverse,
                    CompatFlag::BedrockConverse,
                    false,
                ),
                (
                    "converse-stream",
                    BedrockConverse,
                    CompatFlag::BedrockConverse,
                    true,
                ),
            ][pick_of(5)];
            (
                format!("/bedrock/model/{m}/{a}"),
                format!("/model/{m}/{a}"),
                t,
                flag,
                s,
            )
        }
        Family::Vertex {
            v,
            project,
            location,
            publisher,
        } => {
            let (a, t, flag, s) = [
                (
                    "generateContent",
                    VertexGenerateContent,
                    CompatFlag::GoogleGenerateContent,
                    false,
                ),
                (
                    "streamGenerateContent",
                    VertexGenerateContent,
                    CompatFlag::GoogleGenerateContent,
                    true,
                ),
                (
                    "countTokens",
                    VertexGenerateContent,
                    CompatFlag::GoogleGenerateContent,
                    false,
                ),
                (
                    "rawPredict",
                    VertexRawPredict,
                    CompatFlag::GoogleRawPredict,
                    false,
                ),
                (
                    "streamRawPredict",
                    VertexRawPredict,
                    CompatFlag::GoogleRawPredict,
                    true,
                ),
            ][pick_of(5)];
            let path = format!(
                "/{v}/projects/{project}/locations/{location}/publishers/{publisher}/models/{m}:{a}"
            );
            (path.clone(), path, t, flag, s)
        }
        Family::GeminiCli { v } => {
            let (a, s) = [
                ("generateContent", false),
                ("streamGenerateContent", true),
                ("embedContent", false),
            ][pick_of(3)];
            let path = format!("/{v}/publishers/google/models/{m}:{a}");
            let flag = CompatFlag::ExperimentalGeminiCliVertexCompat;
            (path.clone(), path, VertexGenerateContent, flag, s)
        }
    }
}

const PIECES: &[&str] = &[
    "v1",
    "v1beta",
    "v1beta1",
    "bedrock",
    "codex",
    "chat",
    "completions",
    "responses",
    "messages",
    "count_tokens",
    "models",
    "model",
    "projects",
    "locations",
    "publishers",
    "google",
    "invoke",
    "converse",
    "x:generateContent",
    "m:rawPredict",
    "count-tokens:rawPredict",
    "compact",
    "",
    ".",
    "..",
    "%2e",
    "%2F",
    "%5c",
    "%",
    "%zz",
    "%e2%82",
    "a%3Ab",
    "é",
    "_aperture_auto_vertex_project_id_",
];

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::HEAD,
    ])
}

fn check_invariants(method: &Method, path: &str, headers: &HeaderMap) -> Result<(), TestCaseError> {
    match Endpoint::classify(method, path, headers) {
        Ok(e) => {
            prop_assert!(
                path.ends_with(&e.upstream_path),
                "{path} -> {}",
                e.upstream_path
            );
            prop_assert!(e.upstream_path.starts_with('/'));
            prop_assert_eq!(e.format, e.api_type.format());
            if e.flag != CompatFlag::ExperimentalGeminiCliVertexCompat {
                prop_assert_eq!(e.flag, e.api_type.flag());
            }
            prop_assert!(
                !path
                    .split('/')
                    .skip(1)
                    .any(|s| s.is_empty() || s == "." || s == "..")
            );
        }
        Err(ClassifyError::NotGateway) => {
            let first = path.split('/').nth(1).unwrap_or("");
            let inference = ["v1", "v1beta", "v1beta1", "bedrock", "codex", "chat"];
            prop_assert!(
                !path.starts_with('/') || !inference.contains(&first),
                "{path}"
            );
        }
        Err(e) => {
            prop_assert!(e.format().is_some());
            let (status, message) = e.status_and_message();
            prop_assert!(status.is_client_error() || status.as_u16() == 501);
            prop_assert!(!message.is_empty());
            prop_assert_eq!(e.render().status, status);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_path_models_classify(
        f in family(),
        m in model(),
        pick in any::<usize>(),
        encode_colon in any::<bool>(),
        lower_hex in any::<bool>(),
    ) {
        let encoded = encode(&m, encode_colon, lower_hex);
        let (path, upstream, api_type, flag, streaming) = build(&f, &encoded, pick);
        let e = Endpoint::classify(&Method::POST, &path, &HeaderMap::new());
        let is_count_tokens = matches!(f, Family::Vertex { .. })
            && m == "count-tokens"
            && path.ends_with(":rawPredict");
        let e = e.map_err(|e| TestCaseError::fail(format!("{path}: {e:?}")))?;
        prop_assert_eq!(e.api_type, api_type);
        prop_assert_eq!(e.flag, flag);
        prop_assert_eq!(e.format, api_type.format());
        prop_assert_eq!(e.upstream_path, upstream);
        prop_assert_eq!(e.streaming_hint, streaming);
        if is_count_tokens {
            prop_assert_eq!(e.model, ModelSource::Body);
        } else {
            prop_assert_eq!(e.model, ModelSource::Path(m));
        }
    }

    #[test]
    fn body_endpoints_are_post_only(
        path in prop::sample::select(vec![
            ("/v1/chat/completions", ApiType::OaiCompletions),
            ("/chat/completions", ApiType::OaiCompletions),
            ("/v1/responses", ApiType::OaiResponses),
            ("/v1/responses/compact", ApiType::OaiResponses),
            ("/v1/responses/input_tokens", ApiType::OaiResponses),
            ("/codex/responses", ApiType::OaiResponses),
            ("/codex/responses/compact", ApiType::OaiResponses),
            ("/v1/messages", ApiType::AntMessages),
            ("/v1/messages/count_tokens", ApiType::AntCountTokens),
        ]),
        m in method(),
    ) {
        let (p, t) = path;
        match Endpoint::classify(&m, p, &HeaderMap::new()) {
            Ok(e) => {
                prop_assert_eq!(&m, &Method::POST);
                prop_assert_eq!(e.api_type, t);
                prop_assert_eq!(e.model, ModelSource::Body);
            }
            Err(ClassifyError::MethodNotAllowed { allow, .. }) => {
                prop_assert_ne!(&m, &Method::POST);
                prop_assert_eq!(allow, "POST");
            }
            Err(other) => prop_assert!(false, "{p}: {other:?}"),
        }
    }

    #[test]
    fn response_ids_round_trip(id in model(), m in method(), suffix in prop::sample::select(vec!["", "/cancel", "/input_items"])) {
        prop_assume!(id != "compact" && id != "input_tokens");
        let path = format!("/v1/responses/{}{suffix}", encode(&id, true, false));
        let got = Endpoint::classify(&m, &path, &HeaderMap::new());
        if id.contains(['/', '\\']) {
            // An id is not a model segment: encoded separators are refused there.
            let is_400 = matches!(got, Err(ClassifyError::BadPath { .. }));
            prop_assert!(is_400, "{path}: {got:?}");
        } else if [Method::GET, Method::DELETE, Method::POST].contains(&m) {
            let e = got.map_err(|e| TestCaseError::fail(format!("{path}: {e:?}")))?;
            prop_assert_eq!(e.model, ModelSource::ResponseId(id));
        } else {
            let is_405 = matches!(got, Err(ClassifyError::MethodNotAllowed { .. }));
            prop_assert!(is_405);
        }
    }

    #[test]
    fn pieced_paths_never_panic(
        pieces in prop::collection::vec(prop::sample::select(PIECES.to_vec()), 0..11),
        m in method(),
        ws in any::<bool>(),
        anthropic in any::<bool>(),
    ) {
        let path = format!("/{}", pieces.join("/"));
        let mut headers = HeaderMap::new();
        if ws {
            headers.insert("upgrade", http::HeaderValue::from_static("websocket"));
        }
        if anthropic {
            headers.insert("anthropic-version", http::HeaderValue::from_static("2023-06-01"));
        }
        check_invariants(&m, &path, &headers)?;
    }

    #[test]
    fn random_paths_never_panic(path in any::<String>(), m in method()) {
        check_invariants(&m, &path, &HeaderMap::new())?;
        check_invariants(&m, &format!("/{path}"), &HeaderMap::new())?;
        check_invariants(&m, &format!("/v1/{path}"), &HeaderMap::new())?;
    }
}
