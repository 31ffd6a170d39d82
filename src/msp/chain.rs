//! Chain building as Go's `x509.Certificate.Verify` does it for the MSP: from a certificate,
//! through intermediates, to a root, every link signed by a CA allowed to sign, every
//! certificate valid at the verification time, path-length limits kept, and server
//! authentication permitted along the chain (the usage Go asks for when none is given).

use super::cert::Cert;
use super::MspError;

/// Longest chain searched; Fabric's CA trees are a few levels deep.
const MAX_DEPTH: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct CaPool {
    pub roots: Vec<Cert>,
    pub intermediates: Vec<Cert>,
}

fn valid_at(c: &Cert, at: i64) -> bool {
    c.not_before <= at && at <= c.not_after
}

impl CaPool {
    /// Every chain `[cert, issuer, ..., root]` valid at `at` (Unix seconds).
    pub fn chains(&self, cert: &Cert, at: i64) -> Result<Vec<Vec<Cert>>, MspError> {
        if !valid_at(cert, at) {
            return Err(MspError::Invalid(
                "certificate has expired or is not yet valid".into(),
            ));
        }
        let mut found = Vec::new();
        if self.roots.iter().any(|r| r.der == cert.der) {
            found.push(vec![cert.clone()]);
        } else {
            let mut chain = vec![cert.clone()];
            self.extend(&mut chain, at, &mut found);
        }
        if found.is_empty() {
            return Err(MspError::UnknownAuthority(
                "certificate signed by unknown authority".into(),
            ));
        }
        found.retain(|ch| ch.iter().all(|c| c.server_auth_allowed));
        if found.is_empty() {
            return Err(MspError::Invalid(
                "certificate specifies an incompatible key usage".into(),
            ));
        }
        Ok(found)
    }

    /// The one chain of `cert`; Fabric's MSP refuses a certificate with several.
    pub fn unique_chain(&self, cert: &Cert, at: i64) -> Result<Vec<Cert>, MspError> {
        let mut chains = self.chains(cert, at)?;
        if chains.len() != 1 {
            return Err(MspError::Invalid(format!(
                "this MSP only supports a single validation chain, got {}",
                chains.len()
            )));
        }
        Ok(chains.remove(0))
    }

    fn extend(&self, chain: &mut Vec<Cert>, at: i64, found: &mut Vec<Vec<Cert>>) {
        if chain.len() > MAX_DEPTH {
            return;
        }
        let current = chain
            .last()
            .expect("chain starts with the certificate")
            .clone();
        let candidates = self
            .roots
            .iter()
            .map(|c| (c, true))
            .chain(self.intermediates.iter().map(|c| (c, false)));
        for (parent, is_root) in candidates {
            if parent.subject != current.issuer || chain.iter().any(|c| c.der == parent.der) {
                continue;
            }
            if current.check_signature_from(parent).is_err() || !valid_at(parent, at) {
                continue;
            }
            if !is_root && !parent.is_ca() {
                continue;
            }
            if let Some((_, Some(max))) = parent.basic_constraints {
                if chain.len() - 1 > max as usize {
                    continue;
                }
            }
            chain.push(parent.clone());
            if is_root {
                found.push(chain.clone());
            } else {
                self.extend(chain, at, found);
            }
            chain.pop();
        }
    }
}
