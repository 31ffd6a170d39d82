//! Fabric's logging spec (`FABRIC_LOGGING_SPEC`, the operations `/logspec` body) over the
//! library's `tracing` targets.
//!
//! Syntax: terms separated by `:`; a term is a level (the default for every logger) or
//! `logger[,logger...]=level`. The last default wins; a logger's level applies to the logger
//! and every logger under it (`gossip` covers `gossip.comm`). Levels are Fabric's (`debug`,
//! `info`, `warn`/`warning`, `error`, and `dpanic`/`panic`/`fatal`, which here mean error)
//! plus `trace`.
//!
//! Fabric logger names map onto targets: `gossip` → the whole library (`fabgossip`),
//! `gossip.<part>` → `fabgossip::<part>` with Fabric's parts named as Fabric names them
//! (`gossip.comm`, `gossip.discovery`, `gossip.election`, `gossip.state`, `gossip.privdata`,
//! `gossip.pull`, `gossip.channel`, `gossip.gossip` → `node`), `deliveryClient` →
//! `fabgossip::deliver`, `msp` → `fabgossip::msp`, `ledger`/`kvledger` →
//! `fabgossip::ledger`, `operations` → `fabgossip::metrics`. Any other name is taken as a
//! `tracing` target prefix with `.` read as `::` (so `fabgossip.identity` works too).

use std::sync::{Arc, RwLock};

use crate::sync::RwLockExt;
use tracing::level_filters::LevelFilter;

/// A parsed spec: the default level and the per-target levels, longest prefix first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    /// The spec as given, trimmed: what `GET /logspec` returns.
    pub text: String,
    pub default: LevelFilter,
    /// (target prefix, level), sorted so that the longest prefix comes first.
    pub rules: Vec<(String, LevelFilter)>,
}

/// Why a spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid logging specification {spec:?}: {reason}")]
pub struct SpecError {
    pub spec: String,
    pub reason: String,
}

fn level(word: &str) -> Option<LevelFilter> {
    Some(match word.to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" | "dpanic" | "panic" | "fatal" => LevelFilter::ERROR,
        _ => return None,
    })
}

fn valid_logger(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '#'))
        })
}

/// The `tracing` target prefix a Fabric logger name stands for.
pub fn target_of(logger: &str) -> String {
    let mapped = match logger {
        "gossip" => "fabgossip",
        "gossip.gossip" => "fabgossip::node",
        "deliveryClient" => "fabgossip::deliver",
        "msp" => "fabgossip::msp",
        "ledger" | "kvledger" => "fabgossip::ledger",
        "operations" => "fabgossip::metrics",
        _ => "",
    };
    if !mapped.is_empty() {
        return mapped.to_string();
    }
    if let Some(part) = logger.strip_prefix("gossip.") {
        return format!("fabgossip::{}", part.replace('.', "::"));
    }
    logger.replace('.', "::")
}

impl LogSpec {
    /// Parses Fabric's spec syntax; an empty spec means `info`, as in Fabric.
    pub fn parse(spec: &str) -> Result<LogSpec, SpecError> {
        let text = spec.trim();
        let err = |reason: String| SpecError {
            spec: text.to_string(),
            reason,
        };
        let mut default = LevelFilter::INFO;
        let mut rules: Vec<(String, LevelFilter)> = Vec::new();
        for term in text.split(':').filter(|t| !t.is_empty()) {
            match term.split_once('=') {
                None => {
                    default = level(term).ok_or_else(|| err(format!("unknown level {term:?}")))?
                }
                Some((loggers, lvl)) => {
                    let lvl = level(lvl).ok_or_else(|| err(format!("unknown level {lvl:?}")))?;
                    for logger in loggers.split(',') {
                        if !valid_logger(logger) {
                            return Err(err(format!("bad logger name {logger:?}")));
                        }
                        let target = target_of(logger);
                        rules.retain(|(t, _)| *t != target);
                        rules.push((target, lvl));
                    }
                }
            }
        }
        rules.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        Ok(LogSpec {
            text: text.to_string(),
            default,
            rules,
        })
    }

    /// The level that applies to events of `target`.
    pub fn level_for(&self, target: &str) -> LevelFilter {
        self.rules
            .iter()
            .find(|(prefix, _)| {
                target.starts_with(prefix.as_str())
                    && (target.len() == prefix.len() || target[prefix.len()..].starts_with("::"))
            })
            .map_or(self.default, |(_, l)| *l)
    }

    /// The most verbose level any target gets.
    pub fn max_level(&self) -> LevelFilter {
        self.rules
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, std::cmp::max)
    }
}

static ACTIVE: RwLock<Option<Arc<LogSpec>>> = RwLock::new(None);
static HOST_LEVEL: RwLock<LevelFilter> = RwLock::new(LevelFilter::OFF);

/// Records the level the host chose with its log callback (what `GET /logspec` reports
/// while no spec was set) and clears any `/logspec` spec: the host's latest word wins.
pub fn set_host_level(level: LevelFilter) {
    *HOST_LEVEL.write_locked() = level;
    set_active(None);
}

/// The spec text in force: the `/logspec` one, else the host's level.
pub fn current_text() -> String {
    match active() {
        Some(spec) => spec.text.clone(),
        None => level_name(*HOST_LEVEL.read_locked()).to_string(),
    }
}

/// The spec set through `/logspec`, if any (the host's `fg_set_log_callback` level clears it).
pub fn active() -> Option<Arc<LogSpec>> {
    ACTIVE.read_locked().clone()
}

/// Makes `spec` the process's log filter (or clears it) and re-evaluates cached interest.
pub fn set_active(spec: Option<LogSpec>) {
    *ACTIVE.write_locked() = spec.map(Arc::new);
    tracing::callsite::rebuild_interest_cache();
}

/// Fabric's name of a level, for the spec text of a plain level.
pub fn level_name(level: LevelFilter) -> &'static str {
    match level {
        LevelFilter::TRACE => "trace",
        LevelFilter::DEBUG => "debug",
        LevelFilter::INFO => "info",
        LevelFilter::WARN => "warn",
        LevelFilter::ERROR => "error",
        _ => "off",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_level_and_per_logger_levels() {
        let s = LogSpec::parse("gossip=debug:info").unwrap();
        assert_eq!(s.default, LevelFilter::INFO);
        assert_eq!(s.level_for("fabgossip::comm::server"), LevelFilter::DEBUG);
        assert_eq!(s.level_for("fabgossip"), LevelFilter::DEBUG);
        assert_eq!(s.level_for("h2"), LevelFilter::INFO);
        assert_eq!(s.max_level(), LevelFilter::DEBUG);
        assert_eq!(s.text, "gossip=debug:info");

        let s = LogSpec::parse("warning").unwrap();
        assert_eq!(s.default, LevelFilter::WARN);
        assert!(s.rules.is_empty());
        assert_eq!(LogSpec::parse("").unwrap().default, LevelFilter::INFO);
        assert_eq!(LogSpec::parse("FATAL").unwrap().default, LevelFilter::ERROR);
    }

    #[test]
    fn longest_prefix_wins_and_names_map() {
        let s = LogSpec::parse("gossip=warn:gossip.comm,deliveryClient=debug:error").unwrap();
        assert_eq!(s.level_for("fabgossip::comm"), LevelFilter::DEBUG);
        assert_eq!(s.level_for("fabgossip::comm::dial"), LevelFilter::DEBUG);
        assert_eq!(s.level_for("fabgossip::commx"), LevelFilter::WARN);
        assert_eq!(
            s.level_for("fabgossip::deliver::client"),
            LevelFilter::DEBUG
        );
        assert_eq!(s.level_for("fabgossip::discovery"), LevelFilter::WARN);
        assert_eq!(s.level_for("tonic"), LevelFilter::ERROR);
        assert_eq!(target_of("gossip.gossip"), "fabgossip::node");
        assert_eq!(target_of("msp"), "fabgossip::msp");
        assert_eq!(target_of("fabgossip.identity"), "fabgossip::identity");
        // A later term for the same logger replaces the earlier one.
        let s = LogSpec::parse("gossip=debug:gossip=error").unwrap();
        assert_eq!(s.rules, vec![("fabgossip".to_string(), LevelFilter::ERROR)]);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for bad in [
            "verbose",
            "gossip=loud",
            "=debug",
            "gossip..comm=debug",
            "a b=info",
            "gossip=debug=info",
        ] {
            let e = LogSpec::parse(bad).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
        }
        assert!(LogSpec::parse("gossip=loud")
            .unwrap_err()
            .to_string()
            .contains("loud"));
    }
}
