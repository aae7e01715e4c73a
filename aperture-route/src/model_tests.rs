use super::*;

#[test]
fn finds_the_top_level_model() {
    let body =
        br#"{"tools":[{"model":"inner"}],"metadata":{"model":"x"},"model":"claude-sonnet-4-6"}"#;
    let found = extract_body_model(body).unwrap();
    assert_eq!(found.model, "claude-sonnet-4-6");
    assert_eq!(&body[found.span], br#""claude-sonnet-4-6""#);
}

#[test]
fn decodes_escapes() {
    let body = br#"{"model":"openai\/gpt-5\u00e9\ud83d\ude00"}"#;
    let found = extract_body_model(body).unwrap();
    assert_eq!(found.model, "openai/gpt-5é😀");
    assert_eq!(found.span, 9..body.len() - 1);
}

#[test]
fn errors_and_their_messages() {
    let cases: &[(&[u8], ModelError, &str)] = &[
        (
            b"not json",
            ModelError::NotJson,
            "request body is not valid JSON",
        ),
        (b"", ModelError::NotJson, "request body is not valid JSON"),
        (
            br#"{"model":"a"} trailing"#,
            ModelError::NotJson,
            "request body is not valid JSON",
        ),
        (br#"{}"#, ModelError::NoModel, "request body has no model"),
        (
            br#"{"model":""}"#,
            ModelError::NoModel,
            "request body has no model",
        ),
        (
            br#"{"model":null}"#,
            ModelError::NoModel,
            "request body has no model",
        ),
        (
            br#"{"model":["a"]}"#,
            ModelError::NoModel,
            "request body has no model",
        ),
        (
            br#"[{"model":"a"}]"#,
            ModelError::NoModel,
            "request body has no model",
        ),
        (
            br#""model""#,
            ModelError::NoModel,
            "request body has no model",
        ),
        (
            br#"{"model":"a","x":1,"model":"a"}"#,
            ModelError::DuplicateModel,
            r#"request body has duplicate "model" keys"#,
        ),
        (
            br#"{"model":"","model":5}"#,
            ModelError::DuplicateModel,
            r#"request body has duplicate "model" keys"#,
        ),
    ];
    for (body, want, message) in cases {
        let got = extract_body_model(body).unwrap_err();
        assert_eq!(got, *want, "{:?}", String::from_utf8_lossy(body));
        assert_eq!(
            got.status_and_message(),
            (StatusCode::BAD_REQUEST, message.to_string())
        );
        assert_eq!(got.to_string(), *message);
    }
    let r = ModelError::NoModel.render(ApiFormat::Anthropic);
    assert_eq!(
        r.body,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"request body has no model"}}"#
    );
}

#[test]
fn splice_replaces_only_the_token() {
    let body = b"{\n  \"model\" : \"vercel/anthropic/claude-sonnet-4-6\",\n  \"x\": [1, 2]\n}";
    let found = extract_body_model(body).unwrap();
    let out = splice_model(body, found.span.clone(), "anthropic/claude-sonnet-4-6");
    assert_eq!(
        &out[..],
        b"{\n  \"model\" : \"anthropic/claude-sonnet-4-6\",\n  \"x\": [1, 2]\n}"
    );
    assert_eq!(&out[..found.span.start], &body[..found.span.start]);
    let tail = body.len() - found.span.end;
    assert_eq!(&out[out.len() - tail..], &body[found.span.end..]);
}

#[test]
fn splice_escapes_the_new_name() {
    let body = br#"{"model":"p/a"}"#;
    let found = extract_body_model(body).unwrap();
    let out = splice_model(body, found.span, "say \"hi\"\n");
    assert_eq!(&out[..], br#"{"model":"say \"hi\"\n"}"#);
    assert_eq!(extract_body_model(&out).unwrap().model, "say \"hi\"\n");
}

#[test]
fn splice_clamps_a_foreign_span() {
    let out = splice_model(b"abc", 2..10, "x");
    assert_eq!(&out[..], b"ab\"x\"");
    let out = splice_model(b"abc", 7..9, "x");
    assert_eq!(&out[..], b"abc\"x\"");
}
