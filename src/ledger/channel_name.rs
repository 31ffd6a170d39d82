//! Channel names become directory names under `<dir>/ledgers/`, so only names that cannot
//! escape that directory or clash with special entries are accepted.

use super::LedgerError;

/// Longest accepted name; Fabric caps channel names below 250 characters.
pub const MAX_CHANNEL_NAME_LEN: usize = 249;

/// Accepts 1..=249 ASCII characters from `[A-Za-z0-9._-]` starting with a letter or digit.
/// This is a superset of Fabric's `[a-z][a-z0-9.-]*` that still rules out `/`, `..`, hidden
/// names and anything a filesystem could interpret.
pub fn validate_channel_name(name: &str) -> Result<(), LedgerError> {
    let bad = |reason| {
        Err(LedgerError::BadChannelName {
            name: name.chars().take(64).collect(),
            reason,
        })
    };
    let Some(first) = name.bytes().next() else {
        return bad("empty");
    };
    if name.len() > MAX_CHANNEL_NAME_LEN {
        return bad("longer than 249 characters");
    }
    if !first.is_ascii_alphanumeric() {
        return bad("must start with a letter or a digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return bad("only letters, digits, '.', '-' and '_' are allowed");
    }
    Ok(())
}
