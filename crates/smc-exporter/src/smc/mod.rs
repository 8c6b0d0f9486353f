//! The SMC client: session (REST login, the login gate), protocol (wire
//! decode), subscription (one WebSocket per target × definition), its
//! liveness and backoff, and the connection-life events they emit.

pub mod backoff;
pub mod events;
pub mod gate;
pub mod incidents;
pub mod liveness;
pub mod protocol;
pub mod rest;
pub mod session;
pub mod subscription;
pub mod tls;
pub mod ws_config;
