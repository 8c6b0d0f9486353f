//! smc-protocol: the wire vocabulary of the Forcepoint SMC monitoring
//! sockets, shared by the exporter and the simulator.
//!
//! * [`Definition`]: the eight session-monitoring definitions and their
//!   wire names;
//! * the log-field catalog ([`FIELDS`], [`field_by_id`], [`field_by_name`]);
//! * API versions ([`parse_api_version`], [`SUPPORTED_API_VERSIONS`]);
//! * alert severities and the [`Transform`] of a field value;
//! * [`decode`] / [`decode_fields`]: server → client messages into narrow
//!   types borrowing from the frame ([`ServerMessage`], [`Records`],
//!   [`Record`]), all fields or only a [`FieldSet`];
//! * [`query_json`] / [`abort_frame`]: client → server frames;
//! * [`Change`]: the kind of a record;
//! * [`decode_notification`] / [`subscribe_frame`]: the notification
//!   socket's messages and its subscribe frame;
//! * [`filter`]: query filters (the JSON form and the SMC's `translated`
//!   expressions) parsed and matched against a row, so the simulator
//!   applies them and the exporter's `--config.check` refuses a bad one.
//!
//! It must not depend on tokio, on any networking, or on the exporter's
//! metric names (they are `smc-exporter`'s `labels` module): what it knows is
//! what travels on the wire. Its dependencies are serde, serde_json and
//! thiserror.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod change;
mod decode;
mod definition;
mod fields;
pub mod filter;
mod node;
mod notification;
mod query;
mod severity;
mod version;

pub use change::Change;
pub use decode::{
    DecodeError, Field, FieldDescriptor, FieldSet, Record, Records, ServerMessage, decode,
    decode_fields, parse_abort,
};
pub use definition::Definition;
pub use fields::{FIELDS, FieldSpec, field_by_id, field_by_name};
pub use filter::{Filter, FilterError};
pub use node::{NODE_STATES, NODE_STATUSES};
pub use notification::{
    ElementEvent, Notification, NotificationError, decode_notification, subscribe_frame,
};
pub use query::{abort_frame, log_live_query, query_json};
pub use severity::{SEVERITIES, Transform, severity_label};
pub use version::{
    SUPPORTED_API_VERSIONS, api_version_supported, is_legacy_api, parse_api_version,
};
