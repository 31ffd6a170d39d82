//! The JSON texts of the channel calls: the join message of `fg_join_channel` (told apart
//! from a config block) and the chaincode list of `fg_update_chaincodes`. They are read
//! field by field so that a refusal names the field at fault (`anchor_peers[1].port: ...`),
//! which serde's own messages do not always do.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::channel::{AnchorPeer, JoinChannelMessage, OrdererEndpoint};
use crate::node::ChaincodeInfo;

/// `{"sequence":N,"members":[..],"anchor_peers":[{"org","host","port"}],"orderers":
/// [{"endpoint","tls_root_cert","public_key"}]}` → the join message, or why not.
pub fn parse_join(text: &str) -> Result<JoinChannelMessage, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("join message is not JSON: {e}"))?;
    let mut m = object(
        value,
        "join message",
        &["sequence", "members", "anchor_peers", "orderers"],
    )?;
    let sequence: u64 = required(&mut m, "", "sequence")?;
    // Empty lists and names are the registry's to refuse (and count).
    let members: Vec<String> = required(&mut m, "", "members")?;
    let anchor_peers = list(&mut m, "anchor_peers")?
        .into_iter()
        .enumerate()
        .map(|(i, v)| anchor(v, &format!("anchor_peers[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let orderers = list(&mut m, "orderers")?
        .into_iter()
        .enumerate()
        .map(|(i, v)| orderer(v, &format!("orderers[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JoinChannelMessage {
        sequence,
        members,
        anchor_peers,
        orderers,
    })
}

/// Whether the join argument of `fg_join_channel` is a JSON join message rather than a
/// config block: its first non-blank byte is `{`, which no marshaled `common.Block` starts
/// with (a block opens with the tag byte of field 1, 2 or 3: 0x0a, 0x12 or 0x1a).
pub(crate) fn is_join_json(arg: &[u8]) -> bool {
    arg.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_none_or(|b| *b == b'{')
}

/// `[{"name":"mycc","version":"1.0"},...]` → the chaincodes, or why not.
pub fn parse_chaincodes(text: &str) -> Result<Vec<ChaincodeInfo>, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("chaincodes are not JSON: {e}"))?;
    let Value::Array(items) = value else {
        return Err("chaincodes: expected a JSON array of {\"name\",\"version\"}".into());
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let path = format!("chaincodes[{i}]");
            let mut m = object(v, &path, &["name", "version"])?;
            Ok(ChaincodeInfo {
                name: required(&mut m, &path, "name")?,
                version: required(&mut m, &path, "version")?,
            })
        })
        .collect()
}

fn anchor(v: Value, path: &str) -> Result<AnchorPeer, String> {
    let mut m = object(v, path, &["org", "host", "port"])?;
    let a = AnchorPeer {
        org: required(&mut m, path, "org")?,
        host: required(&mut m, path, "host")?,
        port: required(&mut m, path, "port")?,
    };
    if a.host.is_empty() || a.port == 0 {
        return Err(format!(
            "{path}: an anchor peer needs a host and a port in 1..65535"
        ));
    }
    Ok(a)
}

fn orderer(v: Value, path: &str) -> Result<OrdererEndpoint, String> {
    let mut m = object(v, path, &["endpoint", "tls_root_cert", "public_key"])?;
    let endpoint: String = required(&mut m, path, "endpoint")?;
    if endpoint.is_empty() {
        return Err(format!("{path}.endpoint: an orderer needs an endpoint"));
    }
    let tls_root_cert: Option<String> = optional(&mut m, path, "tls_root_cert")?;
    let public_key = match optional::<String>(&mut m, path, "public_key")? {
        None => None,
        Some(h) => {
            let bytes =
                hex::decode(h.trim()).map_err(|e| format!("{path}.public_key: not hex: {e}"))?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                format!(
                    "{path}.public_key: {} bytes, an Ed25519 key has 32",
                    b.len()
                )
            })?;
            Some(key)
        }
    };
    Ok(OrdererEndpoint {
        endpoint,
        // An empty certificate means plain TCP.
        tls_root_cert: tls_root_cert.filter(|p| !p.trim().is_empty()),
        public_key,
    })
}

/// `v` as an object with no key outside `known`.
fn object(v: Value, path: &str, known: &[&str]) -> Result<Map<String, Value>, String> {
    let Value::Object(m) = v else {
        return Err(format!("{path}: expected a JSON object"));
    };
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!(
            "{path}: unknown field {k:?} (expected {})",
            known.join(", ")
        ));
    }
    Ok(m)
}

fn key_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn optional<T: DeserializeOwned>(
    m: &mut Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<Option<T>, String> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v)
            .map(Some)
            .map_err(|e| format!("{}: {e}", key_path(path, key))),
    }
}

fn required<T: DeserializeOwned>(
    m: &mut Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<T, String> {
    optional(m, path, key)?.ok_or_else(|| format!("{}: missing", key_path(path, key)))
}

/// A top-level list field, absent meaning empty.
fn list(m: &mut Map<String, Value>, key: &str) -> Result<Vec<Value>, String> {
    match m.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{key}: expected a JSON array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_join_message() {
        let key = hex::encode([3u8; 32]);
        let j = parse_join(&format!(
            r#"{{"sequence":2,"members":["Org1MSP","Org2MSP"],
                "anchor_peers":[{{"org":"Org1MSP","host":"p0","port":7051}}],
                "orderers":[
                {{"endpoint":"127.0.0.1:7050","tls_root_cert":"PEM","public_key":"{key}"}},
                {{"endpoint":"o2:7050","tls_root_cert":""}}]}}"#
        ))
        .unwrap();
        assert_eq!(j.sequence, 2);
        assert_eq!(j.members, ["Org1MSP", "Org2MSP"]);
        assert_eq!(j.anchor_peers[0].port, 7051);
        let o = &j.orderers;
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].endpoint, "127.0.0.1:7050");
        assert_eq!(o[0].tls_root_cert.as_deref(), Some("PEM"));
        assert_eq!(o[0].public_key, Some([3; 32]));
        // An empty certificate means plain TCP.
        assert_eq!(o[1].tls_root_cert, None);
        assert_eq!(o[1].public_key, None);
        let j = parse_join(r#"{"sequence":1,"members":["A"]}"#).unwrap();
        assert!(j.orderers.is_empty() && j.anchor_peers.is_empty());
    }

    #[test]
    fn a_refusal_names_the_field() {
        let bad = |j: &str| parse_join(j).unwrap_err();
        let cases = [
            ("{", "not JSON"),
            ("[1]", "join message: expected a JSON object"),
            (r#"{"members":["A"]}"#, "sequence: missing"),
            (
                r#"{"sequence":"1","members":["A"]}"#,
                "sequence: invalid type",
            ),
            (r#"{"sequence":1}"#, "members: missing"),
            (r#"{"sequence":1,"members":"A"}"#, "members: invalid type"),
            (
                r#"{"sequence":1,"members":["A"],"foo":1}"#,
                "unknown field \"foo\"",
            ),
            (
                r#"{"sequence":1,"members":["A"],"anchor_peers":[{"org":"A","host":"h","port":1},{"org":"A","host":"h","port":70000}]}"#,
                "anchor_peers[1].port: ",
            ),
            (
                r#"{"sequence":1,"members":["A"],"anchor_peers":[{"org":"A","port":1}]}"#,
                "anchor_peers[0].host: missing",
            ),
            (
                r#"{"sequence":1,"members":["A"],"anchor_peers":{}}"#,
                "anchor_peers: expected a JSON array",
            ),
            (
                r#"{"sequence":1,"members":["A"],"orderers":[{"endpoint":""}]}"#,
                "orderers[0].endpoint: an orderer needs",
            ),
            (
                r#"{"sequence":1,"members":["A"],"orderers":[{"endpoint":"o:1","public_key":"zz"}]}"#,
                "orderers[0].public_key: not hex",
            ),
            (
                r#"{"sequence":1,"members":["A"],"orderers":[{"endpoint":"o:1","public_key":"0102"}]}"#,
                "orderers[0].public_key: 2 bytes",
            ),
            (
                r#"{"sequence":1,"members":["A"],"orderers":[{"endpoint":"o:1","tls":"x"}]}"#,
                "orderers[0]: unknown field \"tls\"",
            ),
        ];
        for (json, want) in cases {
            let e = bad(json);
            assert!(e.contains(want), "{json}: {e:?} lacks {want:?}");
        }
    }

    #[test]
    fn json_or_config_block() {
        assert!(is_join_json(br#" {"sequence":1}"#));
        assert!(is_join_json(b"   "));
        let genesis = include_bytes!("../../tests/channelconfig/genesis.block");
        assert!(!is_join_json(genesis));
        assert!(!is_join_json(b"\x0a\x02{}"));
    }

    #[test]
    fn chaincodes() {
        let c = parse_chaincodes(r#"[{"name":"mycc","version":"1.0"}]"#).unwrap();
        assert_eq!(c[0].name, "mycc");
        assert!(parse_chaincodes("[]").unwrap().is_empty());
        for (json, want) in [
            ("[1]", "chaincodes[0]: expected a JSON object"),
            (r#"{"name":"a"}"#, "expected a JSON array"),
            (
                r#"[{"name":"a","version":"1"},{"name":"b"}]"#,
                "chaincodes[1].version: missing",
            ),
            (
                r#"[{"name":"a","version":2}]"#,
                "chaincodes[0].version: invalid type",
            ),
            ("nope", "not JSON"),
        ] {
            let e = parse_chaincodes(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e:?} lacks {want:?}");
        }
    }
}
