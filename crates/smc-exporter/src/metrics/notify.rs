//! The notification families (what the notification socket of an SMC
//! reported, [`crate::state::notify`]). Rendered only when at least one SMC
//! has `notify`.

use crate::state::Store;

use super::exposition::{FamilyDesc, MetricSink, Value};

pub const ELEMENT_CHANGES: FamilyDesc = FamilyDesc::counter(
    "smc_element_changes_total",
    "Element changes the SMC's notification socket reported, by element type (a configured notify type, or other) and action (create, update, delete, trashed, untrashed, validating, validated, or other). Changes made while the socket was down are not counted.",
);
pub const NOTIFICATION_UP: FamilyDesc = FamilyDesc::gauge(
    "smc_notification_up",
    "1 while the SMC's notification socket is open and its subscription acknowledged, else 0.",
);
pub const NOTIFICATION_RECONNECTS: FamilyDesc = FamilyDesc::counter(
    "smc_notification_reconnects_total",
    "Reconnects of the SMC's notification socket, by reason (the reasons of smc_subscription_reconnects_total).",
);
pub const NOTIFICATION_MALFORMED: FamilyDesc = FamilyDesc::counter(
    "smc_notification_malformed_total",
    "Messages or event list items of the notification socket that could not be read (not JSON, an event without type or element).",
);

/// Every notification family, if any SMC has a notification socket.
pub fn notification_families(store: &Store, sink: &mut impl MetricSink) {
    if store.notifications.is_empty() {
        return;
    }
    sink.family(&ELEMENT_CHANGES);
    for st in &store.notifications {
        for (etype, action, n) in st.changes() {
            let labels = [
                ("smc", &*st.smc),
                ("element_type", etype),
                ("action", action),
            ];
            sink.sample(&labels, Value::Int(n));
        }
    }
    sink.family(&NOTIFICATION_UP);
    for st in &store.notifications {
        sink.sample(&[("smc", &st.smc)], Value::Int(u64::from(st.up())));
    }
    sink.family(&NOTIFICATION_RECONNECTS);
    for st in &store.notifications {
        for (r, n) in st.reconnects() {
            sink.sample(&[("smc", &st.smc), ("reason", r.label())], Value::Int(n));
        }
    }
    sink.family(&NOTIFICATION_MALFORMED);
    for st in &store.notifications {
        sink.sample(&[("smc", &st.smc)], Value::Int(st.malformed()));
    }
}
