//! Reading a config group's values by key, each decoded as its message type, with the
//! path in the error.

use std::collections::BTreeSet;

use prost::Message;

use super::error::ConfigError;
use crate::proto::common::{Capabilities, ConfigGroup};

/// The value `key` of `group` (at `path`) decoded as `M`; `None` when absent.
pub(crate) fn value<M: Message + Default>(
    group: &ConfigGroup,
    path: &str,
    key: &str,
) -> Result<Option<M>, ConfigError> {
    let Some(v) = group.values.get(key) else {
        return Ok(None);
    };
    M::decode(&v.value[..])
        .map(Some)
        .map_err(|e| ConfigError::malformed(format!("{path}/{key}"), e))
}

/// As [`value`], refusing an absent value.
pub(crate) fn required<M: Message + Default>(
    group: &ConfigGroup,
    path: &str,
    key: &str,
) -> Result<M, ConfigError> {
    value(group, path, key)?.ok_or_else(|| ConfigError::missing(format!("{path}/{key}")))
}

/// The sub-group `name` of `group` (at `path`), required.
pub(crate) fn group<'a>(
    group: &'a ConfigGroup,
    path: &str,
    name: &str,
) -> Result<&'a ConfigGroup, ConfigError> {
    group
        .groups
        .get(name)
        .ok_or_else(|| ConfigError::missing(format!("{path}/{name}")))
}

/// The names of the `Capabilities` value of a group (empty when absent).
pub(crate) fn capabilities(
    group: &ConfigGroup,
    path: &str,
) -> Result<BTreeSet<String>, ConfigError> {
    Ok(value::<Capabilities>(group, path, "Capabilities")?
        .map(|c| c.capabilities.into_keys().collect())
        .unwrap_or_default())
}
