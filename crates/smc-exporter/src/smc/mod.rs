//! The SMC client: session (REST login, the login gate), subscription (one
//! WebSocket per target × definition), its liveness and backoff, the
//! connection-life events they emit, and the REST engine poll
//! (`engine_poll`, scheduled by `discovery`). The wire format is `smc-protocol`'s.

pub mod backoff;
pub mod connect;
pub mod discovery;
pub mod driver;
pub mod engine_poll;
pub mod events;
pub mod feed;
pub mod folder;
pub mod gate;
pub mod incidents;
pub mod liveness;
pub mod log_stream;
pub mod notify;
pub mod rest;
pub mod resync;
pub mod session;
pub mod subscription;
pub mod tls;
pub mod ws_config;
