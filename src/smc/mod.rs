//! The SMC client: session (REST login), protocol (wire decode),
//! subscription (one WebSocket per target × definition) and its backoff.

pub mod backoff;
pub mod protocol;
pub mod rest;
pub mod session;
pub mod subscription;
pub mod tls;
pub mod ws_config;
