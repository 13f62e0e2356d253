//! Console sessions: the admin token is entered once on the login page; the browser then holds
//! only a random session id in a cookie that scripts cannot read (`HttpOnly`), that travels only
//! over TLS (`Secure`) and never with a request another site starts (`SameSite=Strict`), and
//! that expires. Each session has its own CSRF token, which every form that changes something
//! carries and every such request must present.
//!
//! Sessions live in memory: a restart logs everyone out, and nothing of them reaches the disk.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use rand::RngCore;
use subtle::ConstantTimeEq;

/// The session cookie's name: `__Host-` makes browsers refuse it unless it is `Secure`, has
/// `Path=/` and names no domain, so no other host or path can set or shadow it.
pub const COOKIE: &str = "__Host-connector-host-console";

/// How long a session lasts after the login.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// At most this many sessions are kept; the oldest goes first.
const MAX_SESSIONS: usize = 256;

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The CSRF token of this session's forms.
    pub csrf: String,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    expires: Instant,
}

/// The sessions of one host.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<String, Entry>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Sessions {
    /// Starts a session; returns the `Set-Cookie` value that hands it to the browser.
    pub fn start(&self) -> String {
        let id = random_hex();
        let now = Instant::now();
        let mut map = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| e.expires > now);
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Entry {
                session: Session { csrf: random_hex() },
                expires: now + LIFETIME,
            },
        );
        format!(
            "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
            LIFETIME.as_secs()
        )
    }

    /// The session the request's cookie names, if it exists and has not expired.
    pub fn find(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers)?;
        let now = Instant::now();
        let mut map = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&id) {
            Some(e) if e.expires > now => Some(e.session.clone()),
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    /// Ends the request's session; returns the `Set-Cookie` value that removes the cookie.
    pub fn end(&self, headers: &HeaderMap) -> String {
        if let Some(id) = cookie(headers) {
            self.by_id
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
        format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

/// The session id in the request's cookies.
fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl Session {
    /// Whether `presented` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| {
            p.len() == self.csrf.len() && bool::from(p.as_bytes().ct_eq(self.csrf.as_bytes()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).unwrap(),
        );
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let s = Sessions::default();
        let set = s.start();
        assert!(
            set.contains("HttpOnly") && set.contains("Secure") && set.contains("SameSite=Strict")
        );
        assert!(set.contains("Max-Age=28800"));
        let headers = with_cookie(&set);
        let session = s.find(&headers).unwrap();
        assert!(session.csrf_matches(Some(&session.csrf)));
        assert!(!session.csrf_matches(Some("0000")));
        assert!(!session.csrf_matches(None));
        assert!(s.find(&with_cookie(&format!("{COOKIE}=forged"))).is_none());
        assert!(s.end(&headers).contains("Max-Age=0"));
        assert!(s.find(&headers).is_none(), "ended");
    }
}
