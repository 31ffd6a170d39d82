//! The channel's policies tree as the config carries it: every config group's policies by
//! name, and its sub-groups, addressed by path (`/Channel/Application/Readers`).

use std::collections::BTreeMap;

use prost::Message;

use super::error::ConfigError;
use crate::proto::common::{
    implicit_meta_policy, policy::PolicyType, ConfigGroup, ImplicitMetaPolicy,
    SignaturePolicyEnvelope,
};

/// The rule of an ImplicitMeta policy over the same-named policy of every sub-group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaRule {
    Any,
    All,
    Majority,
}

impl MetaRule {
    /// How many of `n` sub-policies must be satisfied (Fabric's thresholds: ANY needs one,
    /// so none of zero never satisfies it; ALL of zero always does).
    pub fn threshold(self, n: usize) -> usize {
        match self {
            MetaRule::Any => 1,
            MetaRule::All => n,
            MetaRule::Majority => n / 2 + 1,
        }
    }
}

/// One policy of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// n-out-of over MSP principals.
    Signature(SignaturePolicyEnvelope),
    /// `rule` over the policy named `sub_policy` of each sub-group.
    ImplicitMeta { sub_policy: String, rule: MetaRule },
    /// A type gossip does not evaluate (Fabric's `MSP` type); refused at evaluation.
    Unsupported(i32),
}

/// A config group's policies and its sub-groups' trees.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicyGroup {
    pub policies: BTreeMap<String, Policy>,
    pub groups: BTreeMap<String, PolicyGroup>,
}

impl PolicyGroup {
    /// The tree of `group`, found at `path` (for errors).
    pub fn from_group(group: &ConfigGroup, path: &str) -> Result<Self, ConfigError> {
        let mut policies = BTreeMap::new();
        for (name, cp) in &group.policies {
            let at = format!("{path}/policies/{name}");
            let p = cp
                .policy
                .as_ref()
                .ok_or_else(|| ConfigError::missing(&at))?;
            policies.insert(name.clone(), parse_policy(p.r#type, &p.value, &at)?);
        }
        let mut groups = BTreeMap::new();
        for (name, g) in &group.groups {
            groups.insert(
                name.clone(),
                PolicyGroup::from_group(g, &format!("{path}/{name}"))?,
            );
        }
        Ok(PolicyGroup { policies, groups })
    }

    /// The group at `path` below this one (`["Application", "Org1"]`).
    pub fn group(&self, path: &[&str]) -> Option<&PolicyGroup> {
        path.iter().try_fold(self, |g, name| g.groups.get(*name))
    }
}

fn parse_policy(kind: i32, value: &[u8], path: &str) -> Result<Policy, ConfigError> {
    match PolicyType::try_from(kind) {
        Ok(PolicyType::Signature) => {
            let env = SignaturePolicyEnvelope::decode(value)
                .map_err(|e| ConfigError::malformed(path, e))?;
            if env.rule.is_none() {
                return Err(ConfigError::missing(format!("{path}.rule")));
            }
            Ok(Policy::Signature(env))
        }
        Ok(PolicyType::ImplicitMeta) => {
            let m =
                ImplicitMetaPolicy::decode(value).map_err(|e| ConfigError::malformed(path, e))?;
            let rule = match implicit_meta_policy::Rule::try_from(m.rule) {
                Ok(implicit_meta_policy::Rule::Any) => MetaRule::Any,
                Ok(implicit_meta_policy::Rule::All) => MetaRule::All,
                Ok(implicit_meta_policy::Rule::Majority) => MetaRule::Majority,
                Err(_) => {
                    return Err(ConfigError::new(
                        path,
                        format!("unknown ImplicitMeta rule {}", m.rule),
                    ))
                }
            };
            if m.sub_policy.is_empty() {
                return Err(ConfigError::missing(format!("{path}.sub_policy")));
            }
            Ok(Policy::ImplicitMeta {
                sub_policy: m.sub_policy,
                rule,
            })
        }
        _ => Ok(Policy::Unsupported(kind)),
    }
}
