//! Evaluating the channel's policies over signed data, as Fabric's policy manager does:
//! ImplicitMeta counts the sub-groups whose same-named policy is satisfied; a signature
//! policy is n-out-of over principals, where one signer satisfies at most one principal of
//! a rule set.
//!
//! Each signature is verified once, up front ([`verified_signers`]); the tree is then
//! evaluated over the verified identities only, through [`PrincipalCheck`], the channel's
//! MSPs.

use super::error::PolicyError;
use super::policy::{Policy, PolicyGroup};
use crate::proto::common::{
    signature_policy, MspPrincipal, SignaturePolicy, SignaturePolicyEnvelope,
};

/// What a channel's MSPs answer for policy evaluation.
pub trait PrincipalCheck {
    /// Whether the serialized identity satisfies the principal (member, admin, peer of an
    /// org; an OU; an exact identity), as the identity's MSP decides.
    fn satisfies_principal(&self, identity: &[u8], principal: &MspPrincipal) -> bool;

    /// Whether `signature` over `data` is valid for the serialized identity (a valid
    /// identity of one of the channel's MSPs).
    fn verify_signature(&self, identity: &[u8], data: &[u8], signature: &[u8]) -> bool;
}

/// One signature over data, with the serialized identity that claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedData {
    pub identity: Vec<u8>,
    pub data: Vec<u8>,
    pub signature: Vec<u8>,
}

/// The identities whose signature verifies, each once: a repeated identity counts once,
/// as Fabric de-duplicates signers; an invalid signature counts for nothing.
pub fn verified_signers<'a>(check: &dyn PrincipalCheck, signed: &'a [SignedData]) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = Vec::with_capacity(signed.len());
    for sd in signed {
        if out.contains(&sd.identity.as_slice()) {
            continue;
        }
        if check.verify_signature(&sd.identity, &sd.data, &sd.signature) {
            out.push(&sd.identity);
        }
    }
    out
}

/// Evaluates the policy at `path` (`/Channel/Application/Readers`) of `root` (the
/// `Channel` group's tree) over identities already verified ([`verified_signers`]).
pub fn evaluate(
    root: &PolicyGroup,
    path: &str,
    signers: &[&[u8]],
    check: &dyn PrincipalCheck,
) -> Result<(), PolicyError> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (name, groups) = match parts.as_slice() {
        ["Channel", groups @ .., name] => (*name, groups),
        _ => return Err(PolicyError::NotFound(path.to_string())),
    };
    let group = root
        .group(groups)
        .ok_or_else(|| PolicyError::NotFound(path.to_string()))?;
    let policy = group
        .policies
        .get(name)
        .ok_or_else(|| PolicyError::NotFound(path.to_string()))?;
    if satisfied(group, policy, path, signers, check)? {
        Ok(())
    } else {
        Err(PolicyError::NotSatisfied(path.to_string()))
    }
}

fn satisfied(
    group: &PolicyGroup,
    policy: &Policy,
    path: &str,
    signers: &[&[u8]],
    check: &dyn PrincipalCheck,
) -> Result<bool, PolicyError> {
    match policy {
        Policy::Signature(env) => {
            let Some(rule) = &env.rule else {
                return Ok(false);
            };
            let mut used = vec![false; signers.len()];
            Ok(rule_holds(rule, &env.identities, signers, &mut used, check))
        }
        Policy::ImplicitMeta { sub_policy, rule } => {
            let n = group.groups.len();
            let mut remaining = rule.threshold(n);
            if remaining == 0 {
                return Ok(true);
            }
            for (name, sub) in &group.groups {
                // A sub-group without the policy counts as not satisfied, as in Fabric.
                let Some(p) = sub.policies.get(sub_policy) else {
                    continue;
                };
                let sub_path = format!("{}/{name}/{sub_policy}", parent(path));
                if satisfied(sub, p, &sub_path, signers, check)? {
                    remaining -= 1;
                    if remaining == 0 {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        }
        Policy::Unsupported(kind) => Err(PolicyError::Unsupported {
            path: path.to_string(),
            kind: *kind,
        }),
    }
}

/// Whether a signature policy outside the channel tree (a collection's member orgs policy)
/// holds over identities already verified; an envelope with no rule holds for nobody.
pub fn signature_policy_holds(
    env: &SignaturePolicyEnvelope,
    signers: &[&[u8]],
    check: &dyn PrincipalCheck,
) -> bool {
    let Some(rule) = &env.rule else {
        return false;
    };
    let mut used = vec![false; signers.len()];
    rule_holds(rule, &env.identities, signers, &mut used, check)
}

/// `/Channel/Application/Readers` → `/Channel/Application`.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or(path, |(p, _)| p)
}

/// A rule of a signature policy. `used` marks the signers already spent on a satisfied
/// principal; a sub-rule's claims are kept only when that sub-rule holds.
fn rule_holds(
    rule: &SignaturePolicy,
    principals: &[MspPrincipal],
    signers: &[&[u8]],
    used: &mut [bool],
    check: &dyn PrincipalCheck,
) -> bool {
    match &rule.r#type {
        Some(signature_policy::Type::SignedBy(i)) => {
            let Some(principal) = usize::try_from(*i).ok().and_then(|i| principals.get(i)) else {
                return false;
            };
            for (k, id) in signers.iter().enumerate() {
                if !used[k] && check.satisfies_principal(id, principal) {
                    used[k] = true;
                    return true;
                }
            }
            false
        }
        Some(signature_policy::Type::NOutOf(n_of)) => {
            let mut held = 0i64;
            let mut trial = used.to_vec();
            for sub in &n_of.rules {
                trial.copy_from_slice(used);
                if rule_holds(sub, principals, signers, &mut trial, check) {
                    held += 1;
                    used.copy_from_slice(&trial);
                }
            }
            held >= i64::from(n_of.n)
        }
        None => false,
    }
}
