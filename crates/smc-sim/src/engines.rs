//! The engines' REST view: the `engine_clusters` listing, each engine's
//! `nodes`, each node's `status` (what the official client's
//! `node.status()` / `node.health` read: status, state, installed policy,
//! version, dynamic update package), the node-health churn and the
//! `/sim/engines`, `/sim/nodes` and `/sim/truth/engines` controls.
//!
//! Node health has its own seeded stream ([`HealthRng`]), so the session
//! tables, the log history and the element registry of a world are the same
//! with or without it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::world::{Engine, World};

pub use smc_protocol::{NODE_STATES, NODE_STATUSES};

/// What churn moves a node to, weighted (Standby only in clusters).
const CHURN_STATUSES: &[(&str, u32)] = &[
    ("Online", 60),
    ("Offline", 15),
    ("Standby", 10),
    ("Unknown", 10),
    ("No Policy Installed", 5),
];

const VERSIONS: &[&str] = &["6.10.11", "7.0.3", "7.1.2"];
const POLICIES: &[&str] = &["HQ Policy", "Branch Policy", "Datacenter Policy"];

/// One node's health as `GET …/node/<n>/status` answers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeHealth {
    pub name: String,
    pub nodeid: u32,
    pub status: String,
    pub state: String,
    /// `None` when no policy is installed (the field is then absent).
    pub installed_policy: Option<String>,
    pub version: String,
    pub dyn_up: String,
    pub platform: String,
    pub configuration_status: String,
}

/// One engine of `GET /sim/truth/engines`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineTruth {
    pub name: String,
    /// Element type (`single_fw`, `fw_cluster`).
    #[serde(rename = "type")]
    pub etype: String,
    /// Element path below `/elements/`, e.g. `single_fw/1649`.
    pub element: String,
    pub nodes: Vec<NodeHealth>,
}

/// The seeded stream behind node health (generation and churn).
#[derive(Debug)]
pub(crate) struct HealthRng(ChaCha8Rng);

impl HealthRng {
    pub fn new(seed: u64) -> HealthRng {
        HealthRng(ChaCha8Rng::seed_from_u64(seed ^ 0x4ea1_7400_0000_0011))
    }

    /// Health of a new engine's nodes: online, one policy and one version
    /// per engine.
    pub fn generate(&mut self, nodes: &[String]) -> Vec<NodeHealth> {
        let rng = &mut self.0;
        let version = VERSIONS[rng.random_range(0..VERSIONS.len())];
        let policy = POLICIES[rng.random_range(0..POLICIES.len())];
        let dyn_up = rng.random_range(1500..1700u32).to_string();
        nodes
            .iter()
            .zip(1u32..)
            .map(|(name, nodeid)| NodeHealth {
                name: name.clone(),
                nodeid,
                status: "Online".into(),
                state: "READY".into(),
                installed_policy: Some(policy.into()),
                version: version.into(),
                dyn_up: dyn_up.clone(),
                platform: "x86-64-small".into(),
                configuration_status: "Installed".into(),
            })
            .collect()
    }

    /// One churn step: one time in 25, one node of a live engine changes
    /// status (Unknown: the SMC lost it, state TIMEOUT).
    pub fn step(&mut self, engines: &mut [Engine]) {
        let rng = &mut self.0;
        if engines.is_empty() || rng.random_range(0..25) != 0 {
            return;
        }
        let e = rng.random_range(0..engines.len());
        let eng = &mut engines[e];
        if !eng.live || eng.health.is_empty() {
            return;
        }
        let n = rng.random_range(0..eng.health.len());
        let cluster = eng.health.len() > 1;
        let pool: Vec<(&str, u32)> = CHURN_STATUSES
            .iter()
            .copied()
            .filter(|(s, _)| cluster || *s != "Standby")
            .collect();
        let total: u32 = pool.iter().map(|(_, w)| w).sum();
        let mut x = rng.random_range(0..total);
        let mut status = "Online";
        for (s, w) in pool {
            if x < w {
                status = s;
                break;
            }
            x -= w;
        }
        set_status(&mut eng.health[n], status, None);
    }
}

/// Set a node's status; the state follows it (`TIMEOUT` for `Unknown`,
/// else `READY`) unless given, and `No Policy Installed` clears the policy.
pub(crate) fn set_status(node: &mut NodeHealth, status: &str, state: Option<&str>) {
    node.status = status.to_string();
    node.state = state
        .unwrap_or(if status == "Unknown" {
            "TIMEOUT"
        } else {
            "READY"
        })
        .to_string();
    if status == "No Policy Installed" {
        node.installed_policy = None;
        node.configuration_status = "Configured".into();
    } else if node.installed_policy.is_none() {
        node.installed_policy = Some(POLICIES[0].into());
        node.configuration_status = "Installed".into();
    }
}

/// The node element type of an engine element type.
pub(crate) fn node_type(etype: &str) -> &'static str {
    match etype {
        "ips_cluster" | "single_ips" => "ips_node",
        "layer2_cluster" | "single_layer2" => "layer2_node",
        _ => "firewall_node",
    }
}

/// The engine's truth (live engines only are asked for).
pub(crate) fn truth(e: &Engine) -> EngineTruth {
    EngineTruth {
        name: e.name.clone(),
        etype: e.element.split('/').next().unwrap_or_default().to_string(),
        element: e.element.clone(),
        nodes: e.health.clone(),
    }
}

/// `{base}/{ver}/elements/<element>`.
fn href(base: &str, ver: &str, e: &Engine) -> String {
    format!("{base}/{ver}/elements/{}", e.element)
}

/// One entry of the `engine_clusters` listing.
pub(crate) fn listing_entry(e: &Engine, base: &str, ver: &str) -> Value {
    json!({
        "name": e.name,
        "href": href(base, ver, e),
        "type": e.element.split('/').next().unwrap_or_default(),
    })
}

/// A node element (`GET …/node/<n>`, and inside the engine's `nodes`).
pub(crate) fn node_json(e: &Engine, n: &NodeHealth, base: &str, ver: &str) -> Value {
    let node = format!("{}/node/{}", href(base, ver, e), n.nodeid);
    json!({
        "name": n.name,
        "nodeid": n.nodeid,
        "engine_version": n.version,
        "disabled": false,
        "link": [
            {"rel": "self", "href": node, "type": node_type(e.element.split('/').next().unwrap_or_default())},
            {"rel": "status", "href": format!("{node}/status")},
        ],
    })
}

/// `nodes` of the engine element: `[{"<node type>": node}…]`, and the
/// `nodes` link.
pub(crate) fn add_nodes(v: &mut Value, e: &Engine, base: &str, ver: &str) {
    let ntype = node_type(e.element.split('/').next().unwrap_or_default());
    let nodes: Vec<Value> = e
        .health
        .iter()
        .map(|n| json!({ ntype: node_json(e, n, base, ver) }))
        .collect();
    v["nodes"] = Value::Array(nodes);
    if let Some(links) = v["link"].as_array_mut() {
        links.push(json!({"rel": "nodes", "href": format!("{}/node", href(base, ver, e))}));
    }
}

/// `GET …/node/<n>/status`: the fields `ApplianceStatus` reads.
pub(crate) fn status_json(n: &NodeHealth) -> Value {
    let mut v = json!({
        "name": n.name,
        "status": n.status,
        "state": n.state,
        "version": n.version,
        "dyn_up": n.dyn_up,
        "platform": n.platform,
        "configuration_status": n.configuration_status,
    });
    if let Some(p) = &n.installed_policy {
        v["installed_policy"] = Value::String(p.clone());
    }
    v
}

/// `GET /{ver}/elements/engine_clusters` (and `GET /{ver}/elements?filter_context=engine_clusters`):
/// `{"result":[{"name","href","type"}…]}`, every live engine in world
/// order; `filter`: only names containing it (case-insensitive), as the
/// SMC's `filter` query parameter.
pub(crate) fn listing(w: &World, base: &str, ver: &str, filter: Option<&str>) -> Value {
    let f = filter.map(str::to_lowercase);
    let result: Vec<Value> = w
        .live_engines()
        .filter(|e| f.as_ref().is_none_or(|f| e.name.to_lowercase().contains(f)))
        .map(|e| listing_entry(e, base, ver))
        .collect();
    json!({ "result": result })
}

/// `GET /{ver}/elements/<element>/node[/<nodeid>[/status]]` of a live
/// engine: the node listing, a node element, or a node's status. `None`:
/// no such engine or node (404).
pub(crate) fn node_get(
    w: &World,
    element: &str,
    rest: &[&str],
    base: &str,
    ver: &str,
) -> Option<Value> {
    let e = w.live_engine(element)?;
    let find = |id: &str| e.health.iter().find(|n| n.nodeid.to_string() == id);
    match rest {
        [] => {
            let ntype = node_type(element.split('/').next().unwrap_or_default());
            let result: Vec<Value> = e
                .health
                .iter()
                .map(|n| {
                    json!({"name": n.name, "type": ntype,
                           "href": format!("{}/node/{}", href(base, ver, e), n.nodeid)})
                })
                .collect();
            Some(json!({ "result": result }))
        }
        [id] => find(id).map(|n| node_json(e, n, base, ver)),
        [id, "status"] => find(id).map(status_json),
        _ => None,
    }
}

/// Errors of `POST /sim/engines` and `POST /sim/nodes`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum EngineError {
    #[error("action must be add or remove")]
    Action,
    #[error("name must be 1..=64 printable characters")]
    Name,
    #[error("an engine named {0:?} exists")]
    Exists(String),
    #[error("no engine named {0:?}")]
    NoEngine(String),
    #[error("no node {0:?} on that engine")]
    NoNode(String),
    #[error("nodes must be an integer in 1..=8")]
    Nodes,
    #[error("the last engine cannot be removed")]
    Last,
    #[error("status must be one of: {}", NODE_STATUSES.join(", "))]
    Status,
    #[error("state must be one of: {}", NODE_STATES.join(", "))]
    State,
}

/// A valid new engine name.
pub(crate) fn check_name(name: &str) -> Result<(), EngineError> {
    let n = name.chars().count();
    if n == 0 || n > 64 || name.chars().any(char::is_control) {
        return Err(EngineError::Name);
    }
    Ok(())
}

/// The node of `e` named by `which`: its `nodeid` or its name.
pub(crate) fn find_node<'a>(e: &'a mut Engine, which: &str) -> Option<&'a mut NodeHealth> {
    e.health
        .iter_mut()
        .find(|n| n.name == which || n.nodeid.to_string() == which)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_drives_state_and_policy() {
        let mut h = HealthRng::new(1).generate(&["a node 1".to_string()]);
        let n = &mut h[0];
        assert_eq!((n.status.as_str(), n.state.as_str()), ("Online", "READY"));
        set_status(n, "Unknown", None);
        assert_eq!(n.state, "TIMEOUT");
        set_status(n, "No Policy Installed", None);
        assert_eq!(n.installed_policy, None);
        assert_eq!(status_json(n).get("installed_policy"), None);
        set_status(n, "Offline", Some("ERROR"));
        assert_eq!((n.status.as_str(), n.state.as_str()), ("Offline", "ERROR"));
        assert_eq!(n.installed_policy.as_deref(), Some("HQ Policy"));
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name(""), Err(EngineError::Name));
        assert_eq!(check_name("a\nb"), Err(EngineError::Name));
        assert_eq!(check_name(&"x".repeat(65)), Err(EngineError::Name));
        assert_eq!(check_name("fw-100"), Ok(()));
    }
}
