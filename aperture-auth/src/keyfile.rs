//! `keyfile::` credentials (SPEC.md §2.2): a Google service account, base64 JSON in the
//! provider's `apikey`, from which the gateway mints OAuth 2.0 access tokens for Vertex AI.
//!
//! This module reads the key and signs the JWT assertion (RS256 with `ring`); exchanging it at
//! the key's `token_uri` and caching the token is the server's job. Nothing here ever prints
//! the private key.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};

/// The OAuth scope the minted tokens carry.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The grant type of the exchange.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long an assertion is valid.
pub const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// Why a `keyfile::` credential cannot be used. The text never holds key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyfileError {
    /// Not base64, or not JSON after decoding.
    NotJson,
    /// A required field is missing or empty.
    Missing(&'static str),
    /// `private_key` is not a PEM PKCS#8 RSA key.
    BadKey,
    /// Signing failed.
    Signing,
}

impl std::fmt::Display for KeyfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotJson => f.write_str("the keyfile is not base64-encoded service-account JSON"),
            Self::Missing(field) => write!(f, "the keyfile has no {field}"),
            Self::BadKey => f.write_str("the keyfile's private_key is not a PEM PKCS#8 RSA key"),
            Self::Signing => f.write_str("the keyfile's private_key could not sign"),
        }
    }
}

impl std::error::Error for KeyfileError {}

/// A parsed service account.
pub struct ServiceAccount {
    /// `project_id`: fills `_aperture_auto_vertex_project_id_`.
    pub project_id: String,
    /// `client_email`: the JWT's issuer.
    pub client_email: String,
    /// `token_uri`: where assertions are exchanged (also the JWT's audience).
    pub token_uri: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ServiceAccount {
    /// Reads `keyfile::<base64 JSON>` (the prefix is optional; plain JSON is accepted too).
    pub fn from_keyfile(value: &str) -> Result<Self, KeyfileError> {
        let encoded = value.strip_prefix("keyfile::").unwrap_or(value).trim();
        let json: serde_json::Value = if encoded.starts_with('{') {
            serde_json::from_str(encoded).map_err(|_| KeyfileError::NotJson)?
        } else {
            let compact: String = encoded.split_whitespace().collect();
            let bytes = STANDARD
                .decode(compact.trim_end_matches('=').to_string() + pad(&compact))
                .map_err(|_| KeyfileError::NotJson)?;
            serde_json::from_slice(&bytes).map_err(|_| KeyfileError::NotJson)?
        };
        let field = |name: &'static str| {
            json.get(name)
                .and_then(serde_json::Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or(KeyfileError::Missing(name))
        };
        let pem = field("private_key")?;
        Ok(Self {
            project_id: field("project_id")?,
            client_email: field("client_email")?,
            token_uri: field("token_uri")?,
            key: pkcs8_rsa(&pem)?,
        })
    }

    /// The signed JWT assertion for an exchange at `now_secs` (unix seconds): RS256, `iss` =
    /// `client_email`, `aud` = `token_uri`, the cloud-platform scope, valid one hour.
    pub fn assertion(&self, now_secs: u64) -> Result<String, KeyfileError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": CLOUD_PLATFORM_SCOPE,
            "aud": self.token_uri,
            "iat": now_secs,
            "exp": now_secs + ASSERTION_LIFETIME_SECS,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyfileError::Signing)?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The public key (DER `RSAPublicKey`), to verify assertions with.
    pub fn public_key_der(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        self.key.public_key().as_ref().to_vec()
    }
}

/// The `=` padding a base64 text without it needs.
fn pad(s: &str) -> &'static str {
    match s.trim_end_matches('=').len() % 4 {
        2 => "==",
        3 => "=",
        _ => "",
    }
}

/// A PEM `PRIVATE KEY` (PKCS#8) RSA key.
fn pkcs8_rsa(pem: &str) -> Result<RsaKeyPair, KeyfileError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = STANDARD.decode(body).map_err(|_| KeyfileError::BadKey)?;
    RsaKeyPair::from_pkcs8(&der).map_err(|_| KeyfileError::BadKey)
}

/// The region of a Vertex base URL host: `us-east5-aiplatform.googleapis.com` → `us-east5`,
/// `aiplatform.googleapis.com` (the global endpoint) → `global`.
pub fn vertex_region(host: &str) -> String {
    host.split_once("-aiplatform.")
        .map(|(region, _)| region.to_string())
        .filter(|r| !r.is_empty() && !r.contains('.'))
        .unwrap_or_else(|| "global".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_from_hosts() {
        assert_eq!(
            vertex_region("us-east5-aiplatform.googleapis.com"),
            "us-east5"
        );
        assert_eq!(
            vertex_region("europe-west4-aiplatform.googleapis.com"),
            "europe-west4"
        );
        assert_eq!(vertex_region("aiplatform.googleapis.com"), "global");
        assert_eq!(vertex_region("127.0.0.1"), "global");
    }

    #[test]
    fn bad_keyfiles_say_what_is_wrong_without_the_key() {
        assert_eq!(
            ServiceAccount::from_keyfile("keyfile::not base64!").unwrap_err(),
            KeyfileError::NotJson
        );
        let no_email = STANDARD.encode(r#"{"project_id":"p","private_key":"x","token_uri":"t"}"#);
        assert_eq!(
            ServiceAccount::from_keyfile(&format!("keyfile::{no_email}")).unwrap_err(),
            KeyfileError::Missing("client_email")
        );
        let bad_key = STANDARD.encode(
            r#"{"project_id":"p","client_email":"e","token_uri":"t","private_key":"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}"#,
        );
        let e = ServiceAccount::from_keyfile(&format!("keyfile::{bad_key}")).unwrap_err();
        assert_eq!(e, KeyfileError::BadKey);
        assert!(!e.to_string().contains("AAAA"));
    }
}
