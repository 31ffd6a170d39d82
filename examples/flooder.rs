//! A flooding gossip member, for fault tests and the flood measurement: it connects to one
//! peer as an authenticated member (built-in Ed25519 identity of `--msp`), then sends valid,
//! signed alive messages, each newer than the last, at `--rate` per second (0: as fast as it
//! can sign and send), reconnecting whenever the peer closes the stream.
//!
//! ```text
//! flooder --target 127.0.0.1:7051 [--msp Org1MSP] [--seed HEX64] [--rate 0]
//!         [--members 1] [--duration SECS]
//! ```
//!
//! `--members N` signs the alive messages of N distinct identities of the org (a flood of
//! forged members), each carrying its identity so the peer can verify it. Plaintext only.
//! Every second it prints one JSON line: `{"sent":…,"connections":…,"elapsed":…}`.

use std::time::{Duration, Instant, SystemTime};

use ed25519_dalek::{Signer, SigningKey};
use fabgossip::proto::gossip::gossip_client::GossipClient;
use fabgossip::proto::gossip::{
    gossip_message, AliveMessage, ConnEstablish, Envelope, GossipMessage, Member, PeerTime,
};
use fabgossip::proto::msp::SerializedIdentity;
use prost::Message;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

struct Options {
    target: String,
    msp: String,
    seed: [u8; 32],
    rate: u64,
    members: usize,
    duration: Option<Duration>,
}

fn usage(why: &str) -> ! {
    eprintln!("flooder: {why}");
    eprintln!(
        "usage: flooder --target HOST:PORT [--msp MSPID] [--seed HEX64] [--rate N] [--members N] [--duration SECS]"
    );
    std::process::exit(2)
}

fn parse() -> Options {
    let mut o = Options {
        target: String::new(),
        msp: "Org1MSP".into(),
        seed: rand::random(),
        rate: 0,
        members: 1,
        duration: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = |v: &str| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "--target" => o.target = value,
            "--msp" => o.msp = value,
            "--seed" => {
                let bytes = hex::decode(&value)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .unwrap_or_else(|| usage("--seed: expected 64 hex characters"));
                o.seed = bytes;
            }
            "--rate" => o.rate = number(&value),
            "--members" => o.members = number(&value).max(1) as usize,
            "--duration" => o.duration = Some(Duration::from_secs_f64(number(&value) as f64)),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if o.target.is_empty() {
        usage("--target is required");
    }
    o
}

/// One identity of the flood: key, serialized identity, PKI-ID (SHA-256 of mspid ‖ key).
struct Identity {
    key: SigningKey,
    identity: Vec<u8>,
    pki_id: Vec<u8>,
}

impl Identity {
    fn new(msp: &str, seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let public = key.verifying_key().to_bytes();
        let identity = SerializedIdentity {
            mspid: msp.to_string(),
            id_bytes: public.to_vec(),
        }
        .encode_to_vec();
        let mut h = Sha256::new();
        h.update(msp.as_bytes());
        h.update(public);
        Identity {
            key,
            identity,
            pki_id: h.finalize().to_vec(),
        }
    }

    fn sign(&self, content: gossip_message::Content) -> Envelope {
        let payload = GossipMessage {
            nonce: 0,
            channel: Vec::new(),
            tag: gossip_message::Tag::Empty as i32,
            content: Some(content),
        }
        .encode_to_vec();
        let signature = self.key.sign(&payload).to_bytes().to_vec();
        Envelope {
            payload: payload.into(),
            signature,
            secret_envelope: None,
        }
    }

    fn alive(&self, inc_num: u64, seq_num: u64, with_identity: bool) -> Envelope {
        self.sign(gossip_message::Content::AliveMsg(AliveMessage {
            membership: Some(Member {
                endpoint: String::new(),
                metadata: Vec::new(),
                pki_id: self.pki_id.clone(),
            }),
            timestamp: Some(PeerTime { inc_num, seq_num }),
            identity: if with_identity {
                self.identity.clone()
            } else {
                Vec::new()
            },
        }))
    }
}

/// The identities of the flood; the first is the one that connects.
fn identities(o: &Options) -> Vec<Identity> {
    (0..o.members)
        .map(|i| {
            let mut seed = o.seed;
            seed[..8].copy_from_slice(
                &(u64::from_le_bytes(o.seed[..8].try_into().unwrap()) ^ i as u64).to_le_bytes(),
            );
            Identity::new(&o.msp, seed)
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let o = parse();
    let ids = identities(&o);
    let inc_num = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let t0 = Instant::now();
    let (mut sent, mut connections, mut seq_num) = (0u64, 0u64, 0u64);
    let mut last_report = Instant::now();
    let report = |sent: u64, connections: u64| {
        println!(
            "{{\"sent\":{sent},\"connections\":{connections},\"elapsed\":{:.3}}}",
            t0.elapsed().as_secs_f64()
        );
    };
    let done = |now: Instant| o.duration.is_some_and(|d| now.duration_since(t0) >= d);
    'connect: while !done(Instant::now()) {
        let mut client = match GossipClient::connect(format!("http://{}", o.target)).await {
            Ok(c) => c.max_decoding_message_size(100 << 20),
            Err(e) => {
                eprintln!("flooder: connect {}: {e}", o.target);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let (tx, rx) = mpsc::channel::<Envelope>(1024);
        let conn = ids[0].sign(gossip_message::Content::Conn(ConnEstablish {
            pki_id: ids[0].pki_id.clone(),
            identity: ids[0].identity.clone(),
            tls_cert_hash: Vec::new(),
            probe: false,
        }));
        if tx.send(conn).await.is_err() {
            continue;
        }
        let mut inbound = match client
            .gossip_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
        {
            Ok(r) => r.into_inner(),
            Err(e) => {
                eprintln!("flooder: stream: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        connections += 1;
        // Read (and discard) what the peer sends, so its stream never stalls on us.
        tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
        let mut window = (Instant::now(), 0u64);
        loop {
            let now = Instant::now();
            if done(now) {
                break 'connect;
            }
            if now.duration_since(last_report) >= Duration::from_secs(1) {
                last_report = now;
                report(sent, connections);
            }
            if o.rate > 0 {
                // Keep to the rate, in 10 ms steps.
                let elapsed = now.duration_since(window.0);
                if elapsed >= Duration::from_secs(1) {
                    window = (now, 0);
                } else if window.1 >= (o.rate as f64 * elapsed.as_secs_f64()).ceil() as u64 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
            let who = &ids[(seq_num % ids.len() as u64) as usize];
            let env = who.alive(inc_num, seq_num, ids.len() > 1);
            seq_num += 1;
            if tx.send(env).await.is_err() {
                // The peer closed the stream: connect again.
                break;
            }
            sent += 1;
            window.1 += 1;
        }
    }
    report(sent, connections);
}
