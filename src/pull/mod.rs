//! Fabric's pull engine.
