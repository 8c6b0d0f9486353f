//! STUB: the HTTP server.
