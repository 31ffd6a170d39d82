//! In-process dissemination benchmark: N `GossipService`s in ONE process, all driven by one
//! current-thread Tokio scheduler plus its blocking pool (the library's own runtime shape), over
//! loopback gRPC; one peer adds blocks at a fixed rate and every other peer commits them into an
//! in-memory ledger that records the commit time. The setting of DESIGN.md's Fabric reference
//! figure (all nodes in one process), measured beside `build/fabricnode --inprocess-bench` by
//! `bench/inprocess.py`, which prints the table and draws the figure.
//!
//!     cargo bench --bench inprocess -- [--peers 20] [--blocks 100] [--rate 100] [--block-kb 10]
//!         [--settle 2] [--timeout 60] [--tls]
//!
//! Prints one JSON object on stdout (progress on stderr), with the keys the Fabric side prints.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fabgossip::channel::JoinChannelMessage;
use fabgossip::config::Config;
use fabgossip::crypto::block::{block_header_hash, new_block};
use fabgossip::ledger::{Ledger, LedgerError, LedgerProvider};
use fabgossip::node::GossipService;
use prost::Message;

// Ports below the ephemeral range, temporary directories and polling, as the tests use them.
#[path = "../tests/support/mod.rs"]
mod support;
use support::{free_port, tempdir, wait_for};

const CHANNEL: &str = "mychannel";

struct Args {
    peers: usize,
    blocks: u64,
    rate: f64,
    block_kb: f64,
    settle: f64,
    timeout: f64,
    tls: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        peers: 20,
        blocks: 100,
        rate: 100.0,
        block_kb: 10.0,
        settle: 2.0,
        timeout: 60.0,
        tls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .and_then(|v| v.parse::<f64>().map_err(|e| format!("{name} {v}: {e}")))
        };
        match flag.as_str() {
            "--peers" => a.peers = value("--peers")? as usize,
            "--blocks" => a.blocks = value("--blocks")? as u64,
            "--rate" => a.rate = value("--rate")?,
            "--block-kb" => a.block_kb = value("--block-kb")?,
            "--settle" => a.settle = value("--settle")?,
            "--timeout" => a.timeout = value("--timeout")?,
            "--tls" => a.tls = true,
            // `cargo bench` passes this to every bench target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.peers < 2 || a.blocks < 1 || a.rate <= 0.0 {
        return Err("need --peers ≥ 2, --blocks ≥ 1 and --rate > 0".into());
    }
    Ok(a)
}

/// Commit times of one peer: block number → when its commit returned.
type Commits = Arc<Mutex<HashMap<u64, Instant>>>;

/// A channel's blocks in memory, each commit timed (like the Fabric node's in-memory ledger).
struct TimedLedger {
    blocks: Vec<Vec<u8>>,
    commits: Commits,
}

impl Ledger for TimedLedger {
    fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    fn commit(&mut self, block: &[u8], _private_data: &[Vec<u8>]) -> Result<(), LedgerError> {
        let seq = self.blocks.len() as u64;
        self.blocks.push(block.to_vec());
        self.commits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(seq, Instant::now());
        Ok(())
    }

    fn get_blocks(&self, start: u64, end_inclusive: u64) -> Result<Vec<Vec<u8>>, LedgerError> {
        let end = end_inclusive.min(self.height().saturating_sub(1));
        Ok((start..=end)
            .filter_map(|s| self.blocks.get(s as usize).cloned())
            .collect())
    }
}

struct TimedLedgers {
    commits: Commits,
}

impl LedgerProvider for TimedLedgers {
    fn open(&self, _channel: &str) -> Result<Box<dyn Ledger>, LedgerError> {
        Ok(Box::new(TimedLedger {
            blocks: Vec::new(),
            commits: self.commits.clone(),
        }))
    }

    fn kind(&self) -> &'static str {
        "timed-memory"
    }
}

/// Genesis (one small transaction) then blocks of one `bytes`-long transaction each, chained.
fn make_blocks(count: u64, bytes: usize) -> Vec<Vec<u8>> {
    let mut prev = Vec::new();
    (0..=count)
        .map(|seq| {
            let tx = if seq == 0 {
                b"genesis".to_vec()
            } else {
                format!("tx {seq} ").repeat(bytes / 4 + 1).as_bytes()[..bytes].to_vec()
            };
            let b = new_block(seq, prev.clone(), vec![tx]);
            prev = block_header_hash(b.header.as_ref().expect("new_block sets the header"));
            b.encode_to_vec()
        })
        .collect()
}

/// Peer `i`: Org1, core.yaml timers, state transfer on (as for the Fabric nodes), bootstrapping
/// to peer 0 (peer 0 to peer 1).
fn config(i: usize, ports: &[u16], dir: &std::path::Path, tls: bool) -> Config {
    let port = ports[i];
    let boot = ports[if i == 0 { 1 } else { 0 }];
    let text = format!(
        "peer:\n  id: p{i}\n  localMspId: Org1MSP\n  listenAddress: 127.0.0.1:{port}\n  address: 127.0.0.1:{port}\n  fileSystemPath: {dir}\n  tls:\n    enabled: {tls}\n  gossip:\n    bootstrap: 127.0.0.1:{boot}\n    externalEndpoint: '127.0.0.1:{port}'\n    state:\n      enabled: true\nfabgossip:\n  trustedOrgs: [Org1MSP]\n  identitySeed: '{seed}'\n  ledgerFsync: false\n",
        dir = dir.join(format!("p{i}")).display(),
        seed = hex::encode([i as u8 + 1; 32]),
    );
    Config::parse(&text).expect("bench config")
}

fn process_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn idle_cpu_per_s(seconds: f64) -> f64 {
    let (c0, t0) = (process_cpu_s(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    (process_cpu_s() - c0) / t0.elapsed().as_secs_f64()
}

async fn run(a: Args) -> Result<serde_json::Value, String> {
    let dir = tempdir("inprocess");
    let ports: Vec<u16> = (0..a.peers).map(|_| free_port()).collect();
    let bytes = (a.block_kb * 1024.0) as usize;
    let blocks = make_blocks(a.blocks, bytes);
    let join = JoinChannelMessage {
        sequence: 1,
        members: vec!["Org1MSP".into()],
        anchor_peers: Vec::new(),
        orderers: Vec::new(),
    };

    let t0 = Instant::now();
    let mut peers = Vec::new();
    let mut commits = Vec::new();
    for i in 0..a.peers {
        let p = GossipService::start_builtin(config(i, &ports, &dir, a.tls))
            .await
            .map_err(|e| format!("peer {i}: {e}"))?;
        let c: Commits = Arc::default();
        p.set_ledger_provider(Some(Arc::new(TimedLedgers { commits: c.clone() })))
            .await
            .map_err(|e| e.to_string())?;
        p.join_channel(CHANNEL, join.clone())
            .await
            .map_err(|e| e.to_string())?;
        peers.push(p);
        commits.push(c);
    }
    for p in &peers {
        p.add_payload(CHANNEL, 0, blocks[0].clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    let n = a.peers;
    let full_view = || {
        peers.iter().all(|p| {
            p.peers_of_channel(CHANNEL)
                .is_some_and(|v| v.len() == n - 1)
        })
    };
    if !wait_for(Duration::from_secs(120), full_view).await {
        return Err("timed out waiting until every peer sees the others in the channel".into());
    }
    let view_s = t0.elapsed().as_secs_f64();
    eprintln!("fabgossip in-process N={n}: channel view after {view_s:.1} s");
    for c in &commits {
        c.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    let idle_before = idle_cpu_per_s(a.settle).await;
    let (cpu0, start) = (process_cpu_s(), Instant::now());
    let mut added = Vec::new();
    let step = Duration::from_secs_f64(1.0 / a.rate);
    for seq in 1..=a.blocks {
        tokio::time::sleep_until((start + step * (seq - 1) as u32).into()).await;
        added.push(Instant::now());
        peers[0]
            .add_payload(CHANNEL, seq, blocks[seq as usize].clone())
            .await
            .map_err(|e| format!("add {seq}: {e}"))?;
    }
    // Adds per second between the first and the last add, as the other benchmarks count it.
    let span = added[added.len() - 1]
        .duration_since(added[0])
        .as_secs_f64();
    let add_rate = if span > 0.0 {
        (a.blocks - 1) as f64 / span
    } else {
        0.0
    };
    let all_in = || {
        commits[1..]
            .iter()
            .all(|c| c.lock().unwrap_or_else(|e| e.into_inner()).len() as u64 >= a.blocks)
    };
    // Blocks still missing then are reported as missing.
    wait_for(Duration::from_secs_f64(a.timeout), all_in).await;
    let mut latencies_ms = Vec::new();
    let mut last = start;
    let mut missing = 0u64;
    for c in &commits[1..] {
        let c = c.lock().unwrap_or_else(|e| e.into_inner());
        for seq in 1..=a.blocks {
            match c.get(&seq) {
                Some(t) => {
                    latencies_ms
                        .push(t.duration_since(added[seq as usize - 1]).as_secs_f64() * 1e3);
                    last = last.max(*t);
                }
                None => missing += 1,
            }
        }
    }
    let cpu_block_s = process_cpu_s() - cpu0;
    let block_phase_s = last.duration_since(start).as_secs_f64();
    let idle_after = idle_cpu_per_s(a.settle).await;
    let rss = rss_kb();
    for p in &peers {
        p.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(serde_json::json!({
        "kind": "fabgossip", "n": n, "blocks": a.blocks, "rate": a.rate, "block_bytes": bytes,
        "tls": a.tls, "view_s": view_s, "latencies_ms": latencies_ms, "missing": missing,
        "block_phase_s": block_phase_s, "cpu_block_s": cpu_block_s,
        "idle_before_cpu_per_s": idle_before, "idle_after_cpu_per_s": idle_after,
        "rss_kb": rss, "add_rate": add_rate,
    }))
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("inprocess: {e}");
            std::process::exit(2);
        }
    };
    // The library's runtime shape: one scheduler thread (this one) and the blocking pool.
    let rt = tokio::runtime::Builder::new_current_thread()
        .thread_name("fg-blocking")
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(run(args)) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("inprocess: {e}");
            std::process::exit(1);
        }
    }
}
