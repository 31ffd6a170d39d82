//! A small mutation fuzzer on stable Rust: seeded, deterministic for a given seed and input
//! count, with outcome feedback (an input that shows a new outcome joins the pool) and panic
//! capture (a crashing input is saved to a folder and the target's test fails).
//!
//! Knobs (environment):
//! - `FABGOSSIP_FUZZ_SECS`: seconds per target (default 3);
//! - `FABGOSSIP_FUZZ_ITERS`: inputs per target instead of a duration (exact, reproducible);
//! - `FABGOSSIP_FUZZ_SEED`: the seed of the input sequence (default 1);
//! - `FABGOSSIP_FUZZ_CRASHES`: where crashing inputs go (default `target/fuzz-crashes`);
//! - `FABGOSSIP_FUZZ_SAVE_CORPUS`: a folder where the first inputs with new outcomes are
//!   written, one subfolder per target (to grow the committed corpus from a long run).

use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// Outcomes an input reached; distinct ones steer the fuzzer.
#[derive(Default)]
pub struct Cov {
    hits: Vec<u64>,
}

impl Cov {
    /// Records an outcome by any hashable name (an error kind, an output kind, a state).
    pub fn hit(&mut self, what: impl Hash) {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        what.hash(&mut h);
        self.hits.push(h.finish());
    }

    /// Records an error message with its digits dropped, so values do not count as new outcomes.
    pub fn error(&mut self, e: &dyn std::fmt::Display) {
        let text: String = e
            .to_string()
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(80)
            .collect();
        self.hit(text);
    }
}

/// One fuzz target: seeds, the longest input it takes, and the function under test. The
/// function panics on a broken invariant; every other outcome is a pass.
pub struct Target {
    pub name: &'static str,
    pub max_len: usize,
    pub seeds: fn() -> Vec<Vec<u8>>,
    pub run: fn(&[u8], &mut Cov),
}

/// What a run did.
#[derive(Debug)]
pub struct Report {
    pub executed: u64,
    pub pool: usize,
    pub outcomes: usize,
    pub crashes: Vec<(PathBuf, String)>,
    pub slowest: Duration,
}

thread_local! {
    static IN_TARGET: RefCell<bool> = const { RefCell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic inside a target is recorded, not printed; any other panic prints as usual.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_TARGET.with(|f| *f.borrow()) {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{loc}: {msg}")));
            } else {
                previous(info);
            }
        }));
    });
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn env_secs(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn crash_dir() -> PathBuf {
    std::env::var_os("FABGOSSIP_FUZZ_CRASHES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes"))
}

pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target)
}

fn short_hash(data: &[u8]) -> String {
    hex::encode(&Sha256::digest(data)[..8])
}

/// The committed corpus files of a target, in name order.
fn corpus_files(target: &str) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// Runs one input; `Err` carries the panic's location and message.
fn execute(t: &Target, input: &[u8], cov: &mut Cov) -> Result<(), String> {
    IN_TARGET.with(|f| *f.borrow_mut() = true);
    let r = panic::catch_unwind(AssertUnwindSafe(|| (t.run)(input, cov)));
    IN_TARGET.with(|f| *f.borrow_mut() = false);
    r.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic without a message".into())
    })
}

/// How long a run goes on (after the seeds, which always run).
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Inputs(u64),
    Time(Duration),
}

/// Fuzzes `t` with the budget, seed and crash folder of the environment.
pub fn fuzz(t: &Target) -> Report {
    let budget = match env_u64("FABGOSSIP_FUZZ_ITERS") {
        Some(n) => Budget::Inputs(n),
        None => Budget::Time(Duration::from_secs_f64(
            env_secs("FABGOSSIP_FUZZ_SECS").unwrap_or(3.0),
        )),
    };
    let seed = env_u64("FABGOSSIP_FUZZ_SEED").unwrap_or(1);
    let save = std::env::var_os("FABGOSSIP_FUZZ_SAVE_CORPUS").map(PathBuf::from);
    fuzz_with(t, budget, seed, &crash_dir(), save.as_deref())
}

/// Fuzzes `t` and returns what happened; crashing inputs go under `crashes/<target>/`, and
/// the first inputs with new outcomes under `save/<target>/` when `save` is given.
pub fn fuzz_with(
    t: &Target,
    budget: Budget,
    seed: u64,
    crashes: &Path,
    save: Option<&Path>,
) -> Report {
    install_hook();
    let mut name_hash = std::collections::hash_map::DefaultHasher::new();
    t.name.hash(&mut name_hash);
    let mut rng = StdRng::seed_from_u64(seed ^ name_hash.finish());

    let mut seen: HashSet<u64> = HashSet::new();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut crash_sites: HashSet<String> = HashSet::new();
    let mut saved = 0usize;
    let mut report = Report {
        executed: 0,
        pool: 0,
        outcomes: 0,
        crashes: Vec::new(),
        slowest: Duration::ZERO,
    };
    let start = Instant::now();

    let mut seeds = (t.seeds)();
    seeds.extend(corpus_files(t.name));
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    let mut queue: std::collections::VecDeque<Vec<u8>> = seeds.into();
    loop {
        let from_seeds = !queue.is_empty();
        if !from_seeds {
            let done = match budget {
                Budget::Inputs(n) => report.executed >= n,
                Budget::Time(d) => start.elapsed() >= d,
            };
            if done {
                break;
            }
        }
        let input = match queue.pop_front() {
            Some(s) => s,
            None => mutate(&pool, t.max_len, &mut rng),
        };
        let mut cov = Cov::default();
        let began = Instant::now();
        let result = execute(t, &input, &mut cov);
        report.slowest = report.slowest.max(began.elapsed());
        report.executed += 1;
        match result {
            Ok(()) => {
                let mut new = false;
                for h in cov.hits {
                    new |= seen.insert(h);
                }
                // Seeds always join the pool; mutants only when they show something new.
                if (new || from_seeds) && pool.len() < 4096 {
                    if new && !from_seeds && saved < MAX_SAVED {
                        if let Some(dir) = save {
                            saved += 1;
                            let dir = dir.join(t.name);
                            let _ = std::fs::create_dir_all(&dir);
                            let _ = std::fs::write(dir.join(short_hash(&input)), &input);
                        }
                    }
                    pool.push(input);
                }
            }
            Err(why) => {
                let site = why.split(": ").next().unwrap_or("").to_string();
                if crash_sites.insert(site) {
                    let dir = crashes.join(t.name);
                    let _ = std::fs::create_dir_all(&dir);
                    let path = dir.join(format!("crash-{}", short_hash(&input)));
                    let _ = std::fs::write(&path, &input);
                    let _ = std::fs::write(path.with_extension("txt"), &why);
                    report.crashes.push((path, why));
                }
            }
        }
    }
    report.pool = pool.len();
    report.outcomes = seen.len();
    eprintln!(
        "fuzz {}: {} inputs in {:.1} s, {} outcomes, pool {}, slowest input {:?}, {} crashes",
        t.name,
        report.executed,
        start.elapsed().as_secs_f64(),
        report.outcomes,
        report.pool,
        report.slowest,
        report.crashes.len()
    );
    report
}

/// Fuzzes `t` and fails the test on any crash, naming the saved inputs.
pub fn check(t: &Target) {
    let r = fuzz(t);
    if !r.crashes.is_empty() {
        let list: Vec<String> = r
            .crashes
            .iter()
            .map(|(p, why)| format!("  {} ({why})", p.display()))
            .collect();
        panic!(
            "fuzz target {} crashed on {} input(s):\n{}",
            t.name,
            r.crashes.len(),
            list.join("\n")
        );
    }
}

/// Most inputs a run writes to `FABGOSSIP_FUZZ_SAVE_CORPUS` per target: the committed corpus
/// stays small.
const MAX_SAVED: usize = 24;

/// Values that often sit on a boundary, as bytes and as varints.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    i64::MAX as u64,
    u64::MAX - 1,
    u64::MAX,
];

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A mutant of a pool entry: 1 to 8 stacked edits, some of them protobuf-aware.
fn mutate(pool: &[Vec<u8>], max_len: usize, rng: &mut StdRng) -> Vec<u8> {
    let mut data = pool[rng.gen_range(0..pool.len())].clone();
    let edits = 1 << rng.gen_range(0..4);
    for _ in 0..edits {
        let len = data.len();
        match rng.gen_range(0..13) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = rng.gen();
            }
            2 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = INTERESTING[rng.gen_range(0..INTERESTING.len())] as u8;
            }
            3 => {
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                data.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(32));
                data.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(64));
                let copy = data[i..i + n].to_vec();
                let at = rng.gen_range(0..=len);
                data.splice(at..at, copy);
            }
            6 => {
                // Crossover: a head of this one, a tail of another.
                let other = &pool[rng.gen_range(0..pool.len())];
                let cut = rng.gen_range(0..=len);
                let from = rng.gen_range(0..=other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            7 => {
                // A varint (a length or a number) over or into the bytes.
                let i = rng.gen_range(0..=len);
                let mut v = Vec::new();
                let value = if rng.gen_bool(0.5) {
                    INTERESTING[rng.gen_range(0..INTERESTING.len())]
                } else {
                    rng.gen_range(0..4096)
                };
                varint(value, &mut v);
                if rng.gen_bool(0.5) {
                    let end = (i + v.len()).min(len);
                    data.splice(i..end, v);
                } else {
                    data.splice(i..i, v);
                }
            }
            8 if len > 0 => {
                data.truncate(rng.gen_range(0..len));
            }
            9 => {
                // A protobuf field: key (field 1..20, any wire type) and a short body.
                let i = rng.gen_range(0..=len);
                let field = rng.gen_range(1..=20u64);
                let wire = rng.gen_range(0..6u64);
                let mut v = Vec::new();
                varint(field << 3 | wire, &mut v);
                match wire {
                    0 => varint(rng.gen(), &mut v),
                    1 => v.extend_from_slice(&rng.gen::<u64>().to_le_bytes()),
                    2 => {
                        let n = rng.gen_range(0..16);
                        varint(n as u64, &mut v);
                        v.extend((0..n).map(|_| rng.gen::<u8>()));
                    }
                    5 => v.extend_from_slice(&rng.gen::<u32>().to_le_bytes()),
                    _ => {}
                }
                data.splice(i..i, v);
            }
            10 if len > 1 => {
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(0..len);
                data.swap(a, b);
            }
            11 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = data[i].wrapping_add(if rng.gen() { 1 } else { 255 });
            }
            12 if len > 0 => {
                // A text-minded edit: an ASCII character from the syntax of YAML and JSON.
                const SYNTAX: &[u8] = b"{}[]:,\"'\n -#&*!|>0123456789.e\\";
                let i = rng.gen_range(0..=len);
                data.insert(i, SYNTAX[rng.gen_range(0..SYNTAX.len())]);
            }
            _ => {
                data.push(rng.gen());
            }
        }
    }
    data.truncate(max_len);
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panics on inputs that start with "FUZZ": reachable from the seed "FUZ" by one edit.
    fn planted(data: &[u8], cov: &mut Cov) {
        cov.hit(data.len().min(8));
        if data.starts_with(b"FUZZ") {
            panic!("planted crash");
        }
    }

    #[test]
    fn finds_saves_and_reports_a_planted_crash() {
        let dir =
            std::env::temp_dir().join(format!("fabgossip-fuzz-selftest-{}", std::process::id()));
        let t = Target {
            name: "planted",
            max_len: 64,
            seeds: || vec![b"FUZ".to_vec()],
            run: planted,
        };
        // Whatever the environment says, this run is short and has its own crash folder.
        let r = fuzz_with(&t, Budget::Inputs(200_000), 1, &dir, None);
        assert_eq!(
            r.crashes.len(),
            1,
            "the planted crash was not found in {} inputs",
            r.executed
        );
        let (path, why) = &r.crashes[0];
        assert!(why.contains("planted crash"), "{why}");
        let saved = std::fs::read(path).unwrap();
        assert!(
            saved.starts_with(b"FUZZ"),
            "the saved input is not the crashing one"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
