//! Which orderer endpoint to dial next: a random first choice (so the peers of an org spread
//! over the orderers), then each failure moves on to the next one, so a dead orderer is
//! retried only after every other one was tried. Address overrides
//! (`peer.deliveryclient.addressOverrides`) are applied when the list is built.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::channel::OrdererEndpoint;
use crate::config::OrdererAddressOverride;

/// An orderer as the client dials it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdererTarget {
    /// `host:port` to dial.
    pub address: String,
    /// PEM root certificates for TLS; `None`: plain TCP.
    pub tls_root_cert: Option<Vec<u8>>,
}

/// Applies the address overrides to the channel's orderers. An override's `caCertsFile`
/// that cannot be read keeps the channel's certificate; the error is logged.
pub fn resolve_targets(
    orderers: &[OrdererEndpoint],
    overrides: &[OrdererAddressOverride],
) -> Vec<OrdererTarget> {
    orderers
        .iter()
        .map(|o| {
            let mut t = OrdererTarget {
                address: o.endpoint.clone(),
                tls_root_cert: o.tls_root_cert.as_ref().map(|p| p.as_bytes().to_vec()),
            };
            if let Some(ov) = overrides.iter().find(|ov| ov.from == o.endpoint) {
                t.address = ov.to.clone();
                if let Some(file) = &ov.ca_certs_file {
                    match std::fs::read(file) {
                        Ok(pem) => t.tls_root_cert = Some(pem),
                        Err(e) => tracing::warn!(
                            orderer = %o.endpoint, file = %file.display(),
                            "address override CA file unreadable, keeping the channel's: {e}"
                        ),
                    }
                }
            }
            t
        })
        .collect()
}

/// Round-robin over a shuffled list of endpoints.
#[derive(Debug, Clone)]
pub struct EndpointSelector {
    targets: Vec<OrdererTarget>,
    current: usize,
}

impl EndpointSelector {
    /// `None` when there is no endpoint at all.
    pub fn new(mut targets: Vec<OrdererTarget>, rng: &mut impl Rng) -> Option<Self> {
        if targets.is_empty() {
            return None;
        }
        targets.shuffle(rng);
        Some(EndpointSelector {
            targets,
            current: 0,
        })
    }

    /// The endpoint to dial now.
    pub fn current(&self) -> &OrdererTarget {
        &self.targets[self.current]
    }

    /// The current endpoint failed (dial, stream error, status reply, bad block): move on.
    pub fn failed(&mut self) {
        self.current = (self.current + 1) % self.targets.len();
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    fn orderers(n: usize) -> Vec<OrdererEndpoint> {
        (0..n)
            .map(|i| OrdererEndpoint {
                endpoint: format!("o{i}:7050"),
                tls_root_cert: (i == 1).then(|| "PEM".to_string()),
                public_key: None,
            })
            .collect()
    }

    #[test]
    fn no_endpoint_no_selector() {
        assert!(EndpointSelector::new(Vec::new(), &mut StdRng::seed_from_u64(1)).is_none());
    }

    #[test]
    fn failures_visit_every_endpoint_before_repeating() {
        let targets = resolve_targets(&orderers(4), &[]);
        let mut s = EndpointSelector::new(targets, &mut StdRng::seed_from_u64(3)).unwrap();
        assert_eq!(s.len(), 4);
        for _round in 0..3 {
            let mut seen = BTreeSet::new();
            for _ in 0..4 {
                assert!(seen.insert(s.current().address.clone()), "repeated early");
                s.failed();
            }
            assert_eq!(seen.len(), 4);
        }
    }

    #[test]
    fn a_working_endpoint_is_kept() {
        let targets = resolve_targets(&orderers(3), &[]);
        let s = EndpointSelector::new(targets, &mut StdRng::seed_from_u64(9)).unwrap();
        let first = s.current().clone();
        // No failure reported: the same endpoint is dialed again.
        assert_eq!(s.current(), &first);
    }

    #[test]
    fn first_choice_is_spread_over_the_endpoints() {
        let firsts: BTreeSet<String> = (0..64)
            .map(|seed| {
                let targets = resolve_targets(&orderers(3), &[]);
                EndpointSelector::new(targets, &mut StdRng::seed_from_u64(seed))
                    .unwrap()
                    .current()
                    .address
                    .clone()
            })
            .collect();
        assert_eq!(firsts.len(), 3, "{firsts:?}");
    }

    #[test]
    fn single_endpoint_is_retried() {
        let targets = resolve_targets(&orderers(1), &[]);
        let mut s = EndpointSelector::new(targets, &mut StdRng::seed_from_u64(1)).unwrap();
        s.failed();
        s.failed();
        assert_eq!(s.current().address, "o0:7050");
    }

    #[test]
    fn overrides_replace_address_and_keep_tls_root() {
        let ov = OrdererAddressOverride {
            from: "o1:7050".into(),
            to: "127.0.0.1:17050".into(),
            ca_certs_file: Some("/nonexistent/ca.pem".into()),
        };
        let t = resolve_targets(&orderers(2), &[ov]);
        assert_eq!(t[0].address, "o0:7050");
        assert_eq!(t[0].tls_root_cert, None);
        assert_eq!(t[1].address, "127.0.0.1:17050");
        // The override's CA file is unreadable: the channel's certificate stays.
        assert_eq!(t[1].tls_root_cert.as_deref(), Some(&b"PEM"[..]));
    }
}
