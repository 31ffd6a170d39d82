//! The per-channel state provider.
