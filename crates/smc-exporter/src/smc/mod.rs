//! The SMC client: session (REST login, the login gate), subscription (one
//! WebSocket per target × definition), its liveness and backoff, and the
//! connection-life events they emit. The wire format is `smc-protocol`'s.

pub mod backoff;
pub mod connect;
pub mod driver;
pub mod events;
pub mod folder;
pub mod gate;
pub mod incidents;
pub mod liveness;
pub mod rest;
pub mod resync;
pub mod session;
pub mod subscription;
pub mod tls;
pub mod ws_config;
