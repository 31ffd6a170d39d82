//! `fabgossip.admission.*`: the limits comm puts on inbound connections, as plain values.

use std::time::Duration;

/// Limits on inbound connections (`fabgossip.admission.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// `handshakeTimeout`, 10 s: from accept to a verified ConnEstablish. An honest Fabric
    /// peer needs at most its `dialTimeout` (3 s) plus `connTimeout` (2 s).
    pub handshake_timeout: Duration,
    /// `maxUnauthenticated`, 512: connections accepted but not yet authenticated.
    pub max_unauthenticated: usize,
    /// `maxPerAddress`, 256: connections from one remote IP address, authenticated or not.
    pub max_per_address: usize,
    /// `fdReserve`, 128: file descriptors kept free below `RLIMIT_NOFILE`.
    pub fd_reserve: usize,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        AdmissionConfig {
            handshake_timeout: Duration::from_secs(10),
            max_unauthenticated: 512,
            max_per_address: 256,
            fd_reserve: 128,
        }
    }
}

impl AdmissionConfig {
    /// The first key whose value is unusable, with why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.handshake_timeout.is_zero() {
            return Err(("handshakeTimeout", "must be greater than zero"));
        }
        if self.max_unauthenticated == 0 {
            return Err(("maxUnauthenticated", "must be greater than zero"));
        }
        if self.max_per_address == 0 {
            return Err(("maxPerAddress", "must be greater than zero"));
        }
        Ok(())
    }
}
