//! STUB: the SMC simulator.
