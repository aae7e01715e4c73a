//! Every endpoint row of SPEC.md §3.2.

use aperture_config::CompatFlag;
use http::{HeaderMap, Method};

use super::*;

fn post(path: &str) -> Result<Endpoint, ClassifyError> {
    Endpoint::classify(&Method::POST, path, &HeaderMap::new())
}

fn ok(method: Method, path: &str) -> Endpoint {
    match Endpoint::classify(&method, path, &HeaderMap::new()) {
        Ok(e) => e,
        Err(e) => panic!("{method} {path}: {e:?}"),
    }
}

fn err(method: Method, path: &str) -> ClassifyError {
    match Endpoint::classify(&method, path, &HeaderMap::new()) {
        Ok(e) => panic!("{method} {path} classified: {e:?}"),
        Err(e) => e,
    }
}

/// (path, api_type, flag, model, upstream path, streaming)
fn check(path: &str, t: ApiType, flag: CompatFlag, model: ModelSource, up: &str, stream: bool) {
    let e = ok(Method::POST, path);
    assert_eq!(e.api_type, t, "{path}");
    assert_eq!(e.flag, flag, "{path}");
    assert_eq!(e.format, t.format(), "{path}");
    assert_eq!(e.model, model, "{path}");
    assert_eq!(e.upstream_path, up, "{path}");
    assert_eq!(e.streaming_hint, stream, "{path}");
}

fn p(m: &str) -> ModelSource {
    ModelSource::Path(m.into())
}

#[test]
fn openai_chat_rows() {
    use ModelSource::Body;
    for path in ["/v1/chat/completions", "/chat/completions"] {
        check(
            path,
            ApiType::OaiCompletions,
            CompatFlag::OpenaiChat,
            Body,
            path,
            false,
        );
    }
}

#[test]
fn openai_responses_body_rows() {
    use ModelSource::Body;
    let f = CompatFlag::OpenaiResponses;
    for path in [
        "/v1/responses",
        "/v1/responses/compact",
        "/v1/responses/input_tokens",
    ] {
        check(path, ApiType::OaiResponses, f, Body, path, false);
    }
    check(
        "/codex/responses",
        ApiType::OaiResponses,
        f,
        Body,
        "/responses",
        false,
    );
    check(
        "/codex/responses/compact",
        ApiType::OaiResponses,
        f,
        Body,
        "/responses/compact",
        false,
    );
}

#[test]
fn openai_responses_by_id_rows() {
    for method in [Method::GET, Method::DELETE, Method::POST] {
        for path in [
            "/v1/responses/resp_123",
            "/v1/responses/resp_123/cancel",
            "/v1/responses/resp_123/input_items",
        ] {
            let e = ok(method.clone(), path);
            assert_eq!(e.api_type, ApiType::OaiResponses);
            assert_eq!(e.flag, CompatFlag::OpenaiResponses);
            assert_eq!(
                e.model,
                ModelSource::ResponseId("resp_123".into()),
                "{path}"
            );
            assert_eq!(e.upstream_path, path);
        }
    }
    let e = ok(Method::GET, "/v1/responses/resp%5F1");
    assert_eq!(e.model, ModelSource::ResponseId("resp_1".into()));
    assert_eq!(e.upstream_path, "/v1/responses/resp%5F1");
    // Literal segments win over an id; they are POST-only.
    let e = err(Method::GET, "/v1/responses/compact");
    assert!(
        matches!(e, ClassifyError::MethodNotAllowed { allow: "POST", .. }),
        "{e:?}"
    );
    let e = err(Method::PUT, "/v1/responses/resp_1");
    assert!(
        matches!(
            e,
            ClassifyError::MethodNotAllowed {
                allow: "GET, DELETE, POST",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(matches!(
        err(Method::GET, "/v1/responses/r/other"),
        ClassifyError::NotFound { .. }
    ));
    assert!(matches!(
        err(Method::GET, "/codex/responses/r"),
        ClassifyError::NotFound { .. }
    ));
}

#[test]
fn anthropic_rows() {
    use ModelSource::Body;
    let f = CompatFlag::AnthropicMessages;
    check(
        "/v1/messages",
        ApiType::AntMessages,
        f,
        Body,
        "/v1/messages",
        false,
    );
    let path = "/v1/messages/count_tokens";
    check(path, ApiType::AntCountTokens, f, Body, path, false);
}

#[test]
fn gemini_rows() {
    let f = CompatFlag::GeminiGenerateContent;
    let t = ApiType::GeminiGenerateContent;
    for v in ["v1beta", "v1"] {
        for (action, stream) in [
            ("generateContent", false),
            ("streamGenerateContent", true),
            ("countTokens", false),
        ] {
            let path = format!("/{v}/models/gemini-2.5-pro:{action}");
            check(&path, t, f, p("gemini-2.5-pro"), &path, stream);
        }
    }
    // The model is percent-decoded and split at the last colon; encoded `/` is fine there.
    let path = "/v1beta/models/qwen%2Fqwen3%3Av1:generateContent";
    check(path, t, f, p("qwen/qwen3:v1"), path, false);
    check(
        "/v1beta/models/a:b:countTokens",
        t,
        f,
        p("a:b"),
        "/v1beta/models/a:b:countTokens",
        false,
    );
    for bad in [
        "/v1beta/models/gemini:embedContent",
        "/v1beta/models/gemini",
        "/v1beta/models/:generateContent",
        "/v1beta/models/gemini:",
        "/v1beta/tunedModels/x:generateContent",
    ] {
        assert!(
            matches!(post(bad), Err(ClassifyError::NotFound { .. })),
            "{bad}"
        );
    }
}

#[test]
fn bedrock_rows() {
    let m = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";
    let decoded = p("anthropic.claude-3-5-sonnet-20240620-v1:0");
    for (action, t, flag, stream) in [
        (
            "invoke",
            ApiType::BedrockInvoke,
            CompatFlag::BedrockModelInvoke,
            false,
        ),
        (
            "invoke-with-response-stream",
            ApiType::BedrockInvoke,
            CompatFlag::BedrockModelInvoke,
            true,
        ),
        (
            "count-tokens",
            ApiType::BedrockInvoke,
            CompatFlag::BedrockModelInvoke,
            false,
        ),
        (
            "converse",
            ApiType::BedrockConverse,
            CompatFlag::BedrockConverse,
            false,
        ),
        (
            "converse-stream",
            ApiType::BedrockConverse,
            CompatFlag::BedrockConverse,
            true,
        ),
    ] {
        let path = format!("/bedrock/model/{m}/{action}");
        let up = format!("/model/{m}/{action}");
        check(&path, t, flag, decoded.clone(), &up, stream);
    }
    assert!(matches!(
        post("/bedrock/model/m/converse-foo"),
        Err(ClassifyError::NotFound { .. })
    ));
    // Without the /bedrock prefix this is not a gateway path.
    assert_eq!(post("/model/m/invoke"), Err(ClassifyError::NotGateway));
}

#[test]
fn vertex_rows() {
    let t = ApiType::VertexGenerateContent;
    let raw = ApiType::VertexRawPredict;
    for v in ["v1", "v1beta1"] {
        let prefix = format!("/{v}/projects/my-proj/locations/us-east5/publishers");
        for (action, stream) in [
            ("generateContent", false),
            ("streamGenerateContent", true),
            ("countTokens", false),
        ] {
            let path = format!("{prefix}/google/models/gemini-2.5-pro:{action}");
            let f = CompatFlag::GoogleGenerateContent;
            check(&path, t, f, p("gemini-2.5-pro"), &path, stream);
        }
        for (action, stream) in [("rawPredict", false), ("streamRawPredict", true)] {
            let path = format!("{prefix}/anthropic/models/claude-sonnet-4-5%4020250929:{action}");
            let f = CompatFlag::GoogleRawPredict;
            check(
                &path,
                raw,
                f,
                p("claude-sonnet-4-5@20250929"),
                &path,
                stream,
            );
        }
        let path = format!("{prefix}/anthropic/models/count-tokens:rawPredict");
        check(
            &path,
            raw,
            CompatFlag::GoogleRawPredict,
            ModelSource::Body,
            &path,
            false,
        );
    }
}

#[test]
fn gemini_cli_vertex_rows() {
    let f = CompatFlag::ExperimentalGeminiCliVertexCompat;
    for v in ["v1", "v1beta1"] {
        for (action, stream) in [
            ("generateContent", false),
            ("streamGenerateContent", true),
            ("countTokens", false),
        ] {
            let path = format!("/{v}/publishers/google/models/gemini-2.5-flash:{action}");
            let model = p("gemini-2.5-flash");
            check(
                &path,
                ApiType::VertexGenerateContent,
                f,
                model,
                &path,
                stream,
            );
        }
    }
    let e = post("/v1/publishers/anthropic/models/claude:rawPredict");
    assert!(matches!(e, Err(ClassifyError::NotFound { .. })), "{e:?}");
    let e = post("/v1/publishers/google/models/gemini:bad-action");
    assert!(matches!(e, Err(ClassifyError::NotFound { .. })), "{e:?}");
}

#[test]
fn too_many_segments_never_match() {
    let path = "/v1/projects/p/locations/l/publishers/g/models/m:generateContent/extra";
    assert!(matches!(post(path), Err(ClassifyError::NotFound { .. })));
}
