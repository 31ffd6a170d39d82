//! Host calls that change the owner task's state travel as commands over an mpsc channel,
//! each with a oneshot for its result; the task stays the only owner of the machines.

use tokio::sync::oneshot;

use std::sync::Arc;

use super::{ChannelCallError, LedgerProviderError};
use crate::channel::JoinChannelMessage;
use crate::ledger::LedgerProvider;
use crate::proto::gossip::Chaincode;

pub(super) type Reply = oneshot::Sender<Result<(), ChannelCallError>>;

/// A host call for the owner task.
pub(super) enum Command {
    JoinChannel {
        channel: String,
        msg: JoinChannelMessage,
        reply: Reply,
    },
    /// A join (or reconfiguration) with a channel config read from a config block.
    JoinChannelConfig {
        channel: String,
        config: Box<crate::channelconfig::ChannelConfig>,
        reply: Reply,
    },
    LeaveChannel {
        channel: String,
        reply: Reply,
    },
    UpdateLedgerHeight {
        channel: String,
        height: u64,
        reply: Reply,
    },
    UpdateChaincodes {
        channel: String,
        chaincodes: Vec<Chaincode>,
        reply: Reply,
    },
    /// Re-validate every stored identity now and cut off those refused (Fabric's
    /// `SuspectPeers`).
    RevalidateIdentities {
        reply: Reply,
    },
    /// A block the host obtained (`fg_add_payload`): verify, commit in order, gossip.
    AddPayload {
        channel: String,
        seq: u64,
        block: Vec<u8>,
        reply: Reply,
    },
    /// Where the ledgers of channels joined later come from (`None`: the file ledger).
    SetLedgerProvider {
        provider: Option<Arc<dyn LedgerProvider>>,
        reply: oneshot::Sender<Result<(), LedgerProviderError>>,
    },
    /// The channel was joined with a config block: committed config blocks reconfigure it
    /// from now on, and a genesis block is committed first when the ledger is empty.
    ConfigBlockJoined {
        channel: String,
        genesis: Option<Vec<u8>>,
        reply: Reply,
    },
    /// Give up leadership of a channel (leader election mode only).
    YieldLeadership {
        channel: String,
        reply: Reply,
    },
}
