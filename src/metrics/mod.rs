//! STUB: rendering of the store.
