//! The SMC client: session (REST login), protocol (wire decode), subscription.
