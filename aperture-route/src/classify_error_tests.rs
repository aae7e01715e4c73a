//! Every `ClassifyError` variant, its status, message, format and rendering.

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::{ApiFormat, ClassifyError, Endpoint, ModelSource};

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

fn p(m: &str) -> ModelSource {
    ModelSource::Path(m.into())
}

#[test]
fn not_gateway_paths() {
    for path in [
        "/",
        "/healthz",
        "/api/hello",
        "/ui/",
        "/metrics",
        "/v2/x",
        "",
        "*",
        "/./x",
    ] {
        assert_eq!(post(path), Err(ClassifyError::NotGateway), "{path:?}");
    }
    let e = ClassifyError::NotGateway.render();
    assert_eq!(e.status, StatusCode::NOT_FOUND);
    assert_eq!(e.body, r#"{"error":"not found"}"#);
}

#[test]
fn not_found_under_prefixes() {
    for (path, format) in [
        ("/v1/nope", ApiFormat::OpenAi),
        ("/v1", ApiFormat::OpenAi),
        ("/v1beta/nope", ApiFormat::Gemini),
        ("/v1beta1/nope", ApiFormat::Gemini),
        ("/bedrock/nope", ApiFormat::Bedrock),
        ("/codex/nope", ApiFormat::OpenAi),
        ("/chat/nope", ApiFormat::OpenAi),
        ("/v1/models/gpt-5", ApiFormat::OpenAi),
    ] {
        let e = err(Method::POST, path);
        assert_eq!(e.format(), Some(format), "{path}");
        let (status, message) = e.status_and_message();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(message, format!("unknown endpoint POST {path}"));
    }
    let r = err(Method::POST, "/v1/nope").render();
    assert_eq!(
        r.body,
        r#"{"error":{"message":"unknown endpoint POST /v1/nope","type":"invalid_request_error","param":null,"code":"unknown_url"}}"#
    );
}

#[test]
fn unknown_v1_answers_anthropic_callers_in_their_format() {
    let mut headers = HeaderMap::new();
    headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
    let e = Endpoint::classify(&Method::POST, "/v1/nope", &headers).unwrap_err();
    assert_eq!(e.format(), Some(ApiFormat::Anthropic));
    // Known endpoints keep their own format whatever the headers.
    let e = Endpoint::classify(&Method::GET, "/v1/chat/completions", &headers).unwrap_err();
    assert_eq!(e.format(), Some(ApiFormat::OpenAi));
}

#[test]
fn method_not_allowed() {
    for (method, path, format) in [
        (Method::GET, "/v1/chat/completions", ApiFormat::OpenAi),
        (Method::GET, "/v1/messages", ApiFormat::Anthropic),
        (
            Method::PUT,
            "/v1beta/models/g:generateContent",
            ApiFormat::Gemini,
        ),
        (Method::HEAD, "/bedrock/model/m/invoke", ApiFormat::Bedrock),
        (Method::DELETE, "/v1/responses", ApiFormat::OpenAi),
    ] {
        let e = err(method.clone(), path);
        assert_eq!(e.format(), Some(format), "{path}");
        assert!(
            matches!(e, ClassifyError::MethodNotAllowed { allow: "POST", .. }),
            "{e:?}"
        );
        let (status, message) = e.status_and_message();
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            message.contains(method.as_str()) && message.contains(path),
            "{message}"
        );
    }
    let r = err(Method::GET, "/v1/messages").render();
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers.iter().any(|(n, v)| n == "allow" && v == "POST"));
    assert!(
        r.body
            .starts_with(br#"{"type":"error","error":{"type":"invalid_request_error""#)
    );
}

#[test]
fn bad_paths() {
    for path in [
        "/v1/messages/",
        "/v1//messages",
        "//v1/messages",
        "/v1/./messages",
        "/v1/../v1/messages",
        "/v1/%2e%2E/messages",
        "/v1/chat%2Fcompletions",
        "/v1/messages%5cx",
        "/v1/responses/a%2Fb",
        "/v1/projects/p%2Fq/locations/l/publishers/google/models/g:generateContent",
        "/bedrock/model%2F/m/invoke",
        "/v1/messages%zz",
        "/v1beta/models/g%4:generateContent",
    ] {
        let e = err(Method::POST, path);
        assert!(matches!(e, ClassifyError::BadPath { .. }), "{path}: {e:?}");
        assert_eq!(e.status_and_message().0, StatusCode::BAD_REQUEST);
    }
    // The model segment itself may hold encoded separators.
    let e = ok(Method::POST, "/bedrock/model/a%2Fb%5Cc/invoke");
    assert_eq!(e.model, p("a/b\\c"));
    // A matched endpoint answers in its own format.
    let e = err(
        Method::POST,
        "/v1/projects/p%2F/locations/l/publishers/g/models/m:rawPredict",
    );
    assert_eq!(e.format(), Some(ApiFormat::Gemini));
    // Invalid UTF-8 after decoding.
    assert!(matches!(
        post("/bedrock/model/%FF/invoke"),
        Err(ClassifyError::BadPath { .. })
    ));
}

#[test]
fn keyfile_placeholders_are_classified_like_any_vertex_path() {
    // The provider's keyfile fills them when the request is forwarded (SPEC.md §2.2).
    let path = "/v1/projects/_aperture_auto_vertex_project_id_/locations/_aperture_auto_vertex_region_/publishers/anthropic/models/claude-sonnet-4-5:streamRawPredict";
    let e = ok(Method::POST, path);
    assert_eq!(e.upstream_path, path);
    assert_eq!(e.model, ModelSource::Path("claude-sonnet-4-5".into()));
}

#[test]
fn websocket_upgrades() {
    let mut headers = HeaderMap::new();
    headers.insert("upgrade", HeaderValue::from_static("WebSocket"));
    for (method, path) in [
        (Method::GET, "/v1/responses"),
        (Method::POST, "/v1/responses"),
    ] {
        let e = Endpoint::classify(&method, path, &headers).unwrap_err();
        assert_eq!(
            e,
            ClassifyError::WebSocket {
                format: ApiFormat::OpenAi
            }
        );
        assert_eq!(
            e.status_and_message(),
            (
                StatusCode::UPGRADE_REQUIRED,
                "websocket transport is not supported here; use HTTP".into()
            )
        );
    }
    headers.insert("upgrade", HeaderValue::from_static("h2c, websocket/13"));
    let e = Endpoint::classify(&Method::GET, "/codex/responses", &headers).unwrap_err();
    assert!(matches!(e, ClassifyError::WebSocket { .. }));
    // Other upgrades are not WebSocket; unknown paths stay 404.
    headers.insert("upgrade", HeaderValue::from_static("h2c"));
    assert!(Endpoint::classify(&Method::POST, "/v1/responses", &headers).is_ok());
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    let e = Endpoint::classify(&Method::GET, "/v1/nope", &headers).unwrap_err();
    assert!(matches!(e, ClassifyError::NotFound { .. }));
}
