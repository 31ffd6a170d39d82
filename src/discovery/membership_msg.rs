//! Membership request and response envelopes. Both are unsigned wrappers (Fabric's
//! `NoopSign`); the alive messages inside carry their own signatures.

use prost::Message;

use crate::proto::gossip::{
    gossip_message, Envelope, GossipMessage, MembershipRequest, MembershipResponse,
};

/// `GossipMessage{nonce, tag EMPTY, mem_req{self_information, known: []}}`.
pub fn mem_req_envelope(nonce: u64, self_alive: Envelope) -> Envelope {
    unsigned(GossipMessage {
        nonce,
        channel: Vec::new(),
        tag: gossip_message::Tag::Empty as i32,
        content: Some(gossip_message::Content::MemReq(MembershipRequest {
            self_information: Some(self_alive),
            known: Vec::new(),
        })),
    })
}

/// `GossipMessage{nonce (the request's), tag EMPTY, mem_res{alive, dead}}`.
pub fn mem_res_envelope(nonce: u64, alive: Vec<Envelope>, dead: Vec<Envelope>) -> Envelope {
    unsigned(GossipMessage {
        nonce,
        channel: Vec::new(),
        tag: gossip_message::Tag::Empty as i32,
        content: Some(gossip_message::Content::MemRes(MembershipResponse {
            alive,
            dead,
        })),
    })
}

fn unsigned(msg: GossipMessage) -> Envelope {
    Envelope {
        payload: msg.encode_to_vec().into(),
        signature: Vec::new(),
        secret_envelope: None,
    }
}
