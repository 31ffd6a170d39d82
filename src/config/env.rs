//! Fabric's environment overrides: every key can be set by `CORE_` followed by the key in
//! upper case with dots turned into underscores (`CORE_PEER_GOSSIP_BOOTSTRAP` sets
//! `peer.gossip.bootstrap`), as Fabric's peer reads its `core.yaml`. An override wins over
//! the text; the value is text and is read as the key's kind (`true`, `20`, `5s`, a
//! space-separated list).
//!
//! The overrides in force are installed for the duration of one parse on the parsing thread,
//! so the section reader finds them without being handed them at every level.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// The `CORE_*` variables one parse applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    vars: BTreeMap<String, String>,
}

const PREFIX: &str = "CORE_";

impl EnvOverrides {
    /// No overrides.
    pub fn none() -> EnvOverrides {
        EnvOverrides::default()
    }

    /// The `CORE_*` variables of this process (ones that are not UTF-8 are skipped with a
    /// warning: Fabric could not read them either).
    pub fn from_process() -> EnvOverrides {
        let mut vars = BTreeMap::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str().filter(|n| n.starts_with(PREFIX)) else {
                continue;
            };
            match value.into_string() {
                Ok(v) => {
                    vars.insert(name.to_owned(), v);
                }
                Err(_) => {
                    tracing::warn!(target: "fabgossip::config", "{name} is not UTF-8; ignored")
                }
            }
        }
        EnvOverrides { vars }
    }

    /// Overrides from `(variable, value)` pairs; names without the `CORE_` prefix are ignored.
    pub fn from_pairs<I, K, V>(pairs: I) -> EnvOverrides
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k.starts_with(PREFIX))
            .collect();
        EnvOverrides { vars }
    }

    /// The variable that overrides `key` (`peer.gossip.bootstrap` ->
    /// `CORE_PEER_GOSSIP_BOOTSTRAP`).
    pub fn var_name(key: &str) -> String {
        format!("{PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
    }
}

thread_local! {
    static ACTIVE: RefCell<Option<EnvOverrides>> = const { RefCell::new(None) };
}

/// Keeps `overrides` in force on this thread until dropped.
pub(super) struct Installed(Option<EnvOverrides>);

pub(super) fn install(overrides: &EnvOverrides) -> Installed {
    let before = ACTIVE.with(|a| a.replace(Some(overrides.clone())));
    Installed(before)
}

impl Drop for Installed {
    fn drop(&mut self) {
        let before = self.0.take();
        ACTIVE.with(|a| *a.borrow_mut() = before);
    }
}

/// What the reader gets for `key` given the text's `value`: the override when one is set;
/// an empty section when the text lacks `key` but overrides name keys under it (so that
/// `CORE_PEER_TLS_ENABLED` works without a `tls` section in the text); else the text's.
pub(super) fn apply(
    key: &str,
    value: Option<serde_yaml_ng::Value>,
) -> Option<serde_yaml_ng::Value> {
    ACTIVE.with(|a| {
        let a = a.borrow();
        let Some(env) = a.as_ref().filter(|e| !e.vars.is_empty()) else {
            return value;
        };
        let name = EnvOverrides::var_name(key);
        if let Some(v) = env.vars.get(&name) {
            tracing::debug!(target: "fabgossip::config", "{key} from {name}");
            return Some(serde_yaml_ng::Value::String(v.clone()));
        }
        if value.is_none() {
            let under = format!("{name}_");
            if env.vars.keys().any(|k| k.starts_with(&under)) {
                return Some(serde_yaml_ng::Value::Null);
            }
        }
        value
    })
}

/// Go's `strconv.ParseBool`, which viper applies to text values.
pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_fabric() {
        assert_eq!(
            EnvOverrides::var_name("peer.gossip.bootstrap"),
            "CORE_PEER_GOSSIP_BOOTSTRAP"
        );
        assert_eq!(
            EnvOverrides::var_name("peer.tls.clientRootCAs.files"),
            "CORE_PEER_TLS_CLIENTROOTCAS_FILES"
        );
    }

    #[test]
    fn only_core_variables_are_kept() {
        let e = EnvOverrides::from_pairs([("CORE_PEER_ID", "p"), ("PEER_ID", "q")]);
        assert_eq!(e.vars.len(), 1);
    }

    #[test]
    fn overrides_apply_only_while_installed() {
        let e = EnvOverrides::from_pairs([("CORE_PEER_ID", "p1"), ("CORE_PEER_TLS_ENABLED", "1")]);
        {
            let _g = install(&e);
            assert_eq!(
                apply("peer.id", None),
                Some(serde_yaml_ng::Value::String("p1".into()))
            );
            assert_eq!(apply("peer.tls", None), Some(serde_yaml_ng::Value::Null));
            assert_eq!(apply("peer.gossip", None), None);
        }
        assert_eq!(apply("peer.id", None), None);
    }

    #[test]
    fn go_booleans() {
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
