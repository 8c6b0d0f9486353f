//! Credentials and `session_id` cookies: 40 hex digits, valid until
//! `lifetime` passes without a request (tokio time, so tests can pause it),
//! or until fault `expire_cookies`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

/// The accepted username and password, derived from the seed.
pub(crate) fn credentials(seed: u64) -> (String, String) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5b5_a07b_0000_0014);
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut word = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect()
    };
    (format!("rest-{}", word(6).to_ascii_lowercase()), word(20))
}

/// Does `Authorization` carry `Basic base64(user:password)`?
pub(crate) fn basic_ok(header: Option<&str>, user: &str, password: &str) -> bool {
    let Some(b64) = header.and_then(|h| h.trim().strip_prefix("Basic ")) else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
        return false;
    };
    raw == format!("{user}:{password}").as_bytes()
}

/// The live cookies: value → last use.
#[derive(Debug)]
pub(crate) struct Cookies {
    lifetime: Duration,
    live: Mutex<HashMap<String, Instant>>,
}

impl Cookies {
    pub(crate) fn new(lifetime: Duration) -> Cookies {
        Cookies {
            lifetime,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new cookie value (40 hex digits).
    pub(crate) fn issue(&self) -> String {
        let mut rng = rand::rng();
        let id: String = (0..40)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect();
        self.live().insert(id.clone(), Instant::now());
        id
    }

    /// Is `id` live? If so its inactivity clock restarts; an expired one is
    /// forgotten.
    pub(crate) fn touch(&self, id: &str) -> bool {
        let now = Instant::now();
        let mut live = self.live();
        match live.get_mut(id) {
            Some(last) if now.duration_since(*last) <= self.lifetime => {
                *last = now;
                true
            }
            Some(_) => {
                live.remove(id);
                false
            }
            None => false,
        }
    }

    /// Forget every cookie; returns how many were live.
    pub(crate) fn expire_all(&self) -> usize {
        let mut live = self.live();
        let n = live.len();
        live.clear();
        n
    }
}

/// `session_id` from the request's `Cookie` header(s).
pub(crate) fn cookie_of(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .find_map(|kv| kv.trim().strip_prefix("session_id=").map(str::to_string))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn cookies_expire_after_inactivity() {
        let c = Cookies::new(Duration::from_secs(60));
        let id = c.issue();
        assert_eq!(id.len(), 40);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(c.touch(&id), "exactly the lifetime: still live");
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(c.touch(&id), "each use restarts the clock");
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(!c.touch(&id));
        assert!(!c.touch(&id));
        assert!(!c.touch("nope"));
        let a = c.issue();
        c.issue();
        assert_eq!(c.expire_all(), 2);
        assert!(!c.touch(&a));
    }

    #[test]
    fn basic_auth() {
        let (u, p) = credentials(1);
        assert_eq!(credentials(1), (u.clone(), p.clone()));
        assert_ne!(credentials(2).1, p);
        let h = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        );
        assert!(basic_ok(Some(&h), &u, &p));
        assert!(!basic_ok(Some(&h), &u, "x"));
        assert!(!basic_ok(Some("Bearer x"), &u, &p));
        assert!(!basic_ok(None, &u, &p));
        assert!(!basic_ok(Some("Basic !!!"), &u, &p));
    }
}
