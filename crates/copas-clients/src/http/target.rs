//! Request URLs: what to connect to, what to put in the request line and the Host
//! header, the connection pool key, and resolving redirect locations.

use super::{HttpError, Result};
use url::Url;

/// An absolute http or https URL taken apart for sending a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL as normalised by the parser (fragment removed).
    pub url: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The host to connect to; IPv6 literals without brackets.
    pub host: String,
    /// The port to connect to (the scheme's default when the URL has none).
    pub port: u16,
    /// The Host header's value: the host, bracketed if IPv6, with the port when it is
    /// not the scheme's default.
    pub authority: String,
    /// Path and query, for the request line.
    pub request_target: String,
    /// Percent-decoded user name from the URL, if any.
    pub user: Option<String>,
    /// Percent-decoded password from the URL, if any.
    pub password: Option<String>,
}

fn url_error(url: &str, reason: impl ToString) -> HttpError {
    HttpError::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Target {
    /// The port a scheme uses when the URL names none.
    pub fn default_port(scheme: &str) -> Option<u16> {
        match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        }
    }

    /// Parses an absolute http(s) URL.
    pub fn parse(text: &str) -> Result<Target> {
        let mut url = Url::parse(text.trim()).map_err(|e| url_error(text, e))?;
        let scheme = url.scheme().to_string();
        let default_port =
            Self::default_port(&scheme).ok_or_else(|| HttpError::Scheme(scheme.clone()))?;
        url.set_fragment(None);
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(url_error(text, "no host")),
        };
        let port = url.port().unwrap_or(default_port);
        let bracketed = match url.host() {
            Some(url::Host::Ipv6(_)) => format!("[{host}]"),
            _ => host.clone(),
        };
        let authority = if port == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port}")
        };
        let mut request_target = url.path().to_string();
        if let Some(query) = url.query() {
            request_target.push('?');
            request_target.push_str(query);
        }
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(decode);
        Ok(Target {
            url: url.to_string(),
            scheme,
            host,
            port,
            authority,
            request_target,
            user,
            password,
        })
    }

    /// The key under which an idle connection to this origin is pooled. `settings`
    /// is everything else that makes two connections to one origin unlike (the TLS
    /// parameters, a proxy): connections are only shared when it is equal.
    pub fn pool_key(&self, settings: &str) -> String {
        format!(
            "{}://{}|{}|{}",
            self.scheme, self.authority, self.port, settings
        )
    }
}

/// The absolute URL a redirect `location` points to, relative to `base`; only http
/// and https results are accepted.
pub fn resolve_redirect(base: &str, location: &str) -> Result<String> {
    let base_url = Url::parse(base).map_err(|e| url_error(base, e))?;
    let next = base_url
        .join(location.trim())
        .map_err(|e| url_error(location, e))?;
    if Target::default_port(next.scheme()).is_none() {
        return Err(HttpError::Scheme(next.scheme().to_string()));
    }
    Ok(next.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_url() {
        let t = Target::parse("http://user:p%40ss@127.0.0.1:8080/a/b?c=d#frag").unwrap();
        assert_eq!(t.scheme, "http");
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.port, 8080);
        assert_eq!(t.authority, "127.0.0.1:8080");
        assert_eq!(t.request_target, "/a/b?c=d");
        assert_eq!(t.user.as_deref(), Some("user"));
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert_eq!(t.url, "http://user:p%40ss@127.0.0.1:8080/a/b?c=d");
    }

    #[test]
    fn default_ports_and_ipv6() {
        let t = Target::parse("https://[::1]/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        assert_eq!(t.authority, "[::1]");
        let t = Target::parse("http://Example.COM").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("example.com", 80));
        assert_eq!(t.request_target, "/");
    }

    #[test]
    fn refused_urls() {
        assert_eq!(
            Target::parse("ftp://x/").unwrap_err(),
            HttpError::Scheme("ftp".into())
        );
        assert!(Target::parse("no scheme").is_err());
        assert!(Target::parse("http://").is_err());
    }

    #[test]
    fn redirects_resolve_relative_and_absolute() {
        let base = "http://h:1/a/b?q";
        assert_eq!(resolve_redirect(base, "/x").unwrap(), "http://h:1/x");
        assert_eq!(resolve_redirect(base, "c").unwrap(), "http://h:1/a/c");
        assert_eq!(
            resolve_redirect(base, " https://o/ ").unwrap(),
            "https://o/"
        );
        assert!(resolve_redirect(base, "mailto:x@y").is_err());
    }

    #[test]
    fn pool_keys_separate_settings() {
        let t = Target::parse("https://h/").unwrap();
        assert_ne!(t.pool_key("verify=peer"), t.pool_key("verify=none"));
        assert_eq!(
            t.pool_key(""),
            Target::parse("https://h:443/x").unwrap().pool_key("")
        );
    }
}
