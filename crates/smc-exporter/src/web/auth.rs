//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes.
//!
//! A bcrypt compare costs tens of milliseconds by design, so it runs on a
//! blocking thread, at most [`MAX_CONCURRENT_VERIFY`] at once (the others
//! wait; the server's connection cap bounds how many can). Successful
//! verifications are cached (a SHA-256 of user, hash and password, never
//! the password), as exporter-toolkit does, so a scraper's every request
//! does not pay for bcrypt. An unknown user costs a compare against a dummy
//! hash of the same cost, so user names cannot be told apart by timing.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use tokio::sync::Semaphore;

/// bcrypt compares running at once.
pub const MAX_CONCURRENT_VERIFY: usize = 2;
/// Successful verifications remembered (per web config).
const CACHE_SIZE: usize = 100;
/// Longest `Authorization` header looked at.
const MAX_HEADER: usize = 4096;

/// The users of one web config, and what it has verified.
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// The cost of the dummy hash an unknown user is compared with.
    cost: u32,
    dummy: OnceLock<String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// The hashes are secrets: only the user names are shown.
impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users")
            .field("users", &self.hashes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// `hashes`: user → bcrypt hash, already checked to parse.
    pub fn new(hashes: BTreeMap<String, String>) -> Option<Arc<Users>> {
        if hashes.is_empty() {
            return None;
        }
        let cost = hashes
            .values()
            .filter_map(|h| h.parse::<bcrypt::HashParts>().ok())
            .map(|p| p.get_cost())
            .max()
            .unwrap_or(bcrypt::DEFAULT_COST);
        Some(Arc::new(Users {
            hashes,
            cost,
            dummy: OnceLock::new(),
            verified: Mutex::new(HashSet::new()),
        }))
    }

    /// Does `authorization` (the header's value) name a user and its password?
    pub async fn check(self: &Arc<Self>, authorization: Option<&[u8]>, limit: &Semaphore) -> bool {
        let Some((user, password)) = authorization.and_then(parse_basic) else {
            return false;
        };
        let hash = self.hashes.get(&user).cloned();
        let key = cache_key(&user, hash.as_deref().unwrap_or(""), &password);
        if hash.is_some() && self.cached(&key) {
            return true;
        }
        let Ok(_permit) = limit.acquire().await else {
            return false;
        };
        let me = Arc::clone(self);
        let ok = tokio::task::spawn_blocking(move || me.compare(hash.as_deref(), &password))
            .await
            .unwrap_or(false);
        if ok {
            self.remember(key);
        }
        ok
    }

    /// One bcrypt compare, against the dummy for an unknown user.
    fn compare(&self, hash: Option<&str>, password: &str) -> bool {
        match hash {
            Some(h) => bcrypt::verify(password, h).unwrap_or(false),
            None => {
                let dummy = self.dummy.get_or_init(|| {
                    bcrypt::hash("smc-exporter: no such user", self.cost).unwrap_or_default()
                });
                let _ = bcrypt::verify(password, dummy);
                false
            }
        }
    }

    fn cached(&self, key: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .map(|v| v.contains(key))
            .unwrap_or(false)
    }

    fn remember(&self, key: [u8; 32]) {
        if let Ok(mut v) = self.verified.lock() {
            if v.len() >= CACHE_SIZE {
                v.clear();
            }
            v.insert(key);
        }
    }
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, hash, password] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(v: &[u8]) -> Option<(String, String)> {
    if v.len() > MAX_HEADER {
        return None;
    }
    let v = std::str::from_utf8(v).ok()?.trim();
    let (scheme, b64) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    let (user, password) = raw.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> Vec<u8> {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        format!("Basic {b}").into_bytes()
    }

    fn users() -> Arc<Users> {
        let h = bcrypt::hash("s3cret", 4).unwrap();
        Users::new(BTreeMap::from([("alice".to_string(), h)])).unwrap()
    }

    #[tokio::test]
    async fn right_password_passes_and_is_cached_wrong_ones_and_strangers_do_not() {
        let u = users();
        let limit = Semaphore::new(MAX_CONCURRENT_VERIFY);
        assert!(u.check(Some(&basic("alice", "s3cret")), &limit).await);
        assert_eq!(u.verified.lock().unwrap().len(), 1);
        assert!(u.check(Some(&basic("alice", "s3cret")), &limit).await);
        assert_eq!(u.verified.lock().unwrap().len(), 1);
        assert!(!u.check(Some(&basic("alice", "wrong")), &limit).await);
        assert!(!u.check(Some(&basic("bob", "s3cret")), &limit).await);
        // The stranger was compared with a dummy of the users' cost.
        let dummy = u.dummy.get().unwrap().parse::<bcrypt::HashParts>().unwrap();
        assert_eq!(dummy.get_cost(), 4);
        assert!(!u.check(None, &limit).await);
        assert!(!u.check(Some(b"Bearer x"), &limit).await);
        assert!(!u.check(Some(b"Basic !!!"), &limit).await);
        assert_eq!(
            u.verified.lock().unwrap().len(),
            1,
            "only successes are cached"
        );
    }

    #[test]
    fn basic_credentials_parse() {
        assert_eq!(
            parse_basic(&basic("a", "b:c")),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(parse_basic(b"basic YTpi"), Some(("a".into(), "b".into())));
        assert_eq!(parse_basic(b"Basic"), None);
        assert_eq!(parse_basic(&vec![b'a'; MAX_HEADER + 1]), None);
    }
}
