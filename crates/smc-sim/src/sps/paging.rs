//! Collection paging as SPS does it (contract §A): `offset` 0-based,
//! `limit` default and maximum 500, nothing reachable past the 10,000th
//! match, `match_count` counting every match; the `meta` links; `fields`
//! selection by dotted paths.

use serde_json::{Map, Value, json};

pub(crate) const MAX_LIMIT: usize = 500;
/// Matches beyond this are unreachable by paging.
pub(crate) const MAX_REACHABLE: usize = 10_000;

/// A bad `limit` / `offset`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PageError {
    #[error("limit must be a positive integer, got {0:?}")]
    Limit(String),
    #[error("offset must be a non-negative integer, got {0:?}")]
    Offset(String),
}

/// One page of a collection of `match_count` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    pub(crate) match_count: usize,
}

impl Page {
    pub(crate) fn new(
        limit: Option<&str>,
        offset: Option<&str>,
        match_count: usize,
    ) -> Result<Page, PageError> {
        let limit = match limit {
            None => MAX_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if n > 0 => n.min(MAX_LIMIT),
                _ => return Err(PageError::Limit(l.to_string())),
            },
        };
        let offset = match offset {
            None => 0,
            Some(o) => o
                .parse::<usize>()
                .map_err(|_| PageError::Offset(o.to_string()))?
                .min(MAX_REACHABLE),
        };
        Ok(Page {
            offset,
            limit,
            match_count,
        })
    }

    fn reachable(&self) -> usize {
        self.match_count.min(MAX_REACHABLE)
    }

    /// The indices (into the sorted matches) of this page's items.
    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        let end = (self.offset + self.limit).min(self.reachable());
        self.offset.min(end)..end
    }

    pub(crate) fn next(&self) -> Option<usize> {
        let n = self.offset + self.limit;
        (n < self.reachable()).then_some(n)
    }

    pub(crate) fn previous(&self) -> Option<usize> {
        (self.offset > 0).then(|| self.offset.saturating_sub(self.limit))
    }

    pub(crate) fn last(&self) -> usize {
        match self.reachable() {
            0 => 0,
            r => (r - 1) / self.limit * self.limit,
        }
    }

    /// `meta` of the page at `href`; `params` are the request's other query
    /// parameters, kept in the links (in their order, after limit/offset).
    pub(crate) fn meta(
        &self,
        href: &str,
        parent: &str,
        params: &[(String, String)],
    ) -> Map<String, Value> {
        let link = |offset: usize| -> Value {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.append_pair("limit", &self.limit.to_string());
            ser.append_pair("offset", &offset.to_string());
            for (k, v) in params.iter().filter(|(k, _)| k != "limit" && k != "offset") {
                ser.append_pair(k, v);
            }
            Value::String(format!("{href}?{}", ser.finish()))
        };
        let mut m = Map::new();
        m.insert("href".into(), json!(href));
        m.insert("parent".into(), json!(parent));
        m.insert("first".into(), link(0));
        m.insert("last".into(), link(self.last()));
        m.insert("next".into(), self.next().map_or(Value::Null, link));
        m.insert("previous".into(), self.previous().map_or(Value::Null, link));
        m.insert("limit".into(), json!(self.limit));
        m.insert("offset".into(), json!(self.offset));
        m.insert("match_count".into(), json!(self.match_count));
        m
    }
}

/// `fields`: `None` (no parameter: key and href only), every field (`*`),
/// or these dotted paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fields {
    None,
    All,
    Some(Vec<String>),
}

impl Fields {
    pub(crate) fn parse(p: Option<&str>) -> Fields {
        match p.map(str::trim) {
            None | Some("") => Fields::None,
            Some("*") => Fields::All,
            Some(list) => Fields::Some(
                list.split(',')
                    .map(|f| f.trim().to_string())
                    .filter(|f| !f.is_empty())
                    .collect(),
            ),
        }
    }

    /// `meta.fields`.
    pub(crate) fn listed(&self) -> Value {
        match self {
            Fields::None => json!([]),
            Fields::All => json!(["*"]),
            Fields::Some(l) => json!(l),
        }
    }

    /// The part of `body` to send; `None`: no body at all.
    pub(crate) fn select(&self, body: &Value) -> Option<Value> {
        match self {
            Fields::None => None,
            Fields::All => Some(body.clone()),
            Fields::Some(paths) => {
                let mut out = Value::Object(Map::new());
                for p in paths {
                    copy_path(body, &mut out, p);
                }
                Some(out)
            }
        }
    }
}

/// Copy `body`'s value at dotted `path` into `out` at the same path; an
/// absent path is skipped.
fn copy_path(body: &Value, out: &mut Value, path: &str) {
    let parts: Vec<&str> = path.split('.').collect();
    let Some(v) = parts.iter().try_fold(body, |v, p| v.get(p)) else {
        return;
    };
    let mut cur = out;
    for (i, p) in parts.iter().enumerate() {
        let Value::Object(m) = cur else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_string(), v.clone());
            return;
        }
        cur = m
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<&str>, offset: Option<&str>, n: usize) -> Page {
        Page::new(limit, offset, n).unwrap()
    }

    #[test]
    fn limits_and_offsets() {
        assert_eq!(page(None, None, 3).limit, 500);
        assert_eq!(page(Some("501"), None, 3).limit, 500);
        assert_eq!(page(Some("7"), None, 3).limit, 7);
        assert_eq!(page(None, Some("20000"), 30_000).offset, 10_000);
        assert_eq!(
            Page::new(Some("0"), None, 1).unwrap_err().to_string(),
            "limit must be a positive integer, got \"0\""
        );
        assert_eq!(
            Page::new(None, Some("-1"), 1).unwrap_err().to_string(),
            "offset must be a non-negative integer, got \"-1\""
        );
    }

    #[test]
    fn edges() {
        // (offset, match_count) → (range, next, previous, last)
        let cases = [
            (0, 0, 0..0, None, None, 0),
            (0, 1000, 0..500, Some(500), None, 500),
            (499, 1000, 499..999, Some(999), Some(0), 500),
            (500, 1000, 500..1000, None, Some(0), 500),
            (999, 1000, 999..1000, None, Some(499), 500),
            (1000, 1000, 1000..1000, None, Some(500), 500),
            (9500, 12_000, 9500..10_000, None, Some(9000), 9500),
            (9999, 12_000, 9999..10_000, None, Some(9499), 9500),
            (10_000, 12_000, 10_000..10_000, None, Some(9500), 9500),
            (9000, 9600, 9000..9500, Some(9500), Some(8500), 9500),
        ];
        for (offset, n, range, next, previous, last) in cases {
            let p = page(None, Some(&offset.to_string()), n);
            assert_eq!(
                (p.range(), p.next(), p.previous(), p.last()),
                (range, next, previous, last),
                "offset {offset} of {n}"
            );
        }
        let p = page(None, Some("123456"), 25_000);
        assert_eq!(
            (p.offset, p.range(), p.next(), p.match_count),
            (10_000, 10_000..10_000, None, 25_000)
        );
    }

    #[test]
    fn meta_links_keep_the_query() {
        let p = page(Some("2"), Some("2"), 5);
        let params = vec![
            ("start".to_string(), "2026-12-01T00:00:00Z".to_string()),
            ("limit".to_string(), "2".to_string()),
            ("fields".to_string(), "active,start_time".to_string()),
        ];
        let m = Value::Object(p.meta("/api/audit/sessions", "/api/audit", &params));
        assert_eq!(
            m,
            json!({"href": "/api/audit/sessions", "parent": "/api/audit",
                "first": "/api/audit/sessions?limit=2&offset=0&start=2026-12-01T00%3A00%3A00Z&fields=active%2Cstart_time",
                "last": "/api/audit/sessions?limit=2&offset=4&start=2026-12-01T00%3A00%3A00Z&fields=active%2Cstart_time",
                "next": "/api/audit/sessions?limit=2&offset=4&start=2026-12-01T00%3A00%3A00Z&fields=active%2Cstart_time",
                "previous": "/api/audit/sessions?limit=2&offset=0&start=2026-12-01T00%3A00%3A00Z&fields=active%2Cstart_time",
                "limit": 2, "offset": 2, "match_count": 5})
        );
    }

    #[test]
    fn fields_select_dotted_paths() {
        let body = json!({"active": false, "protocol": "SSH", "recording": {"connection_policy": "p", "verdict": "ACCEPT"}, "analytics": {"score": {"aggregated": 40}}});
        let f = Fields::parse(Some(
            "protocol, recording.connection_policy,analytics.score.aggregated,nope.x",
        ));
        assert_eq!(
            f.select(&body),
            Some(
                json!({"protocol": "SSH", "recording": {"connection_policy": "p"}, "analytics": {"score": {"aggregated": 40}}})
            )
        );
        assert_eq!(
            f.listed(),
            json!([
                "protocol",
                "recording.connection_policy",
                "analytics.score.aggregated",
                "nope.x"
            ])
        );
        assert_eq!(Fields::parse(None).select(&body), None);
        assert_eq!(Fields::parse(Some("*")).select(&body), Some(body.clone()));
    }
}
