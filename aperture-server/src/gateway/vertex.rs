//! Vertex AI with a `keyfile::` service account (SPEC.md §2.2): access tokens minted from the
//! key and cached per provider, the `_aperture_auto_vertex_*` placeholders filled, and Gemini
//! CLI's short paths rewritten to full project paths.

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aperture_auth::keyfile::{JWT_BEARER_GRANT, KeyfileError, ServiceAccount, vertex_region};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use crate::body::full;
use crate::error::Error;
use crate::upstream::UpstreamClient;

/// The project placeholder Vertex clients put in paths.
pub const PROJECT_PLACEHOLDER: &str = "_aperture_auto_vertex_project_id_";
/// The region placeholder.
pub const REGION_PLACEHOLDER: &str = "_aperture_auto_vertex_region_";

/// Tokens are refreshed this long before they expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// The longest an exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest token answer read.
const MAX_TOKEN_ANSWER: usize = 64 << 10;

struct Token {
    bearer: HeaderValue,
    refresh_at: Instant,
}

/// One provider's service account and its cached access token.
pub struct VertexAuth {
    provider: String,
    account: ServiceAccount,
    region: String,
    token: RwLock<Option<Token>>,
    /// Held while a token is being exchanged: one refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
    exchanges: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for VertexAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VertexAuth")
            .field("provider", &self.provider)
            .field("project", &self.account.project_id)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl VertexAuth {
    /// The auth of provider `id` from its `keyfile::` value; the region from its base URL host.
    pub fn new(id: &str, keyfile: &str, base_host: &str) -> Result<Self, KeyfileError> {
        Ok(Self {
            provider: id.to_string(),
            account: ServiceAccount::from_keyfile(keyfile)?,
            region: vertex_region(base_host),
            token: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            exchanges: Default::default(),
        })
    }

    /// How many token exchanges this provider has made.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `path` with the placeholders filled, and Gemini CLI's short form
    /// (`/{v1,v1beta1}/publishers/google/models/{m}:{action}`) made a full project path when
    /// `short_form` says the endpoint is that one.
    pub fn fill(&self, path: &str, short_form: bool) -> String {
        let project = &self.account.project_id;
        let region = &self.region;
        if short_form {
            let rest = path
                .strip_prefix("/v1beta1/publishers/")
                .or_else(|| path.strip_prefix("/v1/publishers/"));
            if let Some(rest) = rest {
                return format!("/v1/projects/{project}/locations/{region}/publishers/{rest}");
            }
        }
        path.replace(PROJECT_PLACEHOLDER, project)
            .replace(REGION_PLACEHOLDER, region)
    }

    /// `Authorization: Bearer <token>`: the cached token, or a new one from the key's
    /// `token_uri` (one exchange at a time; others wait for it).
    pub async fn bearer(&self, client: &UpstreamClient) -> Result<HeaderValue, Error> {
        if let Some(b) = self.cached() {
            return Ok(b);
        }
        let _one = self.refreshing.lock().await;
        if let Some(b) = self.cached() {
            return Ok(b);
        }
        let token = self.exchange(client).await.map_err(|why| {
            tracing::warn!(provider = %self.provider, error = %why, "token exchange failed");
            Error::refused(
                StatusCode::BAD_GATEWAY,
                format!(
                    "could not obtain an access token for provider {}",
                    serde_json::Value::from(self.provider.as_str())
                ),
            )
        })?;
        let bearer = token.bearer.clone();
        if let Ok(mut slot) = self.token.write() {
            *slot = Some(token);
        }
        Ok(bearer)
    }

    fn cached(&self) -> Option<HeaderValue> {
        let slot = self.token.read().ok()?;
        slot.as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.bearer.clone())
    }

    /// Signs an assertion and trades it for an access token. The error says why, never with a
    /// key or token in it.
    async fn exchange(&self, client: &UpstreamClient) -> Result<Token, String> {
        self.exchanges
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.account.assertion(now).map_err(|e| e.to_string())?;
        let form = format!(
            "grant_type={}&assertion={assertion}",
            form_encode(JWT_BEARER_GRANT)
        );
        let req = Request::builder()
            .method(Method::POST)
            .uri(&self.account.token_uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(full(form))
            .map_err(|_| "the keyfile's token_uri is not a URL".to_string())?;
        let call = async {
            let res = client
                .request(req)
                .await
                .map_err(|_| "the token endpoint cannot be reached".to_string())?;
            let status = res.status();
            let body: Bytes = Limited::new(res.into_body(), MAX_TOKEN_ANSWER)
                .collect()
                .await
                .map_err(|_| "the token answer could not be read".to_string())?
                .to_bytes();
            if !status.is_success() {
                return Err(format!("the token endpoint answered {status}"));
            }
            Ok(body)
        };
        let body = tokio::time::timeout(EXCHANGE_TIMEOUT, call)
            .await
            .map_err(|_| "the token endpoint did not answer in time".to_string())??;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| "the token answer is not JSON".to_string())?;
        let access = v
            .get("access_token")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| "the token answer has no access_token".to_string())?;
        let lifetime = v
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(3600);
        let mut bearer = HeaderValue::from_str(&format!("Bearer {access}"))
            .map_err(|_| "the access token is not a header value".to_string())?;
        bearer.set_sensitive(true);
        Ok(Token {
            bearer,
            refresh_at: Instant::now()
                + Duration::from_secs(lifetime).saturating_sub(REFRESH_MARGIN),
        })
    }
}

/// `application/x-www-form-urlencoded` for the few characters a grant type holds.
fn form_encode(s: &str) -> String {
    s.replace(':', "%3A")
}

/// A Gemini CLI request body made acceptable to Vertex `v1`: Gemini CLI talks `v1beta1`, whose
/// `functionCall.id` and `functionResponse.id` (in `contents[].parts[]`) `v1` does not have
/// and rejects (`Unknown name "id"`). `None` when nothing had to change (the body goes as
/// sent).
pub fn vertex_v1_body(body: &[u8]) -> Option<Bytes> {
    let mut v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut changed = false;
    let contents = v.get_mut("contents")?.as_array_mut()?;
    for content in contents {
        let Some(parts) = content.get_mut("parts").and_then(|p| p.as_array_mut()) else {
            continue;
        };
        for part in parts {
            for key in ["functionCall", "functionResponse"] {
                if let Some(obj) = part.get_mut(key).and_then(|c| c.as_object_mut()) {
                    changed |= obj.remove("id").is_some();
                }
            }
        }
    }
    changed.then(|| Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
}

/// The placeholder `path` holds, if any.
pub fn placeholder_in(path: &str) -> Option<&'static str> {
    [PROJECT_PLACEHOLDER, REGION_PLACEHOLDER]
        .into_iter()
        .find(|p| path.contains(p))
}

#[cfg(test)]
mod tests {
    #[test]
    fn function_ids_are_removed_for_vertex_v1() {
        let body = br#"{"contents":[{"role":"model","parts":[{"functionCall":{"id":"c1","name":"ls","args":{}}}]},{"role":"user","parts":[{"functionResponse":{"id":"c1","name":"ls","response":{"ok":true}}}]}]}"#;
        let out = super::vertex_v1_body(body).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(
            v["contents"][0]["parts"][0]["functionCall"]
                .get("id")
                .is_none()
        );
        assert_eq!(
            v["contents"][1]["parts"][0]["functionResponse"]["name"],
            "ls"
        );
        assert!(super::vertex_v1_body(br#"{"contents":[{"parts":[{"text":"hi"}]}]}"#).is_none());
    }

    #[test]
    fn the_grant_type_is_form_encoded() {
        assert_eq!(
            super::form_encode(super::JWT_BEARER_GRANT),
            "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
        );
    }
}
