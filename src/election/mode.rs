//! Which of Fabric's three leadership modes `peer.gossip.*` selects.

use crate::config::GossipConfig;

/// How this peer decides whether it leads a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadershipMode {
    /// `useLeaderElection: true`: one elected leader per org and channel.
    Election,
    /// `orgLeader: true`: this peer leads every joined channel, always.
    Static,
    /// Both off: this peer never leads (it never pulls from the orderer).
    Never,
}

impl LeadershipMode {
    /// The mode of a configuration; both settings on is refused (Fabric panics there).
    pub fn of(g: &GossipConfig) -> Result<LeadershipMode, String> {
        match (g.use_leader_election, g.org_leader) {
            (true, true) => Err(
                "peer.gossip.useLeaderElection and peer.gossip.orgLeader are both true; choose one"
                    .into(),
            ),
            (true, false) => Ok(LeadershipMode::Election),
            (false, true) => Ok(LeadershipMode::Static),
            (false, false) => Ok(LeadershipMode::Never),
        }
    }
}
