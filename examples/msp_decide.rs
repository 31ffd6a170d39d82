//! Reads a corpus of MSP configurations, identities, principals and signatures (JSON, bytes in
//! hex) and prints the built-in MSP's decisions on each, so that a test can hold them against
//! Fabric's own `msp` package. Also loads MSP folders as a peer would and signs with them.
//!
//! Usage: `msp_decide CORPUS.json` (answers on stdout).

use std::path::Path;

use fabgossip::msp::{LocalMsp, MspManager, MspPrincipal};
use fabgossip::proto::msp::FabricMspConfig;
use prost::Message;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Corpus {
    msps: Vec<String>,
    #[serde(default)]
    identities: Vec<Case>,
    #[serde(default)]
    folders: Vec<Folder>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    serialized: String,
    #[serde(default)]
    principals: Vec<String>,
    #[serde(default)]
    sigs: Vec<Sig>,
}

#[derive(Deserialize)]
struct Sig {
    msg: String,
    sig: String,
}

#[derive(Deserialize)]
struct Folder {
    dir: String,
    mspid: String,
    msg: String,
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_default()
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: msp_decide CORPUS.json");
        std::process::exit(2)
    });
    let raw = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let corpus: Corpus = serde_json::from_slice(&raw).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let mut setup = Vec::new();
    let mut msps = Vec::new();
    for c in &corpus.msps {
        match FabricMspConfig::decode(unhex(c).as_slice())
            .map_err(|e| e.to_string())
            .and_then(|conf| fabgossip::msp::Msp::new(&conf).map_err(|e| e.to_string()))
        {
            Ok(m) => {
                setup.push(Value::Null);
                msps.push(m);
            }
            Err(e) => setup.push(Value::String(e)),
        }
    }
    let mgr = MspManager::new(msps);
    let identities: Vec<Value> = corpus.identities.iter().map(|c| decide(&mgr, c)).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let folders: Vec<Value> = corpus
        .folders
        .iter()
        .map(|f| match LocalMsp::load(Path::new(&f.dir), &f.mspid, now) {
            Ok(local) => {
                let sig = local.signer.sign(&unhex(&f.msg));
                json!({
                    "serialized": hex::encode(local.signer.serialized()),
                    "pki_id": hex::encode(local.signer.identity.pki_id()),
                    "sig": sig.map(hex::encode).unwrap_or_default(),
                })
            }
            Err(e) => json!({ "error": e.to_string() }),
        })
        .collect();
    println!(
        "{}",
        json!({ "setup": setup, "identities": identities, "folders": folders })
    );
}

fn decide(mgr: &MspManager, c: &Case) -> Value {
    let serialized = unhex(&c.serialized);
    let id = mgr.deserialize_identity(&serialized);
    let valid = mgr.validate(&serialized);
    let principals: Vec<bool> = c
        .principals
        .iter()
        .map(|p| match MspPrincipal::decode(unhex(p).as_slice()) {
            Ok(p) => mgr.satisfies_principal(&serialized, &p).is_ok(),
            Err(_) => false,
        })
        .collect();
    let sigs: Vec<bool> = c
        .sigs
        .iter()
        .map(|s| match &id {
            Ok(id) => id.verify(&unhex(&s.msg), &unhex(&s.sig)).is_ok(),
            Err(_) => false,
        })
        .collect();
    json!({
        "name": c.name,
        "valid": valid.is_ok(),
        "error": valid.err().map(|e| e.to_string()).unwrap_or_default(),
        "principals": principals,
        "sigs": sigs,
        "expires_at": id.as_ref().ok().map(|i| i.cert.not_after),
        "pki_id": id.as_ref().ok().map(|i| hex::encode(i.pki_id())),
    })
}
