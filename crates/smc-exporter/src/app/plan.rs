//! The plan: what should run, as a keyed value. [`plan`] is a pure function
//! of the config, what discovery found and the shard; [`Plan::diff`] says
//! what a change of plan adds, changes and removes (the shape of Vector's
//! `config/diff.rs`: per kind of item, three sets of keys).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use smc_protocol::Definition;

use crate::app::shard::Shard;
use crate::config::{Config, SmcConfig, SubscriptionConfig};
use crate::labels::GroupField;

/// Per SMC name, the engine names discovery found on it.
pub type Discovered = BTreeMap<String, Vec<String>>;

/// A subscription's identity: it keeps its task, socket, table and
/// counters as long as its key stays in the plan with the same [`SubPlan`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubKey {
    pub smc: Arc<str>,
    /// Engine name, or the admin domain of `ACTIVE_ALERTS`.
    pub target: Arc<str>,
    pub definition: Definition,
}

/// What a subscription is, beyond its key: a difference resubscribes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubPlan {
    pub group_fields: Vec<GroupField>,
    /// `query.filter` (JSON form); a change starts a successor, as for
    /// `group_fields`.
    pub filter: Option<Arc<serde_json::Value>>,
}

/// What should run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `[[smc]]` tables by name.
    pub smcs: BTreeMap<Arc<str>, SmcConfig>,
    /// SMC names in config order (the exposition's order).
    pub smc_order: Vec<Arc<str>>,
    pub subs: BTreeMap<SubKey, SubPlan>,
    /// Keys in config order (engine × definition, then alert domains).
    pub order: Vec<SubKey>,
    pub subscription: SubscriptionConfig,
    pub max_series_per_family: usize,
}

/// What changes between two plans, for one kind of item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes<K> {
    pub to_add: Vec<K>,
    pub to_change: Vec<K>,
    pub to_remove: Vec<K>,
}

impl<K> Default for Changes<K> {
    fn default() -> Self {
        Changes {
            to_add: Vec::new(),
            to_change: Vec::new(),
            to_remove: Vec::new(),
        }
    }
}

impl<K> Changes<K> {
    pub fn is_empty(&self) -> bool {
        self.to_add.is_empty() && self.to_change.is_empty() && self.to_remove.is_empty()
    }
}

/// What changes between two plans.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    /// SMC sessions: changed = a new session (url, key, TLS, domain, API
    /// version or `[subscription]` timing changed; the old one is logged out).
    pub sessions: Changes<Arc<str>>,
    /// Subscriptions: changed = its `SubPlan` changed, or its SMC's session
    /// did, or the series limit did.
    pub subscriptions: Changes<SubKey>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.subscriptions.is_empty()
    }
}

/// The engines an `[[smc]]` subscribes: its `engines`, or (when it has none)
/// what discovery found, filtered by `engines_match` / `engines_exclude`;
/// then this replica's shard of them.
pub fn engines_of<'a>(
    smc: &'a SmcConfig,
    discovered: &'a Discovered,
    shard: Shard,
) -> Vec<&'a str> {
    let listed: Vec<&str> = if smc.discovers_engines() {
        let mut found: Vec<&str> = discovered
            .get(&smc.name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        found.sort_unstable();
        found.dedup();
        found.retain(|e| !e.is_empty() && smc.engine_selected(e));
        found
    } else {
        smc.engines.iter().map(String::as_str).collect()
    };
    listed
        .into_iter()
        .filter(|e| shard.keeps_engine(&smc.name, e))
        .collect()
}

/// The plan of `cfg`, given what discovery found and this replica's shard.
pub fn plan(cfg: &Config, discovered: &Discovered, shard: Shard) -> Plan {
    let mut p = Plan {
        smcs: BTreeMap::new(),
        smc_order: Vec::new(),
        subs: BTreeMap::new(),
        order: Vec::new(),
        subscription: cfg.subscription.clone(),
        max_series_per_family: cfg.max_series_per_family,
    };
    for smc in &cfg.smc {
        let name: Arc<str> = Arc::from(smc.name.as_str());
        let engines = engines_of(smc, discovered, shard);
        let engine_subs = engines
            .into_iter()
            .flat_map(|e| smc.definitions.iter().map(move |d| (e, *d)));
        let domains: &[String] = if shard.keeps_alert_domains() {
            &smc.alert_domains
        } else {
            &[]
        };
        let alert_subs = domains
            .iter()
            .map(|dom| (dom.as_str(), Definition::ActiveAlerts));
        for (target, definition) in engine_subs.chain(alert_subs) {
            let key = SubKey {
                smc: name.clone(),
                target: Arc::from(target),
                definition,
            };
            let sub = SubPlan {
                group_fields: smc.group_fields(definition),
                filter: smc.filter(definition),
            };
            if p.subs.insert(key.clone(), sub).is_none() {
                p.order.push(key);
            }
        }
        p.smc_order.push(name.clone());
        let mut smc = smc.clone();
        if !shard.keeps_alert_domains() {
            // SMC-wide sockets run on one shard only, like the alert
            // domains: every shard counting them would count each event
            // once per shard.
            smc.notify.clear();
            smc.log_streams.clear();
        }
        p.smcs.insert(name, smc);
    }
    p
}

impl Plan {
    /// What turns `old` into `new`.
    pub fn diff(old: &Plan, new: &Plan) -> Diff {
        let timing_changed = old.subscription != new.subscription;
        let sessions = changes(&old.smcs, &new.smcs, |_, a, b| {
            timing_changed || !a.same_connection(b)
        });
        let new_session: BTreeSet<&Arc<str>> = sessions.to_change.iter().collect();
        let budgets_changed = old.max_series_per_family != new.max_series_per_family;
        let subscriptions = changes(&old.subs, &new.subs, |k, a, b| {
            a != b || budgets_changed || new_session.contains(&k.smc)
        });
        Diff {
            sessions,
            subscriptions,
        }
    }
}

/// The three sets of keys between two maps; `changed(key, old, new)` decides
/// for keys in both.
fn changes<K: Ord + Clone, V>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    changed: impl Fn(&K, &V, &V) -> bool,
) -> Changes<K> {
    let mut c = Changes::default();
    for (k, v) in new {
        match old.get(k) {
            None => c.to_add.push(k.clone()),
            Some(o) if changed(k, o, v) => c.to_change.push(k.clone()),
            Some(_) => {}
        }
    }
    c.to_remove = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;
    use figment::providers::Serialized;

    fn cfg(smcs: serde_json::Value) -> Config {
        let f = Figment::from(crate::config::defaults())
            .merge(Serialized::defaults(serde_json::json!({ "smc": smcs })));
        crate::config::from_figment(f).unwrap()
    }

    fn smc(name: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut v = serde_json::json!({
            "name": name, "url": "http://127.0.0.1:1", "api_key": "k",
            "definitions": ["CONNECTIONS", "VPN_SA"],
        });
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    }

    fn key(smc: &str, target: &str, d: Definition) -> SubKey {
        SubKey {
            smc: smc.into(),
            target: target.into(),
            definition: d,
        }
    }

    fn keys(p: &Plan) -> Vec<String> {
        p.order
            .iter()
            .map(|k| format!("{}/{}/{}", k.smc, k.target, k.definition.label()))
            .collect()
    }

    use Definition::{ActiveAlerts as AA, Connections as C, VpnSa as V};

    #[test]
    fn plan_is_keyed_by_smc_target_definition_in_config_order() {
        let c = cfg(serde_json::json!([
            smc(
                "a",
                serde_json::json!({"engines": ["fw2", "fw1"], "alert_domains": ["Shared Domain"]})
            ),
            smc(
                "b",
                serde_json::json!({"engines": ["x"], "definitions": ["CONNECTIONS"]})
            ),
        ]));
        let p = plan(&c, &Discovered::new(), Shard::default());
        assert_eq!(
            keys(&p),
            [
                "a/fw2/connections",
                "a/fw2/vpn_sa",
                "a/fw1/connections",
                "a/fw1/vpn_sa",
                "a/Shared Domain/active_alerts",
                "b/x/connections"
            ]
        );
        assert_eq!(p.subs.len(), 6);
        assert_eq!(p.smc_order, [Arc::from("a"), Arc::from("b")]);
        assert_eq!(
            p.subs[&key("a", "fw1", C)].group_fields,
            c.smc[0].group_fields(C)
        );
        assert!(p.subs.contains_key(&key("a", "Shared Domain", AA)));
    }

    #[test]
    fn discovered_engines_are_used_only_without_engines_and_are_filtered() {
        let c = cfg(serde_json::json!([
            smc(
                "a",
                serde_json::json!({"engines_match": "fw-.*", "engines_exclude": "fw-lab"})
            ),
            smc(
                "b",
                serde_json::json!({"engines": ["listed"], "definitions": ["VPN_SA"]})
            ),
        ]));
        let found = Discovered::from([
            (
                "a".into(),
                vec![
                    "fw-2".into(),
                    "fw-1".into(),
                    "fw-lab".into(),
                    "ips-1".into(),
                    "fw-1".into(),
                ],
            ),
            ("b".into(), vec!["ignored".into()]),
        ]);
        let p = plan(&c, &found, Shard::default());
        assert_eq!(
            keys(&p),
            [
                "a/fw-1/connections",
                "a/fw-1/vpn_sa",
                "a/fw-2/connections",
                "a/fw-2/vpn_sa",
                "b/listed/vpn_sa"
            ]
        );
        // Nothing discovered yet: no subscriptions, but the SMC is planned.
        let p = plan(&c, &Discovered::new(), Shard::default());
        assert_eq!(keys(&p), ["b/listed/vpn_sa"]);
        assert_eq!(p.smcs.len(), 2);
    }

    #[test]
    fn shards_partition_engines_and_only_shard_zero_takes_alert_domains() {
        let engines: Vec<String> = (0..30).map(|i| format!("fw-{i:02}")).collect();
        let c = cfg(serde_json::json!([smc(
            "a",
            serde_json::json!({"engines": engines, "alert_domains": ["D1", "D2"],
                               "notify": ["host"], "log_stream": [{"name": "all"}]})
        )]));
        let whole = plan(&c, &Discovered::new(), Shard::default());
        // SMC-wide sockets: shard 0 only.
        for n in 0..3 {
            let p = plan(&c, &Discovered::new(), Shard::new(n, 3).unwrap());
            let a = &p.smcs["a"];
            let expect = usize::from(n == 0);
            assert_eq!(
                (a.notify.len(), a.log_streams.len()),
                (expect, expect),
                "shard {n}"
            );
        }
        let mut union: Vec<SubKey> = Vec::new();
        for n in 0..3 {
            let p = plan(&c, &Discovered::new(), Shard::new(n, 3).unwrap());
            let alerts = p.subs.keys().filter(|k| k.definition == AA).count();
            assert_eq!(alerts, if n == 0 { 2 } else { 0 }, "shard {n}");
            assert!(
                p.subs.len() > 2 * 5,
                "shard {n} holds {} subscriptions",
                p.subs.len()
            );
            union.extend(p.subs.into_keys());
        }
        let n = union.len();
        union.sort();
        union.dedup();
        assert_eq!(n, union.len(), "a key is in two shards");
        assert_eq!(union, whole.subs.keys().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn a_new_filter_changes_only_that_definitions_subscriptions() {
        let base = serde_json::json!({"engines": ["fw1", "fw2"]});
        let old = plan(
            &cfg(serde_json::json!([smc("a", base)])),
            &Discovered::new(),
            Shard::default(),
        );
        let filtered = serde_json::json!({
            "engines": ["fw1", "fw2"],
            "filters": {"CONNECTIONS": "$Dport == 22"},
        });
        let new = plan(
            &cfg(serde_json::json!([smc("a", filtered)])),
            &Discovered::new(),
            Shard::default(),
        );
        assert_eq!(
            new.subs[&key("a", "fw1", C)].filter.as_deref(),
            Some(&serde_json::json!({"type": "translated", "value": "$Dport == 22"}))
        );
        let d = Plan::diff(&old, &new);
        assert!(d.sessions.is_empty(), "{d:?}");
        assert_eq!(
            d.subscriptions,
            Changes {
                to_add: vec![],
                to_change: vec![key("a", "fw1", C), key("a", "fw2", C)],
                to_remove: vec![],
            }
        );
    }

    #[test]
    fn diff_adds_changes_and_removes_by_key() {
        let base = serde_json::json!({"engines": ["fw1", "fw2"]});
        let old = plan(
            &cfg(serde_json::json!([
                smc("a", base.clone()),
                smc("b", base.clone())
            ])),
            &Discovered::new(),
            Shard::default(),
        );
        // Unchanged: nothing to do.
        assert!(Plan::diff(&old, &old.clone()).is_empty());
        // fw2 removed, fw3 added, VPN_SA's group_by changed, SMC b gone, c new.
        let new = plan(
            &cfg(serde_json::json!([
                smc(
                    "a",
                    serde_json::json!({"engines": ["fw1", "fw3"], "group_by": {"VPN_SA": ["cipher"]}})
                ),
                smc("c", base.clone()),
            ])),
            &Discovered::new(),
            Shard::default(),
        );
        let d = Plan::diff(&old, &new);
        assert_eq!(
            d.sessions,
            Changes {
                to_add: vec![Arc::from("c")],
                to_change: vec![],
                to_remove: vec![Arc::from("b")],
            }
        );
        assert_eq!(
            d.subscriptions.to_add,
            [
                key("a", "fw3", C),
                key("a", "fw3", V),
                key("c", "fw1", C),
                key("c", "fw1", V),
                key("c", "fw2", C),
                key("c", "fw2", V),
            ]
        );
        assert_eq!(d.subscriptions.to_change, [key("a", "fw1", V)]);
        assert_eq!(
            d.subscriptions.to_remove,
            [
                key("a", "fw2", C),
                key("a", "fw2", V),
                key("b", "fw1", C),
                key("b", "fw1", V),
                key("b", "fw2", C),
                key("b", "fw2", V),
            ]
        );
    }

    #[test]
    fn a_new_connection_changes_the_session_and_every_subscription_of_it() {
        let one = serde_json::json!({"engines": ["fw1"], "definitions": ["CONNECTIONS"]});
        let old = plan(
            &cfg(serde_json::json!([
                smc("a", one.clone()),
                smc("b", one.clone())
            ])),
            &Discovered::new(),
            Shard::default(),
        );
        for (what, change) in [
            ("url", serde_json::json!({"url": "http://127.0.0.1:2"})),
            ("api key", serde_json::json!({"api_key": "other"})),
            ("domain", serde_json::json!({"domain": "Other"})),
            ("tls", serde_json::json!({"insecure_skip_verify": true})),
            ("api version", serde_json::json!({"api_version": "7.1"})),
        ] {
            let mut a = smc("a", one.clone());
            a.as_object_mut()
                .unwrap()
                .extend(change.as_object().unwrap().clone());
            let new = plan(
                &cfg(serde_json::json!([a, smc("b", one.clone())])),
                &Discovered::new(),
                Shard::default(),
            );
            let d = Plan::diff(&old, &new);
            assert_eq!(d.sessions.to_change, [Arc::from("a")], "{what}");
            assert_eq!(d.subscriptions.to_change, [key("a", "fw1", C)], "{what}");
            assert!(d.subscriptions.to_add.is_empty() && d.subscriptions.to_remove.is_empty());
        }
        // [subscription] timing is every session's.
        let mut c = cfg(serde_json::json!([
            smc("a", one.clone()),
            smc("b", one.clone())
        ]));
        c.subscription.backoff_max *= 2;
        let d = Plan::diff(&old, &plan(&c, &Discovered::new(), Shard::default()));
        assert_eq!(d.sessions.to_change.len(), 2);
        assert_eq!(d.subscriptions.to_change.len(), 2);
    }
}
