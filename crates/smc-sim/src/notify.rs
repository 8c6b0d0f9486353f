//! The notification socket (`/{ver}/notification/socket`, protocol §5), the
//! element registry whose changes it reports, and the element REST
//! (protocol §6, §7.1 #9).
//!
//! Client frames on the socket:
//!
//! * `{"context": X}` — X an entry-point rel (`host`), a comma list
//!   (`"host,network"`, `"host, network"`), or `"*"`/`""` for every element:
//!   `{"success":"Subscribed","subscription_id":N,"context":X}` with N fresh
//!   on this socket (1, 2, …). Every later element event whose type the
//!   context names is delivered once per matching subscription: API > 6.5
//!   `{"event":{"type","element":href},"subscription_id":N}`, API ≤ 6.5
//!   `{"events":[{…}…],"subscription_id":N}`.
//! * `{"unsubscribe": N}` — `{"success":"Unsubscribed","subscription_id":N}`
//!   and no more events for N (the reply is ours: the doc names the frame,
//!   not its answer).
//! * an abort (`{"abort":…}`, also the async client's `{'abort': …}`) is
//!   ignored; anything else gets `{"failure":…}` and the socket stays open.
//!
//! Element events come from the world: about one churn step in ten creates,
//! updates or deletes a host or network, and `POST /sim/elements` emits them
//! on demand.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::sent::SentEvent;
use super::socket::BATCH;
use super::world::{Data, Engine};
use super::ws::{Incoming, Ws, next_frame, send};
use smc_protocol::parse_abort;
use smc_protocol::{Definition, is_legacy_api, parse_api_version};

/// Element events queued per notification socket before it counts as too
/// slow and is closed.
const QUEUE: usize = 8192;
/// Element types `POST /sim/elements` can change.
pub(crate) const CHANGEABLE: &[&str] = &["host", "network", "router"];

/// What happened to an element (`event.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "create" => Some(Action::Create),
            "update" => Some(Action::Update),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }
}

/// One element change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ElementEvent {
    pub action: Action,
    /// Element type, the entry-point rel (`host`, `network`, …).
    pub etype: Arc<str>,
    pub id: u64,
}

impl ElementEvent {
    pub fn href(&self, base: &str, version: &str) -> String {
        element_href(base, version, &self.etype, self.id)
    }
}

pub(crate) fn element_href(base: &str, version: &str, etype: &str, id: u64) -> String {
    format!("{base}/{version}/elements/{etype}/{id}")
}

/// One element of the registry.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    pub etype: Arc<str>,
    pub id: u64,
    pub name: String,
    pub comment: String,
    /// `address` of a host or router.
    pub address: Option<String>,
    /// `ipv4_network` of a network.
    pub network: Option<String>,
}

impl Element {
    /// The REST representation (`GET <href>`), enough for the official
    /// client's `Element.from_href`.
    pub fn to_json(&self, base: &str, version: &str) -> Value {
        let mut v = json!({
            "name": self.name,
            "comment": self.comment,
            "link": [{"rel": "self", "href": element_href(base, version, &self.etype, self.id),
                      "type": &*self.etype}],
        });
        if let Some(a) = &self.address {
            v["address"] = Value::String(a.clone());
        }
        if let Some(n) = &self.network {
            v["ipv4_network"] = Value::String(n.clone());
        }
        v
    }
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<ElementEvent>,
    overflow: CancellationToken,
}

/// A notification socket's registration: every element event arrives on `rx`.
#[derive(Debug)]
pub(crate) struct Registered {
    pub id: u64,
    pub rx: mpsc::Receiver<ElementEvent>,
    pub overflow: CancellationToken,
}

/// Errors of `POST /sim/elements`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ElementError {
    #[error("type must be one of host, network, router")]
    Type,
    #[error("action must be create, update or delete")]
    Action,
}

/// The element registry: engines plus seeded hosts, networks and routers.
#[derive(Debug)]
pub(crate) struct Elements {
    rng: ChaCha8Rng,
    items: BTreeMap<(Arc<str>, u64), Element>,
    next_id: u64,
    revision: u64,
    subscribers: Vec<Subscriber>,
    next_subscriber: u64,
}

const HOST_ROLES: &[&str] = &["web", "db", "mail", "dns", "app", "file", "print", "vpn"];

impl Elements {
    pub fn generate(seed: u64, engines: &[Engine]) -> Elements {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xe1e3_e475_0000_0004);
        let next_id = 20_000 + rng.random_range(0..5_000);
        let mut e = Elements {
            rng,
            items: BTreeMap::new(),
            next_id,
            revision: 0,
            subscribers: Vec::new(),
            next_subscriber: 1,
        };
        for eng in engines {
            if let Some((kind, id)) = eng.element.split_once('/') {
                if let Ok(id) = id.parse::<u64>() {
                    let etype: Arc<str> = Arc::from(kind);
                    e.items.insert(
                        (etype.clone(), id),
                        Element {
                            etype,
                            id,
                            name: eng.name.clone(),
                            comment: String::new(),
                            address: None,
                            network: None,
                        },
                    );
                }
            }
        }
        for (etype, range) in [("host", 8..=20), ("network", 4..=12), ("router", 2..=5)] {
            let n = e.rng.random_range(range);
            for _ in 0..n {
                e.create(etype);
            }
        }
        e
    }

    pub fn get(&self, etype: &str, id: u64) -> Option<&Element> {
        self.items.get(&(Arc::from(etype), id))
    }

    /// Live ids of one type, ascending.
    fn ids(&self, etype: &str) -> Vec<u64> {
        self.items
            .keys()
            .filter(|(t, _)| &**t == etype)
            .map(|(_, id)| *id)
            .collect()
    }

    fn create(&mut self, etype: &str) -> ElementEvent {
        let id = self.next_id;
        self.next_id += 1;
        let rng = &mut self.rng;
        let etype: Arc<str> = Arc::from(etype);
        let (name, address, network) = match &*etype {
            "network" => {
                let (a, b) = (rng.random_range(16..=31u8), rng.random_range(0..=255u8));
                (
                    format!("net-172.{a}.{b}.0-24"),
                    None,
                    Some(format!("172.{a}.{b}.0/24")),
                )
            }
            "router" => {
                let ip = format!("192.168.{}.1", rng.random_range(0..=255u8));
                (format!("router-{id}"), Some(ip), None)
            }
            _ => {
                let role = HOST_ROLES[rng.random_range(0..HOST_ROLES.len())];
                let ip = format!(
                    "10.{}.{}.{}",
                    rng.random_range(10..=50u8),
                    rng.random_range(0..=31u8),
                    rng.random_range(1..=254u8)
                );
                (format!("{role}-{id}"), Some(ip), None)
            }
        };
        self.items.insert(
            (etype.clone(), id),
            Element {
                etype: etype.clone(),
                id,
                name,
                comment: String::new(),
                address,
                network,
            },
        );
        ElementEvent {
            action: Action::Create,
            etype,
            id,
        }
    }

    fn update(&mut self, etype: &str, id: u64) -> Option<ElementEvent> {
        self.revision += 1;
        let rev = self.revision;
        let e = self.items.get_mut(&(Arc::from(etype), id))?;
        e.comment = format!("revision {rev}");
        Some(ElementEvent {
            action: Action::Update,
            etype: e.etype.clone(),
            id,
        })
    }

    fn delete(&mut self, etype: &str, id: u64) -> Option<ElementEvent> {
        let e = self.items.remove(&(Arc::from(etype), id))?;
        Some(ElementEvent {
            action: Action::Delete,
            etype: e.etype,
            id,
        })
    }

    /// One churn step: one time in ten, create, update or delete a host or
    /// network (random element), and tell the subscribers.
    pub fn step(&mut self) {
        if self.rng.random_range(0..10) != 0 {
            return;
        }
        let etype = if self.rng.random_bool(0.5) {
            "host"
        } else {
            "network"
        };
        let ids = self.ids(etype);
        let r: f64 = self.rng.random();
        let ev = if ids.len() < 2 || (ids.len() <= 40 && r < 0.4) {
            Some(self.create(etype))
        } else {
            let id = ids[self.rng.random_range(0..ids.len())];
            if ids.len() <= 40 && r < 0.75 {
                self.update(etype, id)
            } else {
                self.delete(etype, id)
            }
        };
        if let Some(ev) = ev {
            self.notify(&ev);
        }
    }

    /// `POST /sim/elements`: `count` changes of `etype` now. Update and
    /// delete take the newest elements of the type (fewer when fewer live).
    pub fn apply(
        &mut self,
        etype: &str,
        action: &str,
        count: usize,
    ) -> Result<Vec<ElementEvent>, ElementError> {
        if !CHANGEABLE.contains(&etype) {
            return Err(ElementError::Type);
        }
        let action = Action::parse(action).ok_or(ElementError::Action)?;
        let mut out = Vec::new();
        match action {
            Action::Create => {
                for _ in 0..count {
                    out.push(self.create(etype));
                }
            }
            Action::Update | Action::Delete => {
                for id in self.ids(etype).into_iter().rev().take(count) {
                    let ev = if action == Action::Update {
                        self.update(etype, id)
                    } else {
                        self.delete(etype, id)
                    };
                    out.extend(ev);
                }
            }
        }
        for ev in &out {
            self.notify(ev);
        }
        Ok(out)
    }

    /// An engine added live: its element, and a `create` event.
    pub fn add_engine(&mut self, kind: &str, id: u64, name: &str) {
        let etype: Arc<str> = Arc::from(kind);
        self.items.insert(
            (etype.clone(), id),
            Element {
                etype: etype.clone(),
                id,
                name: name.to_string(),
                comment: String::new(),
                address: None,
                network: None,
            },
        );
        self.notify(&ElementEvent {
            action: Action::Create,
            etype,
            id,
        });
    }

    /// An engine removed live: its element goes, with a `delete` event.
    pub fn remove_engine(&mut self, kind: &str, id: u64) {
        if let Some(ev) = self.delete(kind, id) {
            self.notify(&ev);
        }
    }

    fn notify(&mut self, ev: &ElementEvent) {
        self.subscribers
            .retain(|s| match s.tx.try_send(ev.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::warn!(
                        subscriber = s.id,
                        "notification socket queue overflow; closing it"
                    );
                    s.overflow.cancel();
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
    }

    pub fn subscribe(&mut self) -> Registered {
        let id = self.next_subscriber;
        self.next_subscriber += 1;
        let (tx, rx) = mpsc::channel(QUEUE);
        let overflow = CancellationToken::new();
        self.subscribers.push(Subscriber {
            id,
            tx,
            overflow: overflow.clone(),
        });
        Registered { id, rx, overflow }
    }

    pub fn unsubscribe(&mut self, id: u64) {
        self.subscribers.retain(|s| s.id != id);
    }
}

// ---------------------------------------------------------------------------
// Element REST.

/// `GET /{ver}/elements/<type>/<id>`: the live element, if any.
pub(crate) fn get_element(
    shared: &Shared,
    etype: &str,
    id: &str,
    base: &str,
    version: &str,
) -> Option<Value> {
    let id = id.parse::<u64>().ok()?;
    let w = shared.world();
    let mut v = w.elements.get(etype, id)?.to_json(base, version);
    // An engine's element also lists its nodes (`engines.rs`).
    if let Some(e) = w.live_engine(&format!("{etype}/{id}")) {
        crate::engines::add_nodes(&mut v, e, base, version);
    }
    Some(v)
}

/// `DELETE` of a `block_list_href`/`blacklist_href`
/// (`/{ver}/elements/<kind>/<id>/block_list/<b64 entry id>`, `blacklist`
/// below API 7.0) or a `vpn_sa_href` (`…/vpn_sa/<b64 spi>`): remove the
/// entry (subscribers get the `deleted` delta). Whether one was removed.
pub(crate) fn delete_session_entry(
    shared: &Shared,
    version: &str,
    element: &str,
    link: &str,
    b64: &str,
) -> bool {
    let legacy = parse_api_version(version).is_some_and(is_legacy_api);
    let Some(number) = B64
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return false;
    };
    let mut w = shared.world();
    match link {
        "block_list" if !legacy => w.remove_entry(
            Definition::BlockList,
            element,
            |e| matches!(&e.data, Data::BlockList(b) if b.id == number),
        ),
        "blacklist" if legacy => w.remove_entry(
            Definition::BlockList,
            element,
            |e| matches!(&e.data, Data::BlockList(b) if b.id == number),
        ),
        "vpn_sa" => w.remove_entry(
            Definition::VpnSa,
            element,
            |e| matches!(&e.data, Data::VpnSa(s) if u64::from(s.spi) == number),
        ),
        _ => false,
    }
}

/// `POST /sim/elements`: apply and return the affected hrefs.
pub(crate) fn apply_now(
    shared: &Shared,
    etype: &str,
    action: &str,
    count: usize,
    base: &str,
    version: &str,
) -> Result<Vec<String>, ElementError> {
    let events = shared.world().elements.apply(etype, action, count)?;
    Ok(events.iter().map(|e| e.href(base, version)).collect())
}

// ---------------------------------------------------------------------------
// The socket.

/// What a subscription's `context` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Context {
    All,
    Types(Vec<String>),
}

impl Context {
    /// `"*"`, `""` (or only commas and blanks): everything; else the comma
    /// list of rels, blanks trimmed.
    pub fn parse(s: &str) -> Context {
        let parts: Vec<String> = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        if parts.is_empty() || parts.iter().any(|p| p == "*") {
            Context::All
        } else {
            Context::Types(parts)
        }
    }

    pub fn matches(&self, etype: &str) -> bool {
        match self {
            Context::All => true,
            Context::Types(t) => t.iter().any(|p| p == etype),
        }
    }
}

/// The notification socket's subscriptions.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    next: u64,
    subs: Vec<(u64, Context)>,
}

const USAGE: &str =
    "expected {\"context\": \"<entry point>[,…]\" | \"*\"} or {\"unsubscribe\": <subscription_id>}";

impl Subscriptions {
    /// The reply to one client text frame; `None`: no reply (an abort).
    pub fn handle(&mut self, text: &str) -> Option<Value> {
        if parse_abort(text).is_some() {
            return None;
        }
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            return Some(json!({ "failure": format!("Invalid JSON: {USAGE}") }));
        };
        if let Some(c) = v.get("context") {
            let Some(ctx) = c.as_str() else {
                return Some(json!({ "failure": format!("Invalid context {c}: {USAGE}") }));
            };
            self.next += 1;
            let id = self.next;
            self.subs.push((id, Context::parse(ctx)));
            return Some(json!({"success": "Subscribed", "subscription_id": id, "context": ctx}));
        }
        if let Some(u) = v.get("unsubscribe") {
            let id = u
                .as_u64()
                .or_else(|| u.as_str().and_then(|s| s.trim().parse().ok()));
            let Some(pos) = id.and_then(|id| self.subs.iter().position(|(s, _)| *s == id)) else {
                return Some(json!({ "failure": format!("Unknown subscription_id {u}") }));
            };
            let (id, _) = self.subs.remove(pos);
            return Some(json!({"success": "Unsubscribed", "subscription_id": id}));
        }
        Some(json!({ "failure": format!("Missing context: {USAGE}") }))
    }

    /// The messages for a batch of events: one `event` message per (event,
    /// matching subscription), or on API ≤ 6.5 one `events` list per
    /// subscription.
    #[cfg(test)]
    pub fn messages(
        &self,
        events: &[ElementEvent],
        base: &str,
        version: &str,
        listed: bool,
    ) -> Vec<Value> {
        self.outgoing(events, base, version, listed)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }

    /// [`Subscriptions::messages`], each with the events it carries (for
    /// the ledger, `sent.rs`).
    pub fn outgoing(
        &self,
        events: &[ElementEvent],
        base: &str,
        version: &str,
        listed: bool,
    ) -> Vec<(Value, Vec<SentEvent>)> {
        let sent = |e: &ElementEvent, sub: u64| SentEvent {
            subscription_id: sub,
            element_type: e.etype.to_string(),
            action: e.action.as_str().to_string(),
            href: e.href(base, version),
        };
        let body = |s: &SentEvent| json!({"type": s.action, "element": s.href});
        if listed {
            self.subs
                .iter()
                .filter_map(|(id, ctx)| {
                    let evs: Vec<SentEvent> = events
                        .iter()
                        .filter(|e| ctx.matches(&e.etype))
                        .map(|e| sent(e, *id))
                        .collect();
                    let list: Vec<Value> = evs.iter().map(body).collect();
                    (!list.is_empty())
                        .then(|| (json!({"events": list, "subscription_id": id}), evs))
                })
                .collect()
        } else {
            events
                .iter()
                .flat_map(|e| {
                    self.subs
                        .iter()
                        .filter(|(_, ctx)| ctx.matches(&e.etype))
                        .map(move |(id, _)| {
                            let s = sent(e, *id);
                            (json!({"event": body(&s), "subscription_id": id}), vec![s])
                        })
                })
                .collect()
        }
    }
}

/// API ≤ 6.5 sends `events` lists (protocol §5, §8 #14).
pub(crate) fn listed_events(version: &str) -> bool {
    parse_api_version(version).is_some_and(|v| v <= (6, 5))
}

/// Unregisters a socket from the element events, and marks its ledger
/// entry ended.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.world().elements.unsubscribe(self.id);
        self.shared.notify_sent().close(self.id);
    }
}

/// Write the messages of a batch of events, each in the ledger from just
/// before its write. False: the socket is gone.
async fn send_events(
    ws: &mut Ws,
    shared: &Shared,
    reg_id: u64,
    messages: Vec<(Value, Vec<SentEvent>)>,
) -> bool {
    for (m, evs) in messages {
        let n = shared.notify_sent().record(reg_id, evs);
        if !send(ws, &m).await {
            shared.notify_sent().unrecord(reg_id, n);
            return false;
        }
    }
    true
}

/// `GET /sim/notifications/sent`: every notification socket's ledger,
/// oldest first.
pub(crate) fn sent_truth(shared: &Shared) -> Value {
    let ledger = shared.notify_sent();
    let sockets: Vec<Value> = ledger
        .entries()
        .map(|e| {
            json!({"socket": e.id, "live": e.live, "sent": e.sent(),
                   "events": e.items.iter().collect::<Vec<_>>(), "dropped": e.dropped})
        })
        .collect();
    json!({"sockets": sockets, "dropped_sockets": ledger.dropped_entries()})
}

pub(crate) async fn serve(mut ws: Ws, shared: &Shared, version: &str, base: &str) {
    let Registered {
        id: reg_id,
        mut rx,
        overflow,
    } = shared.world().elements.subscribe();
    shared.notify_sent().open(reg_id);
    let _reg = Registration { shared, id: reg_id };
    let listed = listed_events(version);
    let mut subs = Subscriptions::default();
    loop {
        tokio::select! {
            _ = overflow.cancelled() => return,
            ev = rx.recv() => {
                let Some(first) = ev else { return };
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                let messages = subs.outgoing(&batch, base, version, listed);
                if !send_events(&mut ws, shared, reg_id, messages).await {
                    return;
                }
            }
            m = next_frame(&mut ws) => match m {
                Incoming::End => return,
                Incoming::TooBig(_) | Incoming::Other => {}
                Incoming::Text(t) => {
                    if let Some(reply) = subs.handle(&t) {
                        if !send(&mut ws, &reply).await {
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::world::World;
    use super::*;

    fn ev(action: Action, etype: &str, id: u64) -> ElementEvent {
        ElementEvent {
            action,
            etype: Arc::from(etype),
            id,
        }
    }

    #[test]
    fn contexts_parse() {
        assert_eq!(Context::parse("*"), Context::All);
        assert_eq!(Context::parse(""), Context::All);
        assert_eq!(Context::parse(" , "), Context::All);
        assert_eq!(
            Context::parse("host, network"),
            Context::Types(vec!["host".into(), "network".into()])
        );
        assert!(Context::parse("host,network").matches("network"));
        assert!(!Context::parse("host").matches("network"));
    }

    #[test]
    fn subscription_frames() {
        let mut s = Subscriptions::default();
        assert_eq!(
            s.handle(r#"{"context":"host"}"#),
            Some(json!({"success":"Subscribed","subscription_id":1,"context":"host"}))
        );
        assert_eq!(
            s.handle(r#"{"context":"*"}"#),
            Some(json!({"success":"Subscribed","subscription_id":2,"context":"*"}))
        );
        assert_eq!(s.handle("{'abort': 4}"), None);
        assert_eq!(
            s.handle("not json"),
            Some(json!({"failure": format!("Invalid JSON: {USAGE}")}))
        );
        assert_eq!(
            s.handle(r#"{"ctx":"host"}"#),
            Some(json!({"failure": format!("Missing context: {USAGE}")}))
        );
        assert_eq!(
            s.handle(r#"{"context":5}"#),
            Some(json!({"failure": format!("Invalid context 5: {USAGE}")}))
        );
        assert_eq!(
            s.handle(r#"{"unsubscribe":9}"#),
            Some(json!({"failure": "Unknown subscription_id 9"}))
        );
        let events = [
            ev(Action::Create, "host", 7),
            ev(Action::Delete, "network", 8),
        ];
        let m = s.messages(&events, "http://h", "7.1", false);
        assert_eq!(
            m,
            vec![
                json!({"event":{"type":"create","element":"http://h/7.1/elements/host/7"},"subscription_id":1}),
                json!({"event":{"type":"create","element":"http://h/7.1/elements/host/7"},"subscription_id":2}),
                json!({"event":{"type":"delete","element":"http://h/7.1/elements/network/8"},"subscription_id":2}),
            ]
        );
        let m = s.messages(&events, "http://h", "6.5", true);
        assert_eq!(
            m,
            vec![
                json!({"events":[{"type":"create","element":"http://h/6.5/elements/host/7"}],"subscription_id":1}),
                json!({"events":[{"type":"create","element":"http://h/6.5/elements/host/7"},
                                 {"type":"delete","element":"http://h/6.5/elements/network/8"}],"subscription_id":2}),
            ]
        );
        assert_eq!(
            s.handle(r#"{"unsubscribe":1}"#),
            Some(json!({"success":"Unsubscribed","subscription_id":1}))
        );
        assert_eq!(s.messages(&events[..1], "http://h", "7.1", false).len(), 1);
    }

    #[test]
    fn api_version_picks_the_event_shape() {
        assert!(listed_events("6.5"));
        assert!(listed_events("6.4"));
        assert!(!listed_events("6.6"));
        assert!(!listed_events("6.10"));
        assert!(!listed_events("7.1"));
    }

    #[test]
    fn registry_is_seeded_and_churns() {
        let mut a = World::generate(3, 1);
        let mut b = World::generate(3, 1);
        let mut sub = a.elements.subscribe();
        for _ in 0..300 {
            a.step();
            b.step();
        }
        let mut got = Vec::new();
        while let Ok(e) = sub.rx.try_recv() {
            got.push(e);
        }
        // About one step in ten, and both worlds agree.
        assert!((10..=60).contains(&got.len()), "{}", got.len());
        assert!(
            got.iter()
                .all(|e| &*e.etype == "host" || &*e.etype == "network")
        );
        let keys = |w: &World| -> Vec<(String, u64, String)> {
            w.elements
                .items
                .values()
                .map(|e| (e.etype.to_string(), e.id, e.comment.clone()))
                .collect()
        };
        assert_eq!(keys(&a), keys(&b));
        for e in &a.g.engines {
            let (kind, id) = e.element.split_once('/').unwrap();
            assert_eq!(
                a.elements
                    .get(kind, id.parse().unwrap())
                    .map(|x| x.name.as_str()),
                Some(e.name.as_str())
            );
        }
        a.elements.unsubscribe(sub.id);
    }

    #[test]
    fn apply_creates_updates_and_deletes_the_newest() {
        let mut w = World::generate(1, 1);
        let created = w.elements.apply("host", "create", 2).unwrap();
        assert_eq!(created.len(), 2);
        assert!(created.iter().all(|e| e.action == Action::Create));
        let updated = w.elements.apply("host", "update", 1).unwrap();
        assert_eq!(updated, vec![ev(Action::Update, "host", created[1].id)]);
        assert_eq!(
            w.elements.get("host", created[1].id).unwrap().comment,
            "revision 1"
        );
        let deleted = w.elements.apply("host", "delete", 2).unwrap();
        assert_eq!(
            deleted,
            vec![
                ev(Action::Delete, "host", created[1].id),
                ev(Action::Delete, "host", created[0].id)
            ]
        );
        assert!(w.elements.get("host", created[0].id).is_none());
        assert_eq!(
            w.elements.apply("fw_cluster", "create", 1),
            Err(ElementError::Type)
        );
        assert_eq!(
            w.elements.apply("host", "rename", 1),
            Err(ElementError::Action)
        );
        let e = w.elements.apply("network", "create", 1).unwrap();
        let net = w.elements.get("network", e[0].id).unwrap();
        let j = net.to_json("http://h", "7.1");
        assert_eq!(j["link"][0]["type"], "network");
        assert_eq!(
            j["link"][0]["href"],
            format!("http://h/7.1/elements/network/{}", e[0].id)
        );
        assert!(j["ipv4_network"].as_str().unwrap().ends_with(".0/24"));
    }
}
