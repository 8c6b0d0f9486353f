//! The SMC's engines over REST (`docs/smc-protocol.md` §9): the
//! `engine_clusters` listing, each engine element's `nodes`, and each
//! node's `status`. The parsing is pure ([`parse_listing`],
//! [`parse_nodes`], [`parse_status`]) and tolerant: every field may be
//! missing, entries without a name or href are skipped, values (names and
//! hrefs too, so errors and logs that show them stay short) are capped at
//! [`smc_fold::MAX_LABEL_VALUE_BYTES`].
//!
//! The requests go through [`SmcRest`]'s rules: the session's cookie or
//! token, no redirects followed, every href placed on the configured
//! origin, bodies read up to a cap.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::{Auth, SessionError, SmcRest, body, refused, req_err};
use crate::state::engines::NodeHealth;

/// Largest listing body read: room for [`MAX_ENGINES`] entries.
pub const MAX_LISTING_BYTES: usize = 8 << 20;
/// Largest engine element or node status body read.
pub const MAX_ELEMENT_BYTES: usize = super::MAX_BODY_BYTES;
/// Most engines one listing may name.
pub const MAX_ENGINES: usize = 10_000;
/// Most nodes one engine may have (an SMC cluster has at most 16).
pub const MAX_NODES: usize = 64;

/// Errors of one engine REST call.
#[derive(Debug, thiserror::Error)]
pub enum EngineRestError {
    /// 401/403: the session is no longer accepted.
    #[error("{url}: the session was refused: HTTP status {status}")]
    Refused { url: String, status: u16 },
    #[error("{url}: not found (HTTP status 404)")]
    NotFound { url: String },
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error(
        "{url}: HTTP status {status}, a redirect {to}; redirects are not followed (credentials go only to the configured url)"
    )]
    Redirected {
        url: String,
        status: u16,
        to: String,
    },
    /// Transport errors and bodies over the cap.
    #[error(transparent)]
    Rest(#[from] SessionError),
    #[error("{url}: unexpected response body: {reason}")]
    Body { url: String, reason: String },
    #[error("an href the SMC gave cannot be used: {href}")]
    BadHref { href: String },
    #[error("{url}: more than {limit} {what}; not read further")]
    TooMany {
        url: String,
        what: &'static str,
        limit: usize,
    },
}

/// One entry of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEngine {
    pub name: String,
    pub href: String,
    /// Element type; empty when not given.
    pub etype: String,
}

/// One node of an engine element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedNode {
    pub name: String,
    /// The node's `status` link, if it has one.
    pub status_href: Option<String>,
}

/// A string field, capped; `None` when absent or not a string.
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| smc_fold::cap_label_value(s).to_owned())
}

fn body_err(url: &str, reason: impl Into<String>) -> EngineRestError {
    EngineRestError::Body {
        url: url.to_owned(),
        reason: reason.into(),
    }
}

fn json(url: &str, body: &[u8]) -> Result<Value, EngineRestError> {
    serde_json::from_slice(body).map_err(|e| body_err(url, e.to_string()))
}

/// `{"result":[{"name","href","type"}…]}` (or the bare list). Entries
/// without a name or href are skipped; a name listed twice is kept once
/// (the first).
pub fn parse_listing(url: &str, body: &[u8]) -> Result<Vec<ListedEngine>, EngineRestError> {
    let v = json(url, body)?;
    let items = match v.get("result").unwrap_or(&v) {
        Value::Array(a) => a,
        _ => return Err(body_err(url, "no result list")),
    };
    if items.len() > MAX_ENGINES {
        return Err(EngineRestError::TooMany {
            url: url.to_owned(),
            what: "engines",
            limit: MAX_ENGINES,
        });
    }
    let mut out: Vec<ListedEngine> = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for it in items {
        let (Some(name), Some(href)) = (text(it, "name"), text(it, "href")) else {
            continue;
        };
        if name.is_empty() || !seen.insert(name.clone()) {
            continue;
        }
        let etype = text(it, "type").unwrap_or_default();
        out.push(ListedEngine { name, href, etype });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    rel: String,
    #[serde(default)]
    href: Option<String>,
}

/// The engine element's `nodes`: a list of one-key objects (the key is the
/// node type), each value a node with `name` and `link`s. Nodes without a
/// name are skipped.
pub fn parse_nodes(url: &str, body: &[u8]) -> Result<Vec<ListedNode>, EngineRestError> {
    let v = json(url, body)?;
    let Some(entries) = v.get("nodes").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let nodes: Vec<&Value> = entries
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.values())
        .collect();
    if nodes.len() > MAX_NODES {
        return Err(EngineRestError::TooMany {
            url: url.to_owned(),
            what: "nodes",
            limit: MAX_NODES,
        });
    }
    Ok(nodes
        .into_iter()
        .filter_map(|n| {
            let name = text(n, "name").filter(|s| !s.is_empty())?;
            let links: Vec<Link> = n
                .get("link")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default();
            let status_href = links
                .into_iter()
                .find(|l| l.rel == "status")
                .and_then(|l| l.href)
                .map(|h| smc_fold::cap_label_value(&h).to_owned());
            Some(ListedNode { name, status_href })
        })
        .collect())
}

/// A node's `status` answer: the fields `ApplianceStatus` reads, each optional.
pub fn parse_status(url: &str, body: &[u8]) -> Result<NodeHealth, EngineRestError> {
    let v = json(url, body)?;
    if !v.is_object() {
        return Err(body_err(url, "not an object"));
    }
    Ok(NodeHealth {
        status: text(&v, "status"),
        state: text(&v, "state"),
        installed_policy: text(&v, "installed_policy").filter(|p| !p.is_empty()),
        version: text(&v, "version"),
        dyn_up: text(&v, "dyn_up"),
        platform: text(&v, "platform"),
        configuration_status: text(&v, "configuration_status"),
    })
}

impl SmcRest {
    /// `GET url` with the session; the body up to `limit` bytes on 200.
    async fn get_authed(
        &self,
        url: &str,
        auth: &Auth,
        limit: usize,
    ) -> Result<Vec<u8>, EngineRestError> {
        let resp = self
            .authed(self.http.get(url), auth)
            .send()
            .await
            .map_err(|e| req_err(url, &e))?;
        let status = resp.status();
        let url = url.to_owned();
        if status.is_redirection() {
            let to = body::redirect_target(&resp);
            let status = status.as_u16();
            return Err(EngineRestError::Redirected { url, status, to });
        }
        if refused(status.as_u16()) {
            let status = status.as_u16();
            return Err(EngineRestError::Refused { url, status });
        }
        if status == StatusCode::NOT_FOUND {
            return Err(EngineRestError::NotFound { url });
        }
        if status != StatusCode::OK {
            let status = status.as_u16();
            return Err(EngineRestError::Status { url, status });
        }
        Ok(body::read_capped(&url, resp, limit).await?)
    }

    /// An href from the SMC, placed on the configured origin.
    fn rebased(&self, href: &str) -> Result<String, EngineRestError> {
        self.on_configured_origin(href)
            .ok_or_else(|| EngineRestError::BadHref {
                href: smc_fold::cap_label_value(href).to_owned(),
            })
    }

    /// The engine listing (`GET /{ver}/elements?filter_context=engine_clusters`,
    /// as the official client lists engines).
    pub async fn list_engines(
        &self,
        api_version: &str,
        auth: &Auth,
    ) -> Result<Vec<ListedEngine>, EngineRestError> {
        let url = format!(
            "{}/{api_version}/elements?filter_context=engine_clusters",
            self.base()
        );
        let body = self.get_authed(&url, auth, MAX_LISTING_BYTES).await?;
        parse_listing(&url, &body)
    }

    /// The nodes of the engine at `href` (from the listing).
    pub async fn engine_nodes(
        &self,
        href: &str,
        auth: &Auth,
    ) -> Result<Vec<ListedNode>, EngineRestError> {
        let url = self.rebased(href)?;
        let body = self.get_authed(&url, auth, MAX_ELEMENT_BYTES).await?;
        parse_nodes(&url, &body)
    }

    /// The status of the node whose `status` link is `href`.
    pub async fn node_status(
        &self,
        href: &str,
        auth: &Auth,
    ) -> Result<NodeHealth, EngineRestError> {
        let url = self.rebased(href)?;
        let body = self.get_authed(&url, auth, MAX_ELEMENT_BYTES).await?;
        parse_status(&url, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://smc.example:8082/7.1/x";

    #[test]
    fn listing_keeps_named_entries_once_in_order() {
        let body = br#"{"result":[
            {"name":"edge-1","href":"https://smc.example:8082/7.1/elements/single_fw/10","type":"single_fw"},
            {"name":"pair","href":"https://smc.example:8082/7.1/elements/fw_cluster/11"},
            {"href":"https://smc.example:8082/7.1/elements/single_fw/12"},
            {"name":"edge-1","href":"https://smc.example:8082/7.1/elements/single_fw/13"},
            {"name":"","href":"x"},
            {"name":7,"href":"x"},
            "not an object"
        ]}"#;
        let got = parse_listing(URL, body).unwrap();
        assert_eq!(
            got,
            [
                ListedEngine {
                    name: "edge-1".into(),
                    href: "https://smc.example:8082/7.1/elements/single_fw/10".into(),
                    etype: "single_fw".into()
                },
                ListedEngine {
                    name: "pair".into(),
                    href: "https://smc.example:8082/7.1/elements/fw_cluster/11".into(),
                    etype: String::new()
                },
            ]
        );
        // A bare list is accepted too; an empty result is no engines.
        assert_eq!(
            parse_listing(URL, br#"[{"name":"a","href":"h"}]"#)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(parse_listing(URL, br#"{"result":[]}"#).unwrap(), []);
    }

    #[test]
    fn listing_errors_name_the_url_and_the_reason() {
        let e = parse_listing(URL, br#"{"results":{}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{URL}: unexpected response body: no result list")
        );
        let e = parse_listing(URL, b"<html>").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{URL}: unexpected response body: expected value at line 1 column 1")
        );
        let many = format!(
            "{{\"result\":[{}]}}",
            vec![r#"{"name":"a","href":"h"}"#; MAX_ENGINES + 1].join(",")
        );
        let e = parse_listing(URL, many.as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{URL}: more than 10000 engines; not read further")
        );
    }

    #[test]
    fn nodes_come_from_every_node_type_key_with_their_status_link() {
        let body = br#"{"name":"pair","nodes":[
            {"firewall_node":{"name":"pair node 1","nodeid":1,"link":[
                {"rel":"self","href":"https://smc.example:8082/7.1/elements/fw_cluster/11/firewall_node/1"},
                {"rel":"status","href":"https://smc.example:8082/7.1/elements/fw_cluster/11/firewall_node/1/status"}]}},
            {"virtual_fw_node":{"name":"pair node 2"}},
            {"firewall_node":{"nodeid":3}},
            {"firewall_node":{"name":"odd links","link":"nope"}}
        ]}"#;
        let long = format!(
            r#"{{"nodes":[{{"firewall_node":{{"name":"n","link":[{{"rel":"status","href":"/{}"}}]}}}}]}}"#,
            "x".repeat(5000)
        );
        let capped = parse_nodes(URL, long.as_bytes()).unwrap();
        assert_eq!(capped[0].status_href.as_ref().map(String::len), Some(1024));
        assert_eq!(
            parse_nodes(URL, body).unwrap(),
            [
                ListedNode {
                    name: "pair node 1".into(),
                    status_href: Some(
                        "https://smc.example:8082/7.1/elements/fw_cluster/11/firewall_node/1/status"
                            .into()
                    )
                },
                ListedNode {
                    name: "pair node 2".into(),
                    status_href: None
                },
                ListedNode {
                    name: "odd links".into(),
                    status_href: None
                },
            ]
        );
        // No `nodes` at all: an engine without nodes.
        assert_eq!(parse_nodes(URL, br#"{"name":"x"}"#).unwrap(), []);
        let many = format!(
            "{{\"nodes\":[{}]}}",
            vec![r#"{"firewall_node":{"name":"n"}}"#; MAX_NODES + 1].join(",")
        );
        assert_eq!(
            parse_nodes(URL, many.as_bytes()).unwrap_err().to_string(),
            format!("{URL}: more than 64 nodes; not read further")
        );
    }

    #[test]
    fn status_fields_are_optional_and_capped() {
        let long = "p".repeat(3000);
        let body = format!(
            r#"{{"name":"n1","status":"Online","state":"READY","installed_policy":"{long}",
                "version":"7.1.2","dyn_up":"1650","master_node":null,"extra":[1]}}"#
        );
        let h = parse_status(URL, body.as_bytes()).unwrap();
        assert_eq!(h.status.as_deref(), Some("Online"));
        assert_eq!(h.state.as_deref(), Some("READY"));
        assert_eq!(h.installed_policy.as_ref().map(String::len), Some(1024));
        assert_eq!(h.version.as_deref(), Some("7.1.2"));
        assert_eq!(h.dyn_up.as_deref(), Some("1650"));
        assert_eq!((h.platform, h.configuration_status), (None, None));
        // An empty policy is no policy; wrong types are missing fields.
        let h = parse_status(URL, br#"{"installed_policy":"","status":5}"#).unwrap();
        assert_eq!(h, NodeHealth::default());
        assert_eq!(
            parse_status(URL, b"[]").unwrap_err().to_string(),
            format!("{URL}: unexpected response body: not an object")
        );
    }
}
