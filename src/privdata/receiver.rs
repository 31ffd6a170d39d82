//! A pushed `PrivateDataMessage` at the receiving peer: checked, stored in the transient
//! store, and answered with an `Acknowledgement`.
//!
//! As in Fabric, a push from a peer whose handshake credential fails the channel's readers
//! policy is dropped with no answer at all (Fabric filters it out before its handler runs);
//! every other refusal is answered with an `Acknowledgement` carrying the reason, so the
//! sender learns it at once instead of waiting out its ack timeout. Beyond Fabric, this
//! peer stores only collections it is itself eligible for (the collection's one rule over
//! this peer's identity; the host's config of the namespace, else the one the push carries,
//! else the implicit rule): a non-member never keeps a byte of a collection's data.
//!
//! The sender need not be a member: as in Fabric, an endorser outside a collection still
//! disseminates the private data its transaction wrote to the collection's members.

use prost::Message;

use super::collection::{resolve, CollectionAccess, Membership};
use super::registry::CollectionRegistry;
use super::transient_store::{NamespaceConfigs, TransientStore, TransientStoreError};
use crate::config::ImplicitCollectionPolicy;
use crate::proto::gossip::PrivateDataMessage;
use crate::proto::kvrwset::KvrwSet;
use crate::proto::rwset::{CollectionPvtReadWriteSet, NsPvtReadWriteSet, TxPvtReadWriteSet};

/// What happened to one push; [`Outcome::label`] names it in metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// The sender is not a reader of the channel: dropped, not answered.
    Unauthorized,
    /// Missing payload, tx id, namespace, collection or write set, or an undecodable one.
    Malformed(String),
    /// An explicit collection whose config the push does not carry (or a broken config).
    UnknownCollection(String),
    /// This peer's org is not a member of the collection.
    NotEligible(String),
    /// The transient store is at its cap.
    StoreFull,
    /// The transient store could not write (or could not be opened).
    StoreError(String),
    /// Too many pushes in progress at once: answered at once rather than queued.
    Busy,
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Malformed(_) => "malformed",
            Outcome::UnknownCollection(_) => "unknown_collection",
            Outcome::NotEligible(_) => "not_eligible",
            Outcome::StoreFull => "store_full",
            Outcome::StoreError(_) => "store_error",
            Outcome::Busy => "busy",
        }
    }

    /// The `Acknowledgement.error` to answer with; `None` = no answer.
    pub fn ack(&self) -> Option<String> {
        match self {
            Outcome::Stored => Some(String::new()),
            Outcome::Unauthorized => None,
            Outcome::Malformed(why) => Some(format!("malformed private data message: {why}")),
            Outcome::UnknownCollection(why) => Some(why.clone()),
            Outcome::NotEligible(why) => Some(why.clone()),
            Outcome::StoreFull => Some("transient store full".into()),
            Outcome::StoreError(why) => Some(format!("failed storing private data: {why}")),
            Outcome::Busy => Some("too many private data messages in progress".into()),
        }
    }

    pub const LABELS: [&'static str; 8] = [
        "stored",
        "unauthorized",
        "malformed",
        "unknown_collection",
        "not_eligible",
        "store_full",
        "store_error",
        "busy",
    ];
}

/// What the receiver and the responder know of this peer and the channel.
pub struct LocalPeer<'a> {
    pub org: &'a str,
    /// This peer's serialized identity.
    pub identity: &'a [u8],
    pub channel: &'a str,
    /// How the channel evaluates collection membership.
    pub membership: Membership<'a>,
    pub implicit_policy: &'a ImplicitCollectionPolicy,
    /// The host's collection configs.
    pub registry: &'a CollectionRegistry,
}

/// Handles one push. `sender_is_reader`: the sender's handshake credential passed the
/// channel's readers policy.
pub fn receive(
    store: &mut TransientStore,
    local: &LocalPeer<'_>,
    sender_is_reader: bool,
    msg: &PrivateDataMessage,
) -> Outcome {
    if !sender_is_reader {
        return Outcome::Unauthorized;
    }
    let Some(p) = &msg.payload else {
        return Outcome::Malformed("no payload".into());
    };
    for (what, value) in [
        ("tx id", &p.tx_id),
        ("namespace", &p.namespace),
        ("collection name", &p.collection_name),
    ] {
        if value.is_empty() {
            return Outcome::Malformed(format!("no {what}"));
        }
    }
    if p.private_rwset.is_empty() {
        return Outcome::Malformed(format!("no rwset for collection {}", p.collection_name));
    }
    if let Err(e) = KvrwSet::decode(p.private_rwset.as_slice()) {
        return Outcome::Malformed(format!("rwset does not decode: {e}"));
    }
    let configs = local
        .registry
        .decide(local.channel, &p.namespace, p.collection_configs.as_ref());
    let access = match resolve(
        &p.collection_name,
        configs,
        local.org,
        local.implicit_policy,
    ) {
        Ok(a) => a,
        Err(e) => return Outcome::UnknownCollection(e.to_string()),
    };
    if !access.is_eligible(local.membership, local.identity) {
        return Outcome::NotEligible(not_member(&access, local.org));
    }
    let rwset = TxPvtReadWriteSet {
        data_model: 0,
        ns_pvt_rwset: vec![NsPvtReadWriteSet {
            namespace: p.namespace.clone(),
            collection_pvt_rwset: vec![CollectionPvtReadWriteSet {
                collection_name: p.collection_name.clone(),
                rwset: p.private_rwset.clone(),
            }],
        }],
    };
    let configs = configs
        .into_iter()
        .map(|c| NamespaceConfigs {
            namespace: p.namespace.clone(),
            package: Some(c.clone()),
        })
        .collect();
    match store.persist(&p.tx_id, p.private_sim_height, rwset, configs) {
        Ok(()) => Outcome::Stored,
        Err(TransientStoreError::Full { .. }) => Outcome::StoreFull,
        Err(e) => Outcome::StoreError(e.to_string()),
    }
}

fn not_member(access: &CollectionAccess, org: &str) -> String {
    format!(
        "peer of {org} is not eligible for collection {} (members: {})",
        access.name,
        access
            .member_orgs
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privdata::collection::tests::{identity, package, static_config, MspidAdvisor};
    use crate::privdata::transient_store::tests::tempdir;
    use crate::privdata::transient_store::TransientStoreLimits;
    use crate::proto::gossip::PrivatePayload;
    use crate::proto::kvrwset::KvWrite;

    const POLICY: ImplicitCollectionPolicy = ImplicitCollectionPolicy {
        required_peer_count: 0,
        max_peer_count: 1,
    };

    static NO_CONFIGS: CollectionRegistry = CollectionRegistry::new();

    fn local_with(registry: &CollectionRegistry) -> LocalPeer<'_> {
        static ME: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        LocalPeer {
            org: "Org1MSP",
            identity: ME.get_or_init(|| identity("Org1MSP")),
            channel: "ch",
            membership: Membership::MspId(&MspidAdvisor),
            implicit_policy: &POLICY,
            registry,
        }
    }

    fn local() -> LocalPeer<'static> {
        local_with(&NO_CONFIGS)
    }

    pub fn kv(value: &[u8]) -> Vec<u8> {
        KvrwSet {
            writes: vec![KvWrite {
                key: "k".into(),
                is_delete: false,
                value: value.to_vec(),
            }],
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn push(tx: &str, coll: &str, orgs: &[&str]) -> PrivateDataMessage {
        PrivateDataMessage {
            payload: Some(PrivatePayload {
                collection_name: coll.into(),
                namespace: "cc".into(),
                tx_id: tx.into(),
                private_rwset: kv(b"secret"),
                private_sim_height: 4,
                collection_configs: (!orgs.is_empty())
                    .then(|| package(vec![static_config(coll, orgs)])),
            }),
        }
    }

    #[test]
    fn a_push_of_a_member_collection_is_stored_and_acked() {
        let dir = tempdir("recv-ok");
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        let out = receive(&mut s, &local(), true, &push("tx1", "c", &["Org1MSP"]));
        assert_eq!(out, Outcome::Stored);
        assert_eq!(out.ack(), Some(String::new()));
        let e = s.entries_of("tx1");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].received_height, 4);
        assert_eq!(e[0].rwsets_of("cc", "c"), vec![kv(b"secret")]);
        assert!(e[0].configs_of("cc").is_some());
        // The own implicit collection needs no config.
        let out = receive(
            &mut s,
            &local(),
            true,
            &push("tx2", "_implicit_org_Org1MSP", &[]),
        );
        assert_eq!(out, Outcome::Stored);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refusals_store_nothing_and_say_why() {
        let dir = tempdir("recv-refused");
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        let out = receive(&mut s, &local(), false, &push("tx", "c", &["Org1MSP"]));
        assert_eq!((out.label(), out.ack()), ("unauthorized", None));

        let out = receive(&mut s, &local(), true, &push("tx", "c", &["Org2MSP"]));
        assert_eq!(out.label(), "not_eligible");
        assert!(out.ack().unwrap().contains("not eligible"));
        let out = receive(
            &mut s,
            &local(),
            true,
            &push("tx", "_implicit_org_Org2MSP", &[]),
        );
        assert_eq!(out.label(), "not_eligible");

        let out = receive(&mut s, &local(), true, &push("tx", "c", &[]));
        assert_eq!(out.label(), "unknown_collection");
        assert!(!out.ack().unwrap().is_empty());

        let mut m = push("tx", "c", &["Org1MSP"]);
        m.payload.as_mut().unwrap().private_rwset = vec![0xff, 0xff, 0xff];
        assert_eq!(receive(&mut s, &local(), true, &m).label(), "malformed");
        let mut m = push("tx", "c", &["Org1MSP"]);
        m.payload.as_mut().unwrap().private_rwset.clear();
        assert_eq!(receive(&mut s, &local(), true, &m).label(), "malformed");
        let mut m = push("", "c", &["Org1MSP"]);
        assert_eq!(receive(&mut s, &local(), true, &m).label(), "malformed");
        m.payload = None;
        assert_eq!(receive(&mut s, &local(), true, &m).label(), "malformed");
        assert_eq!(s.stats().entries, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_hosts_config_decides_over_the_pushed_one() {
        let dir = tempdir("recv-registry");
        let mut s = TransientStore::open(&dir, TransientStoreLimits::default()).unwrap();
        let mut registry = CollectionRegistry::default();
        let host = |orgs: &[&str]| package(vec![static_config("c", orgs)]).encode_to_vec();
        // The push claims Org1 is a member; the host's config says it is not.
        registry.set("ch", "cc", &host(&["Org2MSP"])).unwrap();
        let out = receive(
            &mut s,
            &local_with(&registry),
            true,
            &push("tx1", "c", &["Org1MSP"]),
        );
        assert_eq!(out.label(), "not_eligible");
        // The host's config makes Org1 a member; the push names none: stored, with the
        // host's config beside it.
        registry.set("ch", "cc", &host(&["Org1MSP"])).unwrap();
        let mut m = push("tx2", "c", &[]);
        assert_eq!(
            receive(&mut s, &local_with(&registry), true, &m),
            Outcome::Stored
        );
        assert_eq!(
            s.entries_of("tx2")[0].configs_of("cc"),
            registry.get("ch", "cc")
        );
        // Another channel's configs do not count.
        m.payload.as_mut().unwrap().tx_id = "tx3".into();
        let mut elsewhere = CollectionRegistry::default();
        elsewhere.set("other", "cc", &host(&["Org1MSP"])).unwrap();
        let out = receive(&mut s, &local_with(&elsewhere), true, &m);
        assert_eq!(out.label(), "unknown_collection");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_store_is_answered_with_an_error() {
        let dir = tempdir("recv-full");
        let limits = TransientStoreLimits {
            max_bytes: u64::MAX,
            max_entries: 1,
        };
        let mut s = TransientStore::open(&dir, limits).unwrap();
        let m = push("tx", "c", &["Org1MSP"]);
        assert_eq!(receive(&mut s, &local(), true, &m), Outcome::Stored);
        let out = receive(&mut s, &local(), true, &m);
        assert_eq!(out, Outcome::StoreFull);
        assert_eq!(out.ack().as_deref(), Some("transient store full"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
