//! The `http` host function's policy and transport.
//!
//! A request goes out only when its origin (scheme, host, port) is both
//! declared by the plugin (`info.hosts`) and granted by the user
//! (`plugins.NAME.hosts`): the plugin says what it needs, the user decides.
//! Redirects are never followed (a 3xx goes back to the plugin, whose next
//! request is checked again), the timeout is what is left of the call's
//! budget, and response bodies are capped so a hostile or broken server
//! cannot exhaust memory.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use indexmap::IndexMap;

use super::abi::{HttpRequest, HttpResponse};
use super::error::ErrorKind;

/// Largest response body a plugin receives.
pub const MAX_RESPONSE: u64 = 8 << 20;

/// A normalised origin: `https://api.github.com:443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl Origin {
    /// Parse a host entry: a bare host name (`api.github.com`, meaning https
    /// on 443, with an optional `:port`) or an origin URL
    /// (`http://127.0.0.1:8080`). Plain http needs the explicit `http://`.
    pub fn parse_entry(entry: &str) -> Result<Origin, String> {
        let e = entry.trim().trim_end_matches('/');
        let with_scheme = if e.contains("://") {
            e.to_string()
        } else {
            format!("https://{e}")
        };
        let o = Origin::parse_url(&with_scheme)?;
        let uri: ureq::http::Uri = with_scheme
            .parse()
            .map_err(|_| format!("'{entry}' is not a host or origin"))?;
        if uri
            .path_and_query()
            .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty())
        {
            return Err(format!("'{entry}': give a host or origin, without a path"));
        }
        Ok(o)
    }

    /// The origin of a request URL.
    pub fn parse_url(url: &str) -> Result<Origin, String> {
        let uri: ureq::http::Uri = url.parse().map_err(|_| "not a valid URL".to_string())?;
        let scheme = uri
            .scheme_str()
            .ok_or("URL has no scheme")?
            .to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            other => {
                return Err(format!(
                    "scheme '{other}' is not allowed (only http and https)"
                ));
            }
        };
        let host = uri.host().ok_or("URL has no host")?.to_ascii_lowercase();
        if host.is_empty() {
            return Err("URL has no host".into());
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(
                "URLs with user:password@ are not allowed (send credentials in a header)".into(),
            );
        }
        Ok(Origin {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
        })
    }
}

/// What a plugin may reach: the intersection of what it declares and what
/// the user grants.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `None`: the plugin declared `*` (whatever the user grants).
    pub declared: Option<Vec<Origin>>,
    pub granted: Vec<Origin>,
    /// The plugin's configured name, for messages.
    pub name: String,
}

impl Policy {
    /// From the plugin's `info.hosts` and the user's grant list. Entries
    /// that do not parse are errors (a typo must not silently deny, or
    /// worse, silently allow something else).
    pub fn new(name: &str, declared: &[String], granted: &[String]) -> Result<Policy, String> {
        let declared = if declared.iter().any(|d| d == "*") {
            None
        } else {
            Some(
                declared
                    .iter()
                    .map(|d| Origin::parse_entry(d).map_err(|e| format!("info.hosts: {e}")))
                    .collect::<Result<_, _>>()?,
            )
        };
        let granted = granted
            .iter()
            .map(|g| Origin::parse_entry(g).map_err(|e| format!("granted hosts: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            declared,
            granted,
            name: name.to_string(),
        })
    }

    /// `Ok` when `origin` may be called, else why not.
    pub fn check(&self, origin: &Origin) -> Result<(), String> {
        if let Some(d) = &self.declared
            && !d.contains(origin)
        {
            return Err("the plugin does not declare this host in its info.hosts".into());
        }
        if !self.granted.contains(origin) {
            return Err(if self.granted.is_empty() {
                format!(
                    "no hosts are granted to this plugin (add it to plugins.{}.hosts in .gsec.yaml)",
                    self.name
                )
            } else {
                format!("not granted in .gsec.yaml (plugins.{}.hosts)", self.name)
            });
        }
        Ok(())
    }
}

/// A transport failure the plugin may handle (retry, report).
fn transport(msg: impl Into<String>) -> HttpResponse {
    HttpResponse {
        status: None,
        headers: IndexMap::new(),
        body: None,
        error: Some(msg.into()),
    }
}

/// Run one request under `policy` before `deadline` (the end of the call's
/// `budget`). `Err` ends the call (the plugin is stopped): a policy
/// violation, or the budget running out while the request waits — the only
/// timeout the request has is what is left of the budget, so a timed-out
/// request is a timed-out call. `Ok` carries either a response or a
/// transport error for the plugin.
pub fn perform(
    policy: &Policy,
    req: &HttpRequest,
    deadline: Instant,
    budget: Duration,
) -> Result<HttpResponse, ErrorKind> {
    let timeout = ErrorKind::Timeout {
        secs: budget.as_secs(),
    };
    let origin = match Origin::parse_url(&req.url) {
        Ok(o) => o,
        Err(why) => {
            return Err(ErrorKind::HostDenied {
                origin: redact_url(&req.url),
                why,
            });
        }
    };
    policy.check(&origin).map_err(|why| ErrorKind::HostDenied {
        origin: origin.to_string(),
        why,
    })?;
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining < Duration::from_millis(1) {
        return Err(timeout);
    }
    let method: ureq::http::Method = match req.method.to_ascii_uppercase().parse() {
        Ok(m) => m,
        Err(_) => return Ok(transport(format!("invalid method '{}'", req.method))),
    };
    let body = match &req.body {
        Some(b) => match STANDARD.decode(b) {
            Ok(b) => b,
            // The decoder's message quotes a byte of the body.
            Err(_) => {
                return Err(ErrorKind::Protocol("http: body is not valid base64".into()));
            }
        },
        None => Vec::new(),
    };
    let mut builder = ureq::http::Request::builder().method(method).uri(&req.url);
    for (k, v) in &req.headers {
        if k.eq_ignore_ascii_case("host") {
            return Ok(transport("the Host header is set by gsec from the URL"));
        }
        builder = builder.header(k, v);
    }
    let request = match builder.body(body) {
        Ok(r) => r,
        Err(e) => return Ok(transport(format!("invalid request: {e}"))),
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(remaining))
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .user_agent(concat!("gsec/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut resp = match agent.run(request) {
        Ok(r) => r,
        Err(ureq::Error::Timeout(_)) => return Err(timeout),
        Err(e) => return Ok(transport(describe(&e))),
    };
    let status = resp.status().as_u16();
    let headers: IndexMap<String, String> = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let bytes = match resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_vec()
    {
        Ok(b) => zeroize::Zeroizing::new(b),
        Err(ureq::Error::BodyExceedsLimit(_)) => {
            return Err(ErrorKind::ResponseTooLarge {
                origin: origin.to_string(),
                limit_mib: MAX_RESPONSE >> 20,
            });
        }
        Err(ureq::Error::Timeout(_)) => return Err(timeout),
        Err(e) => return Ok(transport(describe(&e))),
    };
    if Instant::now() >= deadline {
        // Answered, but too late for the plugin to use it.
        return Err(timeout);
    }
    Ok(HttpResponse {
        status: Some(status),
        headers,
        body: Some(STANDARD.encode(&bytes)),
        error: None,
    })
}

/// ureq's errors, without anything that could echo request content.
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out (the plugin's time budget ran out)".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(io) => format!("I/O error: {}", io.kind()),
        other => other.to_string().chars().take(200).collect(),
    }
}

/// A URL for an error message: scheme and authority only (paths and
/// queries can carry tokens).
fn redact_url(url: &str) -> String {
    let head: String = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .chars()
        .take(100)
        .collect();
    match head.find("://") {
        Some(i) => {
            let rest = &head[i + 3..];
            let auth = rest.split('/').next().unwrap_or("");
            let auth = auth.rsplit('@').next().unwrap_or(auth);
            format!("{}://{}", &head[..i], auth)
        }
        None => "an invalid URL".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        Origin::parse_entry(s).unwrap()
    }

    #[test]
    fn entries_normalise() {
        assert_eq!(o("api.github.com"), o("https://API.github.com:443/"));
        assert_eq!(
            o("http://127.0.0.1:8080").to_string(),
            "http://127.0.0.1:8080"
        );
        assert_ne!(o("api.github.com"), o("http://api.github.com"));
        assert!(Origin::parse_entry("https://x.com/path").is_err());
        assert!(Origin::parse_entry("ftp://x.com").is_err());
        assert!(Origin::parse_url("https://u:p@x.com/").is_err());
    }

    #[test]
    fn policy_needs_declared_and_granted() {
        let p = Policy::new(
            "p",
            &["api.github.com".into()],
            &["api.github.com".into(), "evil.com".into()],
        )
        .unwrap();
        assert!(p.check(&o("api.github.com")).is_ok());
        assert!(
            p.check(&o("evil.com"))
                .unwrap_err()
                .contains("does not declare")
        );
        let p = Policy::new("p", &["*".into()], &["http://127.0.0.1:9".into()]).unwrap();
        assert!(p.check(&o("http://127.0.0.1:9")).is_ok());
        assert!(
            p.check(&o("https://127.0.0.1:9"))
                .unwrap_err()
                .contains("not granted")
        );
        let p = Policy::new("p", &["*".into()], &[]).unwrap();
        assert!(
            p.check(&o("x.com"))
                .unwrap_err()
                .contains("no hosts are granted")
        );
    }

    #[test]
    fn urls_in_errors_lose_paths_and_credentials() {
        assert_eq!(
            redact_url("https://u:tok@h.com/a?b=secret"),
            "https://h.com"
        );
        assert_eq!(redact_url("nonsense"), "an invalid URL");
    }
}
