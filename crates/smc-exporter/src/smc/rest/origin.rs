//! Where credentials may go: the configured origin (scheme, host, port) of
//! the SMC, and the one policy for every href the SMC hands back.

use url::Url;

/// The configured origin of one SMC.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    /// `http(s)://host:port` without a trailing slash.
    base: String,
    url: Url,
}

/// An href the SMC handed back, placed on the configured origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rebased {
    /// The href was already on the configured origin.
    Same(String),
    /// The href named another origin (`advertised`, e.g. `http://smc-internal:8082`);
    /// `url` is its path and query on the configured origin.
    Moved { url: String, advertised: String },
}

impl Rebased {
    pub(crate) fn url(&self) -> &str {
        match self {
            Rebased::Same(u) | Rebased::Moved { url: u, .. } => u,
        }
    }
}

impl Origin {
    pub(crate) fn new(configured: &Url) -> Self {
        let base = base_of(configured);
        // `base` re-parses: it is built from a parsed URL's parts.
        let url = Url::parse(&base).unwrap_or_else(|_| configured.clone());
        Origin { base, url }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The policy for every href the SMC hands back (entry points): only its
    /// path and query are used, on the configured origin. An SMC commonly
    /// advertises `http://` or its internal host name while it is reached
    /// over TLS or through a proxy, so refusing such hrefs would break real
    /// setups; following them would send the session (or key) wherever the
    /// answer points, in clear if it says `http://`. `None` for an href that
    /// is empty or not an http(s) URL (relative hrefs resolve against the
    /// origin).
    pub(crate) fn rebase(&self, href: &str) -> Option<Rebased> {
        let href = href.trim();
        if href.is_empty() {
            return None;
        }
        let parsed = self.url.join(href).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return None;
        }
        let mut url = format!("{}{}", self.base, parsed.path());
        if let Some(q) = parsed.query() {
            url.push('?');
            url.push_str(q);
        }
        if parsed.origin() == self.url.origin() {
            Some(Rebased::Same(url))
        } else {
            Some(Rebased::Moved {
                url,
                advertised: parsed.origin().ascii_serialization(),
            })
        }
    }
}

/// `http(s)://host:port` of a URL, without path or trailing slash.
pub(crate) fn base_of(url: &Url) -> String {
    // `Host`'s Display brackets IPv6 addresses.
    let host = url.host().map(|h| h.to_string()).unwrap_or_default();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}", url.scheme())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(u: &str) -> Origin {
        Origin::new(&Url::parse(u).unwrap())
    }

    #[test]
    fn base_keeps_scheme_host_port() {
        assert_eq!(
            base_of(&Url::parse("https://smc.example:8082/").unwrap()),
            "https://smc.example:8082"
        );
        assert_eq!(
            base_of(&Url::parse("http://127.0.0.1:8082").unwrap()),
            "http://127.0.0.1:8082"
        );
        assert_eq!(
            base_of(&Url::parse("http://[::1]:8082").unwrap()),
            "http://[::1]:8082"
        );
    }

    #[test]
    fn same_origin_hrefs_are_kept() {
        let o = origin("https://smc.example:8082/");
        assert_eq!(
            o.rebase("https://smc.example:8082/7.1/logout"),
            Some(Rebased::Same("https://smc.example:8082/7.1/logout".into()))
        );
        // The default port spelled out is the same origin.
        let o = origin("https://smc.example/");
        assert_eq!(
            o.rebase("https://SMC.example:443/7.1/logout?x=1"),
            Some(Rebased::Same("https://smc.example/7.1/logout?x=1".into()))
        );
        assert_eq!(
            o.rebase("/7.1/logout"),
            Some(Rebased::Same("https://smc.example/7.1/logout".into()))
        );
    }

    #[test]
    fn other_origins_keep_only_path_and_query() {
        let o = origin("https://smc.example:8082");
        for (href, advertised) in [
            (
                "http://smc.example:8082/7.1/logout",
                "http://smc.example:8082",
            ),
            (
                "https://smc.example:9999/7.1/logout",
                "https://smc.example:9999",
            ),
            ("https://10.0.0.5:8082/7.1/logout", "https://10.0.0.5:8082"),
            (
                "http://user:pw@evil.example/7.1/logout#frag",
                "http://evil.example",
            ),
        ] {
            assert_eq!(
                o.rebase(href),
                Some(Rebased::Moved {
                    url: "https://smc.example:8082/7.1/logout".into(),
                    advertised: advertised.into(),
                }),
                "{href}"
            );
        }
    }

    #[test]
    fn non_http_hrefs_are_unusable() {
        let o = origin("https://smc.example:8082");
        assert_eq!(o.rebase("file:///etc/passwd"), None);
        assert_eq!(o.rebase("javascript:alert(1)"), None);
        assert_eq!(o.rebase("http://[::1"), None);
        assert_eq!(o.rebase(" "), None);
    }
}
