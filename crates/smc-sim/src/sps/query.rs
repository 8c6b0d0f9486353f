//! The subset of Lucene `q` the simulator understands (contract §A):
//! `active:true|false`, `protocol:P` (ASCII case-insensitive),
//! `start_time:[A TO B]` / `start_time:{A TO B}` (each bracket inclusive
//! `[ ]` or exclusive `{ }`; `A`, `B` RFC 3339 UTC or `*`), joined by ` AND `.

use super::clock::parse_rfc3339;
use super::truth::SpsSession;

/// A refused `q`; the message is the `InvalidQuery` error's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("empty term in q")]
    Empty,
    #[error("unsupported term in q: {0:?}")]
    Term(String),
    #[error("unsupported field in q: {0:?}")]
    Field(String),
    #[error("active must be true or false, got {0:?}")]
    Active(String),
    #[error("start_time needs [A TO B] or {{A TO B}}, got {0:?}")]
    Range(String),
    #[error("bad date in q: {0:?}")]
    Date(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bound {
    us: i64,
    inclusive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Active(bool),
    Protocol(String),
    Start(Option<Bound>, Option<Bound>),
}

/// A parsed `q`: every term must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(Vec<Term>);

impl Query {
    pub(crate) fn parse(q: &str) -> Result<Query, QueryError> {
        if q.trim().is_empty() {
            return Ok(Query::default());
        }
        q.split(" AND ")
            .map(term)
            .collect::<Result<_, _>>()
            .map(Query)
    }

    pub(crate) fn matches(&self, s: &SpsSession) -> bool {
        self.0.iter().all(|t| match t {
            Term::Active(a) => s.active() == *a,
            Term::Protocol(p) => s.protocol.eq_ignore_ascii_case(p),
            Term::Start(lo, hi) => {
                lo.is_none_or(|b| s.start_us > b.us || (b.inclusive && s.start_us == b.us))
                    && hi.is_none_or(|b| s.start_us < b.us || (b.inclusive && s.start_us == b.us))
            }
        })
    }
}

fn term(t: &str) -> Result<Term, QueryError> {
    let t = t.trim();
    if t.is_empty() {
        return Err(QueryError::Empty);
    }
    let Some((field, value)) = t.split_once(':') else {
        return Err(QueryError::Term(t.to_string()));
    };
    match field {
        "active" => match value {
            "true" => Ok(Term::Active(true)),
            "false" => Ok(Term::Active(false)),
            v => Err(QueryError::Active(v.to_string())),
        },
        "protocol" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Ok(Term::Protocol(value.to_string()))
        }
        "protocol" => Err(QueryError::Term(t.to_string())),
        "start_time" => range(value),
        f => Err(QueryError::Field(f.to_string())),
    }
}

fn range(v: &str) -> Result<Term, QueryError> {
    let bad = || QueryError::Range(v.to_string());
    let mut chars = v.chars();
    let lo_inc = match chars.next() {
        Some('[') => true,
        Some('{') => false,
        _ => return Err(bad()),
    };
    let hi_inc = match chars.next_back() {
        Some(']') => true,
        Some('}') => false,
        _ => return Err(bad()),
    };
    let (a, b) = chars.as_str().split_once(" TO ").ok_or_else(bad)?;
    let bound = |s: &str, inclusive: bool| -> Result<Option<Bound>, QueryError> {
        match s.trim() {
            "*" => Ok(None),
            d => parse_rfc3339(d)
                .map(|us| Some(Bound { us, inclusive }))
                .ok_or_else(|| QueryError::Date(d.to_string())),
        }
    };
    Ok(Term::Start(bound(a, lo_inc)?, bound(b, hi_inc)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(active: bool, protocol: &str, start_us: i64) -> SpsSession {
        SpsSession {
            key: "k".into(),
            protocol: protocol.into(),
            connection_policy: String::new(),
            start_us,
            end_us: (!active).then_some(start_us + 1),
            verdict: None,
            score: None,
            user: String::new(),
            server: String::new(),
            node_id: String::new(),
            alerts: vec![],
        }
    }

    const T0: i64 = 1_796_165_558_000_000; // 2026-12-01T22:52:38Z

    #[test]
    fn terms_match() {
        let q = Query::parse("active:false AND protocol:ssh").unwrap();
        assert!(q.matches(&session(false, "SSH", T0)));
        assert!(!q.matches(&session(true, "SSH", T0)));
        assert!(!q.matches(&session(false, "RDP", T0)));
        assert!(Query::parse("").unwrap().matches(&session(true, "RDP", 0)));
        assert!(
            Query::parse("active:true")
                .unwrap()
                .matches(&session(true, "RDP", 0))
        );
    }

    #[test]
    fn ranges_inclusive_and_exclusive() {
        let incl =
            Query::parse("start_time:[2026-12-01T22:52:38Z TO 2026-12-01T22:52:39Z]").unwrap();
        let excl =
            Query::parse("start_time:{2026-12-01T22:52:38Z TO 2026-12-01T22:52:39Z}").unwrap();
        let open = Query::parse("start_time:[2026-12-01T22:52:38.000001Z TO *]").unwrap();
        for (us, i, e, o) in [
            (T0 - 1, false, false, false),
            (T0, true, false, false),
            (T0 + 1, true, true, true),
            (T0 + 1_000_000, true, false, true),
            (T0 + 1_000_001, false, false, true),
        ] {
            let s = session(false, "SSH", us);
            assert_eq!(
                (incl.matches(&s), excl.matches(&s), open.matches(&s)),
                (i, e, o),
                "{us}"
            );
        }
        assert!(
            Query::parse("start_time:[* TO *]")
                .unwrap()
                .matches(&session(true, "VNC", 0))
        );
    }

    #[test]
    fn errors_have_exact_messages() {
        let err = |q: &str| Query::parse(q).unwrap_err().to_string();
        assert_eq!(err("active:true AND "), "empty term in q");
        assert_eq!(
            err("active:yes"),
            "active must be true or false, got \"yes\""
        );
        assert_eq!(
            err("user.name:bob"),
            "unsupported field in q: \"user.name\""
        );
        assert_eq!(err("ssh"), "unsupported term in q: \"ssh\"");
        assert_eq!(
            err("protocol:SSH OR protocol:RDP"),
            "unsupported term in q: \"protocol:SSH OR protocol:RDP\""
        );
        assert_eq!(
            err("start_time:2026-12-01T00:00:00Z"),
            "start_time needs [A TO B] or {A TO B}, got \"2026-12-01T00:00:00Z\""
        );
        assert_eq!(
            err("start_time:[yesterday TO *]"),
            "bad date in q: \"yesterday\""
        );
        assert_eq!(
            err("active:true and protocol:SSH"),
            "active must be true or false, got \"true and protocol:SSH\""
        );
    }
}
