//! [`LedgerProvider`]: where a channel's ledger comes from when the node joins the channel.
//!
//! The node asks its provider once per joined channel; the ledger it returns is what the
//! state provider commits through. [`FileLedgerProvider`] (the embedded append-only file
//! ledger) is the default; a host that keeps its own ledger installs a
//! `HostLedgerProvider` (`ffi::host_ledger`) instead.

use std::path::{Path, PathBuf};

use super::{FileLedger, FileLedgerOptions, Ledger, LedgerError};

/// Opens the ledger of a channel at join. Called on the node's owner task: an
/// implementation may block briefly (open files, ask the host for the height).
pub trait LedgerProvider: Send + Sync {
    /// The ledger of `channel`, positioned at its current height.
    fn open(&self, channel: &str) -> Result<Box<dyn Ledger>, LedgerError>;

    /// A short name for logs ("file", "host").
    fn kind(&self) -> &'static str;
}

/// The embedded default: one [`FileLedger`] per channel under `<dir>/ledgers/<channel>/`.
#[derive(Debug, Clone)]
pub struct FileLedgerProvider {
    dir: PathBuf,
    options: FileLedgerOptions,
}

impl FileLedgerProvider {
    /// Ledgers under `dir` (the peer's `fileSystemPath`) with `options`.
    pub fn new(dir: &Path, options: FileLedgerOptions) -> FileLedgerProvider {
        FileLedgerProvider {
            dir: dir.to_path_buf(),
            options,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl LedgerProvider for FileLedgerProvider {
    fn open(&self, channel: &str) -> Result<Box<dyn Ledger>, LedgerError> {
        Ok(Box::new(FileLedger::open_with(
            &self.dir,
            channel,
            self.options,
        )?))
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::crypto::block::new_block;

    #[test]
    fn file_provider_opens_a_ledger_per_channel_that_survives_reopen() {
        let dir = std::env::temp_dir().join(format!(
            "fabgossip-ledger-provider-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let p = FileLedgerProvider::new(
            &dir,
            FileLedgerOptions {
                fsync: false,
                ..Default::default()
            },
        );
        assert_eq!(p.kind(), "file");
        {
            let mut a = p.open("alpha").unwrap();
            let b = p.open("beta").unwrap();
            a.commit(
                &new_block(0, vec![], vec![b"tx".to_vec()]).encode_to_vec(),
                &[],
            )
            .unwrap();
            assert_eq!((a.height(), b.height()), (1, 0));
            // The same channel cannot be open twice.
            assert!(matches!(p.open("alpha"), Err(LedgerError::Locked(_))));
        }
        assert_eq!(p.open("alpha").unwrap().height(), 1);
        assert!(matches!(
            p.open("../x"),
            Err(LedgerError::BadChannelName { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
