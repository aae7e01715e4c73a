use super::*;

/// SPEC.md §7's table: status, Anthropic type, OpenAI type, OpenAI code, Google status,
/// Bedrock type.
const TABLE: &[(u16, &str, &str, Option<&str>, &str, &str)] = &[
    (
        400,
        "invalid_request_error",
        "invalid_request_error",
        None,
        "INVALID_ARGUMENT",
        "ValidationException",
    ),
    (
        401,
        "authentication_error",
        "authentication_error",
        Some("invalid_api_key"),
        "UNAUTHENTICATED",
        "UnrecognizedClientException",
    ),
    (
        403,
        "permission_error",
        "permission_error",
        None,
        "PERMISSION_DENIED",
        "AccessDeniedException",
    ),
    (
        404,
        "not_found_error",
        "invalid_request_error",
        Some("model_not_found"),
        "NOT_FOUND",
        "ResourceNotFoundException",
    ),
    (
        413,
        "request_too_large",
        "invalid_request_error",
        Some("request_too_large"),
        "INVALID_ARGUMENT",
        "ValidationException",
    ),
    (
        429,
        "rate_limit_error",
        "insufficient_quota",
        Some("insufficient_quota"),
        "RESOURCE_EXHAUSTED",
        "ThrottlingException",
    ),
    (
        500,
        "api_error",
        "server_error",
        None,
        "INTERNAL",
        "InternalServerException",
    ),
    (
        501,
        "api_error",
        "server_error",
        None,
        "INTERNAL",
        "InternalServerException",
    ),
    (
        502,
        "api_error",
        "server_error",
        Some("bad_gateway"),
        "UNAVAILABLE",
        "InternalServerException",
    ),
    (
        503,
        "overloaded_error",
        "server_error",
        Some("service_unavailable"),
        "UNAVAILABLE",
        "ServiceUnavailableException",
    ),
    (
        504,
        "timeout_error",
        "server_error",
        Some("timeout"),
        "DEADLINE_EXCEEDED",
        "ModelTimeoutException",
    ),
];

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap()
}

fn code_json(code: Option<&str>) -> String {
    code.map_or("null".into(), |c| format!("\"{c}\""))
}

#[test]
fn every_status_in_every_format() {
    let msg = r#"say "hi" \ <tab>	"#;
    let m = serde_json::to_string(msg).unwrap();
    for &(code, anthropic, openai, openai_code, google, bedrock) in TABLE {
        let s = status(code);

        let (body, header) = render_error(ApiFormat::Anthropic, s, msg);
        let want = format!(r#"{{"type":"error","error":{{"type":"{anthropic}","message":{m}}}}}"#);
        assert_eq!(body, want, "{code}");
        assert!(header.is_none());

        let (body, header) = render_error(ApiFormat::OpenAi, s, msg);
        let c = code_json(openai_code);
        let want =
            format!(r#"{{"error":{{"message":{m},"type":"{openai}","param":null,"code":{c}}}}}"#);
        assert_eq!(body, want, "{code}");
        assert!(header.is_none());

        let (body, header) = render_error(ApiFormat::Gemini, s, msg);
        let want = format!(r#"{{"error":{{"code":{code},"message":{m},"status":"{google}"}}}}"#);
        assert_eq!(body, want, "{code}");
        assert!(header.is_none());

        let (body, header) = render_error(ApiFormat::Bedrock, s, msg);
        assert_eq!(body, format!(r#"{{"message":{m}}}"#), "{code}");
        let (name, value) = header.unwrap();
        assert_eq!(name, "x-amzn-errortype");
        assert_eq!(value, bedrock, "{code}");

        // Every body is JSON that carries the message unchanged.
        for format in [ApiFormat::Anthropic, ApiFormat::OpenAi, ApiFormat::Gemini] {
            let (body, _) = render_error(format, s, msg);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let got = v.pointer("/error/message").or(v.pointer("/message"));
            assert_eq!(got.and_then(|m| m.as_str()), Some(msg));
        }
    }
}

#[test]
fn openai_404_flavours() {
    let (body, _) = render_error_with(
        ApiFormat::OpenAi,
        StatusCode::NOT_FOUND,
        "x",
        ErrorKind::UnknownUrl,
    );
    assert!(body.ends_with(br#""code":"unknown_url"}}"#), "{body:?}");
    let (body, _) = render_error_with(
        ApiFormat::OpenAi,
        StatusCode::NOT_FOUND,
        "x",
        ErrorKind::Standard,
    );
    assert!(body.ends_with(br#""code":"model_not_found"}}"#), "{body:?}");
    // The flavour changes nothing elsewhere.
    let (a, _) = render_error_with(
        ApiFormat::Gemini,
        StatusCode::NOT_FOUND,
        "x",
        ErrorKind::UnknownUrl,
    );
    let (b, _) = render_error(ApiFormat::Gemini, StatusCode::NOT_FOUND, "x");
    assert_eq!(a, b);
}

#[test]
fn guardrail_types_at_any_status() {
    for code in [400, 403, 404, 422, 451, 500] {
        let s = status(code);
        let g = ErrorKind::Guardrail;
        let (body, _) = render_error_with(ApiFormat::Anthropic, s, "blocked", g);
        assert_eq!(
            body,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"blocked"}}"#
        );
        let (body, _) = render_error_with(ApiFormat::OpenAi, s, "blocked", g);
        assert_eq!(
            body,
            r#"{"error":{"message":"blocked","type":"guardrail_blocked","param":null,"code":null}}"#
        );
        let (body, _) = render_error_with(ApiFormat::Gemini, s, "blocked", g);
        let want = format!(
            r#"{{"error":{{"code":{code},"message":"blocked","status":"PERMISSION_DENIED"}}}}"#
        );
        assert_eq!(body, want);
        let (body, header) = render_error_with(ApiFormat::Bedrock, s, "blocked", g);
        assert_eq!(body, r#"{"message":"blocked"}"#);
        assert_eq!(header.unwrap().1, "AccessDeniedException");
    }
}

#[test]
fn unlisted_statuses_fall_back_by_class() {
    let (body, _) = render_error(ApiFormat::Anthropic, status(405), "m");
    assert!(body.starts_with(br#"{"type":"error","error":{"type":"invalid_request_error""#));
    let (body, header) = render_error(ApiFormat::Bedrock, status(409), "m");
    assert_eq!(body, r#"{"message":"m"}"#);
    assert_eq!(header.unwrap().1, "ValidationException");
    let (body, _) = render_error(ApiFormat::Gemini, status(505), "m");
    assert!(body.ends_with(br#""status":"INTERNAL"}}"#));
    let (body, _) = render_error(ApiFormat::OpenAi, status(422), "m");
    assert!(body.ends_with(br#""type":"invalid_request_error","param":null,"code":null}}"#));
}

#[test]
fn error_response_collects_the_header() {
    let r = ErrorResponse::new(
        ApiFormat::Bedrock,
        StatusCode::FORBIDDEN,
        "no",
        ErrorKind::Standard,
    );
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.headers.len(), 1);
    assert_eq!(r.headers[0].1, "AccessDeniedException");
    let r = ErrorResponse::plain(StatusCode::NOT_FOUND, "not \"found\"");
    assert_eq!(r.body, r#"{"error":"not \"found\""}"#);
    assert!(r.headers.is_empty());
}
