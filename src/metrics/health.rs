//! `GET /healthz`: Fabric's health checks, answered from the node's snapshot.
//!
//! Checks (each a Fabric-style component name):
//! - `gossip`: the service's owner task (which drives comm, membership and every channel)
//!   is running.
//! - `ledger:<channel>`: commits of the channel fail and none succeeded since the previous
//!   probe (the first probe compares against the channel's start).
//! - `deliveryclient:<channel>`: this peer leads the channel, has orderers to pull from, is
//!   not connected to any, and at least one session or dial already failed.
//!
//! The body has Fabric's shape: `{"status":"OK","time":...}` with 200, or
//! `{"status":"Service Unavailable","time":...,"failed_checks":[{"component":...,"reason":...}]}`
//! with 503.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::Snapshot;
use crate::sync::MutexExt;

/// One failed check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedCheck {
    pub component: String,
    pub reason: String,
}

#[derive(Serialize)]
struct Body<'a> {
    status: &'static str,
    time: String,
    #[serde(skip_serializing_if = "<[FailedCheck]>::is_empty")]
    failed_checks: &'a [FailedCheck],
}

/// The HTTP status and JSON body for these failed checks, at `now`.
pub fn body(failed: &[FailedCheck], now: SystemTime) -> (u16, String) {
    let (code, status) = if failed.is_empty() {
        (200, "OK")
    } else {
        (503, "Service Unavailable")
    };
    let body = Body {
        status,
        time: rfc3339(now),
        failed_checks: failed,
    };
    (
        code,
        serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()),
    )
}

/// `now` as RFC 3339 in UTC with nanoseconds, as Go's `time.Time` marshals.
pub fn rfc3339(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// The checks, with the commit counters of the previous probe to tell "stuck" from "once
/// failed".
#[derive(Default)]
pub struct HealthChecker {
    last_commits: Mutex<HashMap<String, (u64, u64)>>,
}

impl HealthChecker {
    /// Runs every check against `snap`; `gossip_running` is whether the owner task runs.
    pub fn check(&self, snap: &Snapshot, gossip_running: bool) -> Vec<FailedCheck> {
        let mut failed = Vec::new();
        if !gossip_running {
            failed.push(FailedCheck {
                component: "gossip".into(),
                reason: "the gossip service's owner task has ended".into(),
            });
        }
        let mut last = self.last_commits.locked();
        for ch in &snap.channels {
            if let Some(blocks) = &ch.blocks {
                let now = (blocks.state.committed, blocks.state.commit_failed);
                let before = last.insert(ch.name.clone(), now).unwrap_or((0, 0));
                if now.1 > before.1 && now.0 == before.0 {
                    failed.push(FailedCheck {
                        component: format!("ledger:{}", ch.name),
                        reason: format!(
                            "{} commits failed and none succeeded since the last check (height {})",
                            now.1 - before.1,
                            blocks.height
                        ),
                    });
                }
            }
            if let (Some(true), Some(d)) = (ch.leader, &ch.delivery) {
                if !d.connected && (d.reconnects > 0 || d.unreachable_reports > 0) {
                    failed.push(FailedCheck {
                        component: format!("deliveryclient:{}", ch.name),
                        reason: format!(
                            "leader without an orderer connection: {} failed sessions, last tried {:?}",
                            d.reconnects, d.endpoint
                        ),
                    });
                }
            }
        }
        let names: Vec<&String> = snap.channels.iter().map(|c| &c.name).collect();
        last.retain(|k, _| names.contains(&k));
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::DeliveryStats;
    use crate::metrics::ChannelMetrics;
    use crate::node::ChannelBlockStats;
    use std::time::Duration;

    #[test]
    fn ok_and_unavailable_bodies_have_fabrics_shape() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 5);
        let (code, ok) = body(&[], t);
        assert_eq!(code, 200);
        assert_eq!(
            ok,
            r#"{"status":"OK","time":"2023-11-14T22:13:20.000000005Z"}"#
        );
        let failed = [FailedCheck {
            component: "deliveryclient:ch1".into(),
            reason: "no orderer".into(),
        }];
        let (code, bad) = body(&failed, t);
        assert_eq!(code, 503);
        let v: serde_json::Value = serde_json::from_str(&bad).unwrap();
        assert_eq!(v["status"], "Service Unavailable");
        assert_eq!(v["failed_checks"][0]["component"], "deliveryclient:ch1");
        assert_eq!(v["failed_checks"][0]["reason"], "no orderer");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.000000000Z");
    }

    fn channel(committed: u64, failed: u64) -> ChannelMetrics {
        let mut blocks = ChannelBlockStats::default();
        blocks.state.committed = committed;
        blocks.state.commit_failed = failed;
        ChannelMetrics {
            name: "ch1".into(),
            blocks: Some(blocks),
            ..Default::default()
        }
    }

    fn components(failed: &[FailedCheck]) -> Vec<&str> {
        failed.iter().map(|f| f.component.as_str()).collect()
    }

    #[test]
    fn ledger_fails_only_while_commits_fail_without_progress() {
        let checker = HealthChecker::default();
        let mut snap = Snapshot {
            channels: vec![channel(3, 0)],
            ..Default::default()
        };
        assert!(checker.check(&snap, true).is_empty());
        // Failures and no commit since the last probe: stuck.
        snap.channels = vec![channel(3, 2)];
        assert_eq!(components(&checker.check(&snap, true)), ["ledger:ch1"]);
        // A retry went through: healthy again, although the failures stay counted.
        snap.channels = vec![channel(4, 2)];
        assert!(checker.check(&snap, true).is_empty());
        assert_eq!(components(&checker.check(&snap, false)), ["gossip"]);
    }

    #[test]
    fn delivery_fails_for_a_leader_that_reaches_no_orderer() {
        let checker = HealthChecker::default();
        let mut ch = channel(0, 0);
        ch.delivery = Some(DeliveryStats {
            endpoint: "127.0.0.1:7050".into(),
            reconnects: 2,
            ..Default::default()
        });
        let mut snap = Snapshot {
            channels: vec![ch.clone()],
            ..Default::default()
        };
        // Not the leader (or unknown): the delivery client is not this peer's to run.
        assert!(checker.check(&snap, true).is_empty());
        snap.channels[0].leader = Some(true);
        let failed = checker.check(&snap, true);
        assert_eq!(components(&failed), ["deliveryclient:ch1"]);
        assert!(failed[0].reason.contains("127.0.0.1:7050"), "{failed:?}");
        snap.channels[0].delivery.as_mut().unwrap().connected = true;
        assert!(checker.check(&snap, true).is_empty());
    }
}
