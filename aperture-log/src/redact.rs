//! What a record may keep of headers, queries and bodies (SPEC.md §8.3): credential headers
//! as keyed fingerprints, secret query values and every known secret in bodies replaced, bodies
//! capped.

use std::path::Path;

use aperture_config::FilterableHeader;
use http::HeaderMap;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

// Headers whose values are credentials are stored as `[REDACTED:fp=<8 hex>]`: the one list,
// `aperture_auth::SECRET_HEADERS`.
use aperture_auth::{SECRET_HEADERS, is_secret_header};

/// Query parameters whose values are redacted.
const SECRET_PARAMS: [&str; 5] = ["key", "api_key", "token", "access_token", "secret"];

/// The install key: HMAC key for header fingerprints and session hashes, kept in
/// `data_dir/install.key` so fingerprints stay stable across restarts.
pub struct InstallKey {
    key: hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for InstallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstallKey([REDACTED])")
    }
}

impl InstallKey {
    /// A key for this process only (embedded gateways, tests).
    pub fn ephemeral() -> Self {
        let rng = SystemRandom::new();
        let mut bytes = [0u8; 32];
        let _ = rng.fill(&mut bytes);
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            rng,
        }
    }

    /// Reads the key at `path`, or creates it (mode 0600) when there is none.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        let rng = SystemRandom::new();
        let bytes = match std::fs::read(path) {
            Ok(b) if b.len() >= 32 => b,
            _ => {
                let mut b = vec![0u8; 32];
                rng.fill(&mut b)
                    .map_err(|_| std::io::Error::other("no randomness"))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                write_owner_only(path, &b)?;
                b
            }
        };
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            rng,
        })
    }

    /// HMAC-SHA256 of `data`.
    pub fn hmac(&self, data: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.key, data);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// 16 random bytes.
    pub fn random16(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        let _ = self.rng.fill(&mut b);
        b
    }
}

/// Writes `bytes` to a new file at `path` readable by its owner only, whatever the umask.
fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut f = options.open(path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        options.open(path)?.write_all(bytes)
    }
}

/// The query with secret parameter values replaced by `[REDACTED]`.
pub fn query(q: &str) -> String {
    q.split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=[REDACTED]")
            }
            _ => kv.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Headers as stored: credential values replaced by a keyed fingerprint.
pub fn headers(h: &HeaderMap, key: &InstallKey) -> Vec<(String, String)> {
    h.iter()
        .map(|(name, value)| {
            let v = if is_secret_header(name.as_str()) {
                let tag = key.hmac(value.as_bytes());
                let fp: String = tag[..4].iter().map(|b| format!("{b:02x}")).collect();
                format!("[REDACTED:fp={fp}]")
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_string(), v)
        })
        .collect()
}

/// The indexed headers of a request and its response (`database.headers.filterable`).
pub fn indexed(
    req: &HeaderMap,
    res: &HeaderMap,
    filterable: &[FilterableHeader],
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for f in filterable {
        for v in req
            .get_all(&f.name)
            .iter()
            .chain(res.get_all(&f.name).iter())
        {
            let value = (!f.redact_values && !is_secret_header(f.name.as_str()))
                .then(|| String::from_utf8_lossy(v.as_bytes()).into_owned());
            out.push((f.name.as_str().to_string(), value));
        }
    }
    out
}

/// The credential values a client sent (tokens without their scheme word, `key` values), to
/// scrub from stored bodies.
pub fn client_credentials(h: &HeaderMap, query: Option<&str>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for kv in query.unwrap_or_default().split('&') {
        if let Some((k, v)) = kv.split_once('=') {
            if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) {
                out.push(v.as_bytes().to_vec());
                out.push(percent_decode(v));
            }
        }
    }
    for name in SECRET_HEADERS {
        for v in h.get_all(name) {
            let s = String::from_utf8_lossy(v.as_bytes()).into_owned();
            let token = s
                .split_once(' ')
                .map_or(s.as_str(), |(_, t)| t)
                .trim()
                .to_string();
            out.push(token.into_bytes());
            out.push(s.into_bytes());
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

fn percent_decode(v: &str) -> Vec<u8> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%').then(|| v.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// The credentials in the config: provider and hook keys, exporter keys, and every
/// `add_headers` value (injected headers are sensitive, SPEC.md §8.3 (5)).
pub fn configured_secrets(config: &aperture_config::Config) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for p in config.providers.values() {
        if let aperture_config::ApiKey::Key(s) | aperture_config::ApiKey::Keyfile(s) = &p.apikey {
            out.push(s.expose().as_bytes().to_vec());
        }
        out.extend(p.add_headers.iter().map(|h| h.value.as_bytes().to_vec()));
    }
    for h in config.hooks.values() {
        out.extend(h.apikey.iter().map(|s| s.expose().as_bytes().to_vec()));
    }
    for g in &config.grants {
        for c in &g.capabilities {
            out.extend(c.add_headers.iter().map(|h| h.value.as_bytes().to_vec()));
        }
    }
    if let Some(s3) = &config.exporters.s3 {
        out.push(s3.access_key_id.expose().as_bytes().to_vec());
        out.push(s3.access_secret.expose().as_bytes().to_vec());
    }
    out.retain(|s| s.len() >= 8);
    out
}

/// A tool call as stored: secrets scrubbed from its parameters.
pub fn tool_call(t: &crate::ToolCall, secrets: &[Vec<u8>]) -> crate::ToolCall {
    let text = serde_json::to_vec(&t.params).unwrap_or_default();
    let (clean, _) = body(&text, secrets, usize::MAX);
    let params = serde_json::from_slice(&clean).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&clean).into_owned())
    });
    crate::ToolCall {
        id: t.id.clone(),
        name: t.name.clone(),
        params,
    }
}

/// A body as stored: exact secrets replaced, capped at `cap` bytes. Returns the bytes and
/// whether they were cut.
pub fn body(b: &[u8], secrets: &[Vec<u8>], cap: usize) -> (Vec<u8>, bool) {
    // Only what can be kept is scanned (plus room for a secret crossing the cut).
    let longest = secrets.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = b[..b.len().min(cap.saturating_add(longest))].to_vec();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        out = replace_all(&out, s, b"[REDACTED]");
    }
    let truncated = b.len() > cap || out.len() > cap;
    out.truncate(cap);
    (out, truncated)
}

fn replace_all(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let Some(&first) = needle.first() else {
        return hay.to_vec();
    };
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    // Jump between occurrences of the needle's first byte instead of comparing at every byte.
    while let Some(off) = hay[i..].iter().position(|&b| b == first) {
        let j = i + off;
        if hay[j..].starts_with(needle) {
            out.extend_from_slice(&hay[i..j]);
            out.extend_from_slice(with);
            i = j + needle.len();
        } else {
            out.extend_from_slice(&hay[i..=j]);
            i = j + 1;
        }
    }
    out.extend_from_slice(&hay[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn credentials_never_stored() {
        let key = InstallKey::ephemeral();
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-ant-oat01-SENTINEL"),
        );
        h.insert("x-team", HeaderValue::from_static("a"));
        let stored = format!("{:?}", headers(&h, &key));
        assert!(!stored.contains("SENTINEL") && stored.contains("[REDACTED:fp="));
        assert!(stored.contains("x-team"));
        assert_eq!(query("alt=sse&key=AIzaSECRET"), "alt=sse&key=[REDACTED]");
        let secrets = client_credentials(&h, None);
        let (b, cut) = body(br#"{"echo":"sk-ant-oat01-SENTINEL"}"#, &secrets, 1000);
        assert_eq!(
            (String::from_utf8(b).unwrap(), cut),
            (r#"{"echo":"[REDACTED]"}"#.to_string(), false)
        );
        let (b, _) = body(
            b"xxsk-secret-1xxsk-secret-1sk-secret",
            &[b"sk-secret-1".to_vec()],
            100,
        );
        assert_eq!(b, b"xx[REDACTED]xx[REDACTED]sk-secret");
        let (b, cut) = body(b"0123456789", &[], 4);
        assert_eq!((b, cut), (b"0123".to_vec(), true));
    }
}
