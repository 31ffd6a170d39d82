//! A test orderer: serves `AtomicBroadcast.Deliver` for one channel's chain of blocks signed
//! with a seeded Ed25519 key that fabgossip's built-in crypto verifies.
//!
//! ```text
//! cargo run --release --example orderer -- --channel mych --blocks 100 [--listen 127.0.0.1:7050]
//!     [--seed <64 hex>] [--rate <blocks/s>] [--block-size <bytes>] [--delay-ms <ms>] [--tls]
//! ```
//!
//! The first stdout line is `{"event":"ready","endpoint":...,"public_key":<hex>,"height":N}`
//! (plus `"tls_root_cert":<PEM>` with `--tls`): put `endpoint`, `public_key` and the root
//! certificate in the join message's `orderers`. Commands on stdin, one per line, each
//! answered with one JSON line: `cut <n>` (more blocks), `slow <ms>` (pause before each block
//! sent), `garbage` (the next block sent fails verification), `restart` (drop every stream
//! and listen again on the same port), `height`, `stats`, `stop` (also on end of input).

mod server;

use std::io::BufRead;
use std::net::SocketAddr;
use std::time::Duration;

use server::{ChainOptions, TestOrderer, TlsMaterial};

struct Args {
    listen: SocketAddr,
    channel: String,
    seed: [u8; 32],
    blocks: u64,
    rate: Option<f64>,
    block_size: usize,
    delay_ms: u64,
    tls: bool,
}

fn usage(why: &str) -> ! {
    eprintln!("orderer: {why}");
    eprintln!(
        "usage: orderer --channel <name> [--listen addr] [--seed hex32] [--blocks n] [--rate r] [--block-size b] [--delay-ms ms] [--tls]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        channel: String::new(),
        seed: [7; 32],
        blocks: 10,
        rate: None,
        block_size: 100,
        delay_ms: 0,
        tls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--tls" {
            a.tls = true;
            continue;
        }
        let Some(v) = it.next() else {
            usage(&format!("{flag} needs a value"))
        };
        let bad = |e: &dyn std::fmt::Display| -> ! { usage(&format!("{flag} {v:?}: {e}")) };
        match flag.as_str() {
            "--listen" => a.listen = v.parse().unwrap_or_else(|e| bad(&e)),
            "--channel" => a.channel = v,
            "--seed" => {
                a.seed = fabgossip::crypto::ed25519::parse_seed_hex(&v).unwrap_or_else(|e| bad(&e))
            }
            "--blocks" => a.blocks = v.parse().unwrap_or_else(|e| bad(&e)),
            "--rate" => {
                let r: f64 = v.parse().unwrap_or_else(|e| bad(&e));
                if !(r.is_finite() && r > 0.0) {
                    bad(&"must be a positive number");
                }
                a.rate = Some(r);
            }
            "--block-size" => a.block_size = v.parse().unwrap_or_else(|e| bad(&e)),
            "--delay-ms" => a.delay_ms = v.parse().unwrap_or_else(|e| bad(&e)),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if a.channel.is_empty() {
        usage("--channel is required");
    }
    a
}

fn emit(v: serde_json::Value) {
    println!("{v}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    let orderer = TestOrderer::new(ChainOptions {
        channel: args.channel.clone(),
        seed: args.seed,
        block_size: args.block_size,
    });
    orderer.cut(args.blocks);
    orderer.set_delay(Duration::from_millis(args.delay_ms));
    let tls = if args.tls {
        match TlsMaterial::generate() {
            Ok(t) => Some(t),
            Err(e) => usage(&format!("TLS certificates: {e}")),
        }
    } else {
        None
    };
    let mut server = match orderer.serve(args.listen, tls.as_ref()).await {
        Ok(s) => s,
        Err(e) => usage(&format!("cannot listen on {}: {e}", args.listen)),
    };
    let addr = server.addr;
    let mut ready = serde_json::json!({
        "event": "ready",
        "endpoint": addr.to_string(),
        "public_key": hex::encode(orderer.public_key()),
        "channel": args.channel,
        "height": orderer.height(),
    });
    if let Some(t) = &tls {
        ready["tls_root_cert"] = serde_json::Value::String(t.ca_pem.clone());
    }
    emit(ready);

    if let Some(rate) = args.rate {
        let o = orderer.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            tick.tick().await;
            loop {
                tick.tick().await;
                o.cut(1);
            }
        });
    }

    // Commands come from a blocking reader thread.
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<String>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = line_rx.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => continue,
            ["cut", n] => match n.parse::<u64>() {
                Ok(n) => {
                    orderer.cut(n);
                    emit(serde_json::json!({"event": "cut", "height": orderer.height()}));
                }
                Err(e) => emit(serde_json::json!({"event": "error", "error": e.to_string()})),
            },
            ["slow", ms] => match ms.parse::<u64>() {
                Ok(ms) => {
                    orderer.set_delay(Duration::from_millis(ms));
                    emit(serde_json::json!({"event": "slowed", "delay_ms": ms}));
                }
                Err(e) => emit(serde_json::json!({"event": "error", "error": e.to_string()})),
            },
            ["garbage"] => {
                orderer.corrupt_next_block();
                emit(serde_json::json!({"event": "garbage_armed"}));
            }
            ["restart"] => {
                server.stop().await;
                server = match orderer.serve(addr, tls.as_ref()).await {
                    Ok(s) => s,
                    Err(e) => {
                        emit(serde_json::json!({"event": "error", "error": e.to_string()}));
                        std::process::exit(1);
                    }
                };
                emit(serde_json::json!({"event": "restarted", "endpoint": addr.to_string()}));
            }
            ["height"] => emit(serde_json::json!({"event": "height", "height": orderer.height()})),
            ["stats"] => {
                let c = orderer.counters();
                let seeks = c.seeks.lock().map(|s| s.clone()).unwrap_or_default();
                emit(serde_json::json!({
                    "event": "stats",
                    "height": orderer.height(),
                    "sessions": c.sessions.load(std::sync::atomic::Ordering::Relaxed),
                    "blocks_sent": c.blocks_sent.load(std::sync::atomic::Ordering::Relaxed),
                    "bad_seeks": c.bad_seeks.load(std::sync::atomic::Ordering::Relaxed),
                    "seeks": seeks,
                }));
            }
            ["stop"] => break,
            _ => emit(
                serde_json::json!({"event": "error", "error": format!("unknown command {line:?}")}),
            ),
        }
    }
    server.stop().await;
    emit(serde_json::json!({"event": "stopped"}));
}
