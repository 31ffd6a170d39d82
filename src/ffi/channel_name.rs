//! Channel names from the host, checked against Fabric's rule before any call uses them: a
//! lower-case letter, then lower-case letters, digits, `.` and `-`, fewer than 250 characters
//! (Fabric's configtx rule). The name becomes a ledger folder, so `..`, `a/b` or a NUL must be
//! refused as a bad argument, not fail later as an I/O error.

use std::ffi::c_char;

use crate::ffi::call_error::{text_arg, CallError};

/// Fabric's limit: a channel name has at most 249 characters.
const MAX_LEN: usize = 249;

/// Why `name` is not a channel name Fabric accepts, or `None` when it is one.
pub(crate) fn problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let first = chars.next()?;
    if name.len() > MAX_LEN {
        return Some(format!(
            "channel name of {} bytes is too long: Fabric allows at most {MAX_LEN}",
            name.len()
        ));
    }
    if !first.is_ascii_lowercase() {
        return Some(format!(
            "channel name {name:?} must start with a lower-case letter (Fabric's rule [a-z][a-z0-9.-]*)"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Some(format!(
            "channel name {name:?} has {bad:?}; Fabric allows lower-case letters, digits, '.' and '-' ([a-z][a-z0-9.-]*)"
        ));
    }
    None
}

/// The channel argument of a call: NULL, empty, non-UTF-8 and names outside Fabric's rule
/// are `FG_STATUS_INVALID_ARG` with a sentence.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn channel_arg<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, CallError> {
    // SAFETY: `ptr` is NULL or points to `len` readable bytes, by this function's contract.
    let name = unsafe { text_arg("channel", ptr, len) }?;
    match problem(name) {
        None => Ok(name),
        Some(why) => Err(CallError::invalid_arg(why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fabric_channel_names() {
        for good in [
            "mychannel",
            "a",
            "ch-1.test",
            "testchainid",
            &"a".repeat(249),
        ] {
            assert_eq!(problem(good), None, "{good}");
        }
        for bad in [
            ".",
            "..",
            "a/b",
            "a\\b",
            "a\0b",
            "Mychannel",
            "1ch",
            "-ch",
            "ch_1",
            "ch 1",
            "é",
            &"a".repeat(250),
        ] {
            assert!(problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn refusal_is_an_invalid_argument() {
        // SAFETY: static byte strings with their lengths.
        let e = unsafe { channel_arg(b"../x".as_ptr().cast(), 4) }.unwrap_err();
        assert_eq!(e.status, crate::ffi::status::FG_STATUS_INVALID_ARG);
        assert!(e.detail.contains("lower-case letter"), "{}", e.detail);
        // SAFETY: as above.
        assert_eq!(unsafe { channel_arg(b"ch".as_ptr().cast(), 2) }, Ok("ch"));
    }
}
