use super::*;
use aperture_config::{Mode, load_str};

fn provider(fields: &str) -> Provider {
    let text = format!(
        r#"{{"providers": {{"p": {{"baseurl": "https://x", "models": ["m"], {fields}}}}}}}"#
    );
    load_str(&text, Mode::Load).config.unwrap().providers["p"].clone()
}

fn client_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", HeaderValue::from_static("Bearer -"));
    h.insert("x-api-key", HeaderValue::from_static("-"));
    h.append("anthropic-beta", HeaderValue::from_static("a"));
    h
}

#[test]
fn injected_replaces_client_credentials_with_the_key() {
    for (auth, header, value) in [
        ("bearer", "authorization", "Bearer sk-provider"),
        ("x-api-key", "x-api-key", "sk-provider"),
        ("x-goog-api-key", "x-goog-api-key", "sk-provider"),
    ] {
        let p = provider(&format!(
            r#""apikey": "sk-provider", "authorization": "{auth}""#
        ));
        let mut h = client_headers();
        assert_eq!(
            CredentialStrategy::for_provider(&p).apply(&mut h, true),
            QueryKey::Drop
        );
        assert_eq!(h[header], value);
        assert!(h[header].is_sensitive());
        let creds: Vec<_> = CREDENTIAL_HEADERS
            .iter()
            .filter(|c| h.contains_key(**c))
            .collect();
        assert_eq!(creds, [&header], "only the injected key is left");
        assert_eq!(h["anthropic-beta"], "a", "other headers untouched");
    }
}

#[test]
fn injected_without_a_key_sends_nothing() {
    for mode in ["", "override", "injected"] {
        let p = provider(&format!(r#""auth_mode": "{mode}""#));
        let mut h = client_headers();
        CredentialStrategy::for_provider(&p).apply(&mut h, false);
        assert!(
            !has_client_credential(&h),
            "{mode}: placeholders never leave"
        );
    }
}

#[test]
fn passthrough_keeps_the_client_credential_and_its_header_name() {
    let p = provider(
        r#""auth_mode": "passthrough", "authorization": "x-api-key", "apikey": "sk-provider""#,
    );
    let mut h = HeaderMap::new();
    h.insert(
        "authorization",
        HeaderValue::from_static("Bearer sk-ant-oat01-X"),
    );
    assert_eq!(
        CredentialStrategy::for_provider(&p).apply(&mut h, false),
        QueryKey::Keep
    );
    assert_eq!(h["authorization"], "Bearer sk-ant-oat01-X");
    assert!(!h.contains_key("x-api-key"));
}

#[test]
fn passthrough_falls_back_to_the_key_only_without_a_client_credential() {
    for mode in ["passthrough", "passthrough-with-fallback"] {
        let p = provider(&format!(
            r#""auth_mode": "{mode}", "authorization": "x-api-key", "apikey": "sk-provider""#
        ));
        let s = CredentialStrategy::for_provider(&p);
        let mut h = HeaderMap::new();
        s.apply(&mut h, false);
        assert_eq!(h["x-api-key"], "sk-provider", "{mode}");
        // A `key` query parameter counts as a client credential.
        let mut h = HeaderMap::new();
        assert_eq!(s.apply(&mut h, true), QueryKey::Keep);
        assert!(!has_client_credential(&h));
    }
    // Passthrough with nothing goes upstream bare.
    let p = provider(r#""auth_mode": "passthrough""#);
    let mut h = HeaderMap::new();
    CredentialStrategy::for_provider(&p).apply(&mut h, false);
    assert!(h.is_empty());
}

#[test]
fn none_removes_everything() {
    let p = provider(r#""auth_mode": "none", "apikey": "sk-provider""#);
    let mut h = client_headers();
    h.insert("x-goog-api-key", HeaderValue::from_static("AIza-client"));
    assert_eq!(
        CredentialStrategy::for_provider(&p).apply(&mut h, true),
        QueryKey::Drop
    );
    assert!(!has_client_credential(&h));
    assert_eq!(h.len(), 1);
}

#[test]
fn debug_never_shows_the_key() {
    let p = provider(r#""apikey": "sk-sentinel-provider""#);
    let s = CredentialStrategy::for_provider(&p);
    assert!(!format!("{s:?}").contains("sk-sentinel"));
}

#[test]
fn every_credential_header_is_a_secret_header() {
    for h in CREDENTIAL_HEADERS {
        assert!(is_secret_header(h), "{h}");
    }
    assert!(is_secret_header("cookie") && !is_secret_header("content-type"));
}
