//! The collection configs the host set (`fg_set_collection_config`): per channel and
//! namespace, the `CollectionConfigPackage` a Fabric peer reads from its ledger's
//! `_lifecycle` (or `lscc`) state. Sans-IO; the node holds it behind a lock.
//!
//! Which config decides an explicit collection: the host's, when it set one for the
//! namespace (a collection missing from it is unknown); else the config the private data came with (a push's `collection_configs`, the
//! endorser's configs stored beside a write set). The host's wins because it comes from the
//! committed ledger this peer trusts, while a pushed config is whatever the sender claims: a
//! sender could name its own org a member of a collection it is not in. Without the host's,
//! the pushed config is all there is, as in Fabric's receiving side.
//!
//! Kept in memory only: the host sets it again after a restart, as a Fabric peer rebuilds its
//! collection store from the ledger.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use super::collection::CollectionAccess;
use crate::proto::protos::collection_config::Payload as CollectionPayload;
use crate::proto::protos::CollectionConfigPackage;

/// Most namespaces one channel may hold configs for.
pub const MAX_NAMESPACES: usize = 4096;

/// Why a package was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("empty namespace")]
    EmptyNamespace,
    #[error("not a CollectionConfigPackage: {0}")]
    Undecodable(String),
    #[error("collection config {index} has no static collection config")]
    NotStatic { index: usize },
    #[error("collection {0} is configured twice")]
    Duplicate(String),
    #[error("collection {name}: {reason}")]
    Invalid { name: String, reason: String },
    #[error("channel {0} already holds configs of {MAX_NAMESPACES} namespaces")]
    Full(String),
}

/// The host's collection configs of every channel.
#[derive(Debug, Default, Clone)]
pub struct CollectionRegistry {
    packages: BTreeMap<String, BTreeMap<String, CollectionConfigPackage>>,
}

impl CollectionRegistry {
    pub const fn new() -> Self {
        CollectionRegistry {
            packages: BTreeMap::new(),
        }
    }

    /// Sets the configs of `namespace` in `channel` from a marshaled
    /// `CollectionConfigPackage`, replacing the previous ones; an empty package (no
    /// configs, or no bytes) removes them. Every config must be a static collection config
    /// with a valid member-orgs policy and a name of its own.
    pub fn set(
        &mut self,
        channel: &str,
        namespace: &str,
        package: &[u8],
    ) -> Result<(), RegistryError> {
        if namespace.is_empty() {
            return Err(RegistryError::EmptyNamespace);
        }
        let pkg = CollectionConfigPackage::decode(package)
            .map_err(|e| RegistryError::Undecodable(e.to_string()))?;
        let mut names = BTreeSet::new();
        for (index, c) in pkg.config.iter().enumerate() {
            let Some(CollectionPayload::StaticCollectionConfig(s)) = &c.payload else {
                return Err(RegistryError::NotStatic { index });
            };
            CollectionAccess::from_static(s).map_err(|e| RegistryError::Invalid {
                name: s.name.clone(),
                reason: e.to_string(),
            })?;
            if s.name.is_empty() {
                return Err(RegistryError::Invalid {
                    name: String::new(),
                    reason: "empty name".into(),
                });
            }
            if !names.insert(s.name.as_str()) {
                return Err(RegistryError::Duplicate(s.name.clone()));
            }
        }
        if pkg.config.is_empty() {
            if let Some(ns) = self.packages.get_mut(channel) {
                ns.remove(namespace);
                if ns.is_empty() {
                    self.packages.remove(channel);
                }
            }
            return Ok(());
        }
        let ns = self.packages.entry(channel.to_string()).or_default();
        if ns.len() >= MAX_NAMESPACES && !ns.contains_key(namespace) {
            return Err(RegistryError::Full(channel.to_string()));
        }
        ns.insert(namespace.to_string(), pkg);
        Ok(())
    }

    /// The host's configs of `namespace` in `channel`, if it set any.
    pub fn get(&self, channel: &str, namespace: &str) -> Option<&CollectionConfigPackage> {
        self.packages.get(channel)?.get(namespace)
    }

    /// The config that decides: the host's for the namespace, else `pushed`.
    pub fn decide<'a>(
        &'a self,
        channel: &str,
        namespace: &str,
        pushed: Option<&'a CollectionConfigPackage>,
    ) -> Option<&'a CollectionConfigPackage> {
        self.get(channel, namespace).or(pushed)
    }

    /// Namespaces with configs, per channel.
    pub fn namespaces(&self, channel: &str) -> usize {
        self.packages.get(channel).map_or(0, BTreeMap::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privdata::collection::tests::{package, static_config};
    use crate::proto::protos::CollectionConfig;

    fn bytes(pkg: &CollectionConfigPackage) -> Vec<u8> {
        pkg.encode_to_vec()
    }

    #[test]
    fn set_get_replace_and_remove() {
        let mut r = CollectionRegistry::default();
        let one = package(vec![static_config("a", &["Org1MSP"])]);
        r.set("ch", "cc", &bytes(&one)).unwrap();
        assert_eq!(r.get("ch", "cc"), Some(&one));
        assert_eq!(r.get("ch", "other"), None);
        assert_eq!(r.get("other", "cc"), None);
        let two = package(vec![
            static_config("a", &["Org2MSP"]),
            static_config("b", &["Org1MSP"]),
        ]);
        r.set("ch", "cc", &bytes(&two)).unwrap();
        assert_eq!(r.get("ch", "cc"), Some(&two));
        assert_eq!(r.namespaces("ch"), 1);
        r.set("ch", "cc", &[]).unwrap();
        assert_eq!(r.get("ch", "cc"), None);
        assert_eq!(r.namespaces("ch"), 0);
    }

    #[test]
    fn the_hosts_config_wins_over_the_pushed_one() {
        let mut r = CollectionRegistry::default();
        let pushed = package(vec![static_config("a", &["Org3MSP"])]);
        assert_eq!(r.decide("ch", "cc", Some(&pushed)), Some(&pushed));
        assert_eq!(r.decide("ch", "cc", None), None);
        let host = package(vec![static_config("a", &["Org1MSP"])]);
        r.set("ch", "cc", &bytes(&host)).unwrap();
        assert_eq!(r.decide("ch", "cc", Some(&pushed)), Some(&host));
        assert_eq!(r.decide("ch", "other", Some(&pushed)), Some(&pushed));
    }

    #[test]
    fn bad_packages_are_refused_and_change_nothing() {
        let mut r = CollectionRegistry::default();
        let good = package(vec![static_config("a", &["Org1MSP"])]);
        r.set("ch", "cc", &bytes(&good)).unwrap();
        assert_eq!(
            r.set("ch", "", &bytes(&good)),
            Err(RegistryError::EmptyNamespace)
        );
        assert!(matches!(
            r.set("ch", "cc", &[0xff, 0xff, 0xff]),
            Err(RegistryError::Undecodable(_))
        ));
        let no_static = CollectionConfigPackage {
            config: vec![CollectionConfig { payload: None }],
        };
        assert_eq!(
            r.set("ch", "cc", &bytes(&no_static)),
            Err(RegistryError::NotStatic { index: 0 })
        );
        let twice = package(vec![
            static_config("a", &["Org1MSP"]),
            static_config("a", &["Org2MSP"]),
        ]);
        assert_eq!(
            r.set("ch", "cc", &bytes(&twice)),
            Err(RegistryError::Duplicate("a".into()))
        );
        let mut no_policy = static_config("b", &["Org1MSP"]);
        no_policy.member_orgs_policy = None;
        assert!(matches!(
            r.set("ch", "cc", &bytes(&package(vec![no_policy]))),
            Err(RegistryError::Invalid { .. })
        ));
        assert!(matches!(
            r.set(
                "ch",
                "cc",
                &bytes(&package(vec![static_config("", &["Org1MSP"])]))
            ),
            Err(RegistryError::Invalid { .. })
        ));
        assert_eq!(r.get("ch", "cc"), Some(&good));
    }

    #[test]
    fn namespaces_per_channel_are_bounded() {
        let mut r = CollectionRegistry::default();
        let pkg = bytes(&package(vec![static_config("a", &["Org1MSP"])]));
        for i in 0..MAX_NAMESPACES {
            r.set("ch", &format!("cc{i}"), &pkg).unwrap();
        }
        assert_eq!(
            r.set("ch", "one-more", &pkg),
            Err(RegistryError::Full("ch".into()))
        );
        r.set("ch", "cc0", &pkg).unwrap();
        r.set("other", "one-more", &pkg).unwrap();
    }
}
