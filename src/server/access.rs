//! Who may call what. The mutating routes sit in one sub-router behind [`require_write`]: a
//! cross-origin browser request is always refused, then a configured API token is required, and
//! without one they are served only on a loopback listener to a loopback `Host`. The `/api/v1` GET
//! routes sit behind [`require_read`]: open unless a read token is configured. Tokens are compared
//! in constant time (HMAC tags, [`Mac::verify_slice`]) and never logged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// Key of the HMAC that turns a token into the tag compared; any fixed key will do, the MAC only
/// makes the comparison constant-time and independent of the token's length.
const TAG_KEY: &[u8] = b"anomaly-detector api token";

/// A bearer token, kept as its tag only.
#[derive(Clone)]
struct Token([u8; 32]);

impl Token {
    fn new(secret: &str) -> Token {
        Token(tag(secret.as_bytes()).finalize().into_bytes().into())
    }

    fn matches(&self, presented: &[u8]) -> bool {
        tag(presented).verify_slice(&self.0).is_ok()
    }
}

fn tag(bytes: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(TAG_KEY).expect("HMAC takes a key of any length");
    mac.update(bytes);
    mac
}

/// The access rules of one server.
#[derive(Clone)]
pub struct Access {
    write: Option<Token>,
    read: Option<Token>,
    /// The listener accepts loopback connections only (127.0.0.0/8 or ::1).
    loopback: bool,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A browser request from another site (`Origin` or `Sec-Fetch-Site`): 403.
    CrossOrigin,
    /// No token, or a wrong one: 401 with `WWW-Authenticate: Bearer`.
    Unauthorized,
    /// Mutating routes need a token on this listener, and none is configured: 403.
    NoTokenConfigured,
}

impl Access {
    /// `write` guards the mutating routes, `read` the `/api/v1` GET routes; `listen` is the
    /// address the server is bound to.
    pub fn new(write: Option<String>, read: Option<String>, listen: SocketAddr) -> Access {
        Access {
            write: write.as_deref().map(Token::new),
            read: read.as_deref().map(Token::new),
            loopback: listen.ip().is_loopback(),
        }
    }

    /// Whether the mutating routes can be used at all (for the start-up log).
    pub fn writes_enabled(&self) -> bool {
        self.write.is_some() || self.loopback
    }

    /// May this request call a mutating route?
    pub fn check_write(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if cross_origin(headers) {
            return Err(Refusal::CrossOrigin);
        }
        match &self.write {
            Some(token) if bearer(headers).is_some_and(|b| token.matches(b)) => Ok(()),
            Some(_) => Err(Refusal::Unauthorized),
            // A loopback `Host` too, so a page whose name re-resolves to 127.0.0.1 (DNS
            // rebinding) is not served as if it were local.
            None if self.loopback && headers.get(header::HOST).is_some_and(|h| is_loopback_host(h.as_bytes())) => {
                Ok(())
            }
            None => Err(Refusal::NoTokenConfigured),
        }
    }

    /// May this request call an `/api/v1` GET route? The API token is accepted too.
    pub fn check_read(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(read) = &self.read else { return Ok(()) };
        let presented = bearer(headers).ok_or(Refusal::Unauthorized)?;
        let write_matches = self.write.as_ref().is_some_and(|w| w.matches(presented));
        // Both are compared, so the time taken does not say which token matched.
        if read.matches(presented) | write_matches {
            Ok(())
        } else {
            Err(Refusal::Unauthorized)
        }
    }
}

/// Middleware of the mutating sub-router.
pub async fn require_write(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    match access.check_write(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Middleware of the `/api/v1` GET routes.
pub async fn require_read(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    match access.check_read(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::CrossOrigin => {
                let error = "cross-origin requests to mutating routes are refused";
                (StatusCode::FORBIDDEN, Json(json!({ "error": error }))).into_response()
            }
            Refusal::Unauthorized => {
                let error = "missing or wrong bearer token (send Authorization: Bearer <token>)";
                (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], Json(json!({ "error": error })))
                    .into_response()
            }
            Refusal::NoTokenConfigured => {
                let error = "mutating routes are disabled: this server is not reached over loopback and has no API \
                             token; set ANOMALY_DETECTOR__SERVER__API_TOKEN or server.api_token_file, then send \
                             Authorization: Bearer <token>";
                (StatusCode::FORBIDDEN, Json(json!({ "error": error }))).into_response()
            }
        }
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then(|| token.trim_ascii()).filter(|t| !t.is_empty())
}

/// A browser says the request comes from another site: `Sec-Fetch-Site` other than `same-origin`
/// or `none`, or an `Origin` other than this server's (`http(s)://` + the `Host` asked for).
fn cross_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    let Some(host) = headers.get(header::HOST) else { return true };
    let origin = origin.as_bytes();
    let own = origin.strip_prefix(b"http://").or_else(|| origin.strip_prefix(b"https://"));
    !own.is_some_and(|o| o.eq_ignore_ascii_case(host.as_bytes()))
}

/// `localhost`, `127.x.x.x` or `[::1]`, with or without a port.
fn is_loopback_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(addr, _)| addr),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const LOCAL: &str = "127.0.0.1:9797";

    #[test]
    fn without_a_token_writes_are_served_on_loopback_only() {
        let local = Access::new(None, None, LOCAL.parse().unwrap());
        assert_eq!(local.check_write(&headers(&[("host", LOCAL)])), Ok(()));
        assert_eq!(local.check_write(&headers(&[("host", "localhost:9797")])), Ok(()));
        // Regression: any client could reset every model over a non-loopback listener.
        let open = Access::new(None, None, "0.0.0.0:9797".parse().unwrap());
        assert_eq!(open.check_write(&headers(&[("host", LOCAL)])), Err(Refusal::NoTokenConfigured));
        let v6 = Access::new(None, None, "[::]:9797".parse().unwrap());
        assert_eq!(v6.check_write(&headers(&[("host", "[::1]:9797")])), Err(Refusal::NoTokenConfigured));
        // A rebound name reaching a loopback listener is not local.
        assert_eq!(local.check_write(&headers(&[("host", "evil.example:9797")])), Err(Refusal::NoTokenConfigured));
        assert_eq!(local.check_write(&HeaderMap::new()), Err(Refusal::NoTokenConfigured));
    }

    #[test]
    fn cross_site_browser_requests_are_refused_even_with_the_token() {
        let access = Access::new(Some("t0ken".into()), None, LOCAL.parse().unwrap());
        let auth = ("authorization", "Bearer t0ken");
        assert_eq!(access.check_write(&headers(&[("host", LOCAL), auth])), Ok(()));
        assert_eq!(access.check_write(&headers(&[("host", LOCAL), ("origin", "http://127.0.0.1:9797"), auth])), Ok(()));
        assert_eq!(access.check_write(&headers(&[("host", LOCAL), ("sec-fetch-site", "none"), auth])), Ok(()));
        for refused in [
            [("origin", "http://evil"), ("sec-fetch-site", "same-origin")],
            [("origin", "null"), ("sec-fetch-site", "none")],
            [("origin", "http://127.0.0.1:9797"), ("sec-fetch-site", "cross-site")],
            [("origin", "http://127.0.0.1:9797"), ("sec-fetch-site", "same-site")],
        ] {
            let h = headers(&[("host", LOCAL), auth, refused[0], refused[1]]);
            assert_eq!(access.check_write(&h), Err(Refusal::CrossOrigin), "{refused:?}");
        }
    }

    #[test]
    fn tokens_must_match_exactly() {
        let access = Access::new(Some("write-token".into()), Some("read-token".into()), LOCAL.parse().unwrap());
        let with = |v: &'static str| headers(&[("host", LOCAL), ("authorization", v)]);
        assert_eq!(access.check_write(&with("bearer write-token")), Ok(()));
        for wrong in ["Bearer read-token", "Bearer write-toke", "Bearer write-token2", "Basic write-token", "Bearer "] {
            assert_eq!(access.check_write(&with(wrong)), Err(Refusal::Unauthorized), "{wrong}");
        }
        assert_eq!(access.check_write(&headers(&[("host", LOCAL)])), Err(Refusal::Unauthorized));
        assert_eq!(access.check_read(&with("Bearer read-token")), Ok(()));
        assert_eq!(access.check_read(&with("Bearer write-token")), Ok(()));
        assert_eq!(access.check_read(&with("Bearer nope")), Err(Refusal::Unauthorized));
        assert_eq!(access.check_read(&HeaderMap::new()), Err(Refusal::Unauthorized));
        assert_eq!(Access::new(None, None, LOCAL.parse().unwrap()).check_read(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in ["localhost", "LOCALHOST:1", "127.0.0.1", "127.1.2.3:80", "[::1]", "[::1]:9797"] {
            assert!(is_loopback_host(host.as_bytes()), "{host}");
        }
        for host in ["10.0.0.1:9797", "localhost.evil", "[::2]:1", "0.0.0.0:9797", ""] {
            assert!(!is_loopback_host(host.as_bytes()), "{host}");
        }
    }
}
