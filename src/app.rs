//! Wiring: config → store → supervisors → HTTP.
