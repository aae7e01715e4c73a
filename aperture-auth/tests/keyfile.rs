//! A `keyfile::` service account signs assertions that its public key verifies (SPEC.md §2.2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use aperture_auth::keyfile::{CLOUD_PLATFORM_SCOPE, ServiceAccount};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A throwaway RSA key made for these tests (never used anywhere else).
const TEST_KEY: &str = include_str!("fixtures/test-only-service-account-key.pem");

fn keyfile() -> String {
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "test-project-123",
        "private_key_id": "k1",
        "private_key": TEST_KEY,
        "client_email": "gateway@test-project-123.iam.gserviceaccount.com",
        "token_uri": "http://127.0.0.1:9/token",
    });
    format!("keyfile::{}", STANDARD.encode(json.to_string()))
}

#[test]
fn the_assertion_is_an_rs256_jwt_with_the_specs_claims() {
    let account = ServiceAccount::from_keyfile(&keyfile()).unwrap();
    assert_eq!(account.project_id, "test-project-123");
    let debug = format!("{account:?}");
    assert!(
        !debug.contains("BEGIN") && debug.contains("[REDACTED]"),
        "{debug}"
    );

    let jwt = account.assertion(1_800_000_000).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims["iss"],
        "gateway@test-project-123.iam.gserviceaccount.com"
    );
    assert_eq!(claims["aud"], "http://127.0.0.1:9/token");
    assert_eq!(claims["scope"], CLOUD_PLATFORM_SCOPE);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );

    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let public = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        account.public_key_der(),
    );
    let signed = format!("{}.{}", parts[0], parts[1]);
    public.verify(signed.as_bytes(), &signature).unwrap();
    // A changed claim no longer verifies.
    let forged = format!(
        "{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(b"{\"iss\":\"x\"}")
    );
    assert!(public.verify(forged.as_bytes(), &signature).is_err());
}
