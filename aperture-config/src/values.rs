//! Small typed values of the validated config: secrets, header lines, CIDRs, URLs.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderName, HeaderValue, Uri};

/// A credential from the config. It prints as `[REDACTED]`, has no `Display` and cannot be
/// serialised; [`Secret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// An `"Header-Name: value"` line from `add_headers`.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderLine {
    /// The header name (lowercase).
    pub name: HeaderName,
    /// The value; marked sensitive when it came from `${VAR}`.
    pub value: HeaderValue,
}

impl HeaderLine {
    /// Parses `"Name: value"`. The name must be a valid token; the value is trimmed and must
    /// not hold CR, LF or NUL. `None` when the entry is not in that format.
    pub fn parse(entry: &str) -> Option<Self> {
        let (name, value) = entry.split_once(':')?;
        if name.is_empty() || name.trim() != name {
            return None;
        }
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | b'\0')) {
            return None;
        }
        let value = HeaderValue::from_str(value).ok()?;
        Some(Self { name, value })
    }
}

impl fmt::Debug for HeaderLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `HeaderValue`'s Debug prints `Sensitive` for sensitive values.
        write!(f, "{}: {:?}", self.name, self.value)
    }
}

/// An IP network such as `127.0.0.0/8` or `::1/128` (a bare address is a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits cleared).
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/len` or a bare address.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("invalid CIDR {s:?}"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("invalid CIDR {s:?}"))?,
        };
        Ok(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// Whether `ip` is inside the network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An absolute `http://` or `https://` URL from the config. Its `Debug` output leaves out
/// user info and the query, which may carry credentials; it dereferences to the full
/// [`Uri`].
#[derive(Clone, PartialEq, Eq)]
pub struct Url(Uri);

impl Url {
    /// The full URI.
    pub fn as_uri(&self) -> &Uri {
        &self.0
    }
}

impl std::ops::Deref for Url {
    type Target = Uri;
    fn deref(&self) -> &Uri {
        &self.0
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.0.scheme_str().unwrap_or("");
        let host = self.0.host().unwrap_or("");
        match self.0.port_u16() {
            Some(port) => write!(f, "{scheme}://{host}:{port}{}", self.0.path()),
            None => write!(f, "{scheme}://{host}{}", self.0.path()),
        }
    }
}

/// Parses an absolute `http://` or `https://` URL; the message never repeats the URL (it may
/// carry credentials).
pub fn parse_http_url(s: &str) -> Result<Url, String> {
    let uri: Uri = s.parse().map_err(|_| "not a valid URL".to_string())?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://".into()),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err("has no host".into());
    }
    Ok(Url(uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("sk-ant-sentinel");
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(s.expose(), "sk-ant-sentinel");
    }

    #[test]
    fn header_lines() {
        let h = HeaderLine::parse("X-Team:  platform ").unwrap();
        assert_eq!(h.name, "x-team");
        assert_eq!(h.value, "platform");
        assert!(HeaderLine::parse("X-Empty:").is_some());
        for bad in [
            "no colon",
            ": v",
            "Bad Name: v",
            "X-A: a\r\nb",
            " X-A: v",
            "X-A: a\0",
        ] {
            assert!(HeaderLine::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("127.0.0.0/8").unwrap();
        assert!(c.contains("127.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!c.contains("10.0.0.1".parse().unwrap()));
        let v6 = Cidr::parse("::1/128").unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert_eq!(
            Cidr::parse("10.1.2.3/24").unwrap().to_string(),
            "10.1.2.0/24"
        );
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(parse_http_url("https://api.anthropic.com").is_ok());
        assert!(parse_http_url("http://127.0.0.1:8080/v1").is_ok());
        assert!(parse_http_url("ftp://x").is_err());
        assert!(parse_http_url("api.openai.com").is_err());
        let err = parse_http_url("https://user:sk-secret@").unwrap_err();
        assert!(!err.contains("sk-secret"));
    }
}
