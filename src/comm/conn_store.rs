//! One connection per PKI-ID, and the dials in flight.
//!
//! Fabric's rule: an inbound connection replaces an existing one (the remote may have
//! restarted), and an outbound connection that completes while one exists is discarded.
//! Applied alone, that rule lets two peers that dial each other at the same moment each keep
//! the stream the other one discards. So, only while the existing connection is younger than
//! the handshake window, both sides keep the stream dialed by the peer with the smaller PKI-ID.
//! Against a Fabric peer this never does worse than Fabric's own rule.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::conn::{Connection, Direction, QueueResult};
use crate::proto::gossip::Envelope;
use crate::sync::MutexExt;
use crate::types::{OrgId, PkiId};

/// How many PKI-ID → org entries are remembered for the identity-switch check.
const KNOWN_ORGS_MAX: usize = 10_000;

/// What a dial is for: a known PKI-ID, or an endpoint whose owner is not known yet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum DialKey {
    Pki(PkiId),
    Endpoint(String),
}

/// Result of registering a freshly authenticated connection.
pub(crate) enum Register {
    /// Registered; `replaced` was closed and removed.
    Registered { replaced: Option<Arc<Connection>> },
    /// Not registered: `existing` stays. The caller closes the new connection.
    Rejected { existing: Arc<Connection> },
}

/// Where `Comm::send` should put an envelope.
pub(crate) enum Route {
    Conn(Arc<Connection>, Envelope),
    /// Queued on a dial already in flight.
    Queued,
    /// Queued on a new dial; the caller must start it.
    StartDial,
    /// The dial's queue is full: dropped.
    Overflow,
    Stopping,
}

#[derive(Default)]
struct Inner {
    conns: HashMap<PkiId, Arc<Connection>>,
    dials: HashMap<DialKey, Vec<Envelope>>,
    known_orgs: HashMap<PkiId, OrgId>,
    stopping: bool,
}

#[derive(Default)]
pub(crate) struct ConnStore {
    inner: std::sync::Mutex<Inner>,
}

impl ConnStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (each
        // operation is a single insert/remove), so a poisoned lock is still usable.
        self.inner.locked()
    }

    pub(crate) fn get(&self, pki_id: &PkiId) -> Option<Arc<Connection>> {
        self.lock().conns.get(pki_id).cloned()
    }

    pub(crate) fn connected(&self) -> Vec<PkiId> {
        self.lock().conns.keys().cloned().collect()
    }

    /// Chooses the connection for an envelope, or queues it on a dial (at most `queue_max`).
    pub(crate) fn route(
        &self,
        env: Envelope,
        pki_id: &PkiId,
        endpoint: &str,
        queue_max: usize,
    ) -> Route {
        let mut g = self.lock();
        if g.stopping {
            return Route::Stopping;
        }
        let key = if pki_id.is_empty() {
            // Unknown owner: reuse a stream we dialed to the same endpoint.
            if let Some(c) = g
                .conns
                .values()
                .find(|c| c.direction == Direction::Outbound && c.info.endpoint == endpoint)
            {
                return Route::Conn(c.clone(), env);
            }
            DialKey::Endpoint(endpoint.to_string())
        } else {
            if let Some(c) = g.conns.get(pki_id) {
                return Route::Conn(c.clone(), env);
            }
            DialKey::Pki(pki_id.clone())
        };
        match g.dials.get_mut(&key) {
            Some(q) if q.len() >= queue_max.max(1) => Route::Overflow,
            Some(q) => {
                q.push(env);
                Route::Queued
            }
            None => {
                g.dials.insert(key, vec![env]);
                Route::StartDial
            }
        }
    }

    /// Registers an authenticated connection, applying the one-per-PKI-ID rule.
    /// `window` is how long a connection counts as "just established".
    pub(crate) fn register(
        &self,
        conn: Arc<Connection>,
        self_pki_id: &PkiId,
        org: Option<OrgId>,
        window: Duration,
    ) -> Register {
        register_locked(&mut self.lock(), conn, self_pki_id, org, window)
    }

    /// Registers a dialed connection and, under the same lock (so that nothing sent later
    /// overtakes them), moves the envelopes queued on the dial to whichever connection won.
    pub(crate) fn register_dialed(
        &self,
        conn: Arc<Connection>,
        key: &DialKey,
        self_pki_id: &PkiId,
        org: Option<OrgId>,
        window: Duration,
    ) -> (Register, Flush) {
        let mut g = self.lock();
        let r = register_locked(&mut g, conn.clone(), self_pki_id, org, window);
        let queued = g.dials.remove(key).unwrap_or_default();
        let flush = match &r {
            Register::Registered { .. } => flush_into(queued, Some(&conn)),
            Register::Rejected { existing } if !Arc::ptr_eq(existing, &conn) => {
                flush_into(queued, Some(existing))
            }
            Register::Rejected { .. } => flush_into(queued, None),
        };
        (r, flush)
    }

    /// Ends a failed dial: its queue goes to a connection the remote opened meanwhile, if any.
    /// Returns whether such a connection exists.
    pub(crate) fn fail_dial(&self, key: &DialKey, pki_id: &PkiId) -> (bool, Flush) {
        let mut g = self.lock();
        let queued = g.dials.remove(key).unwrap_or_default();
        let target = if pki_id.is_empty() {
            None
        } else {
            g.conns.get(pki_id).cloned()
        };
        (target.is_some(), flush_into(queued, target.as_deref()))
    }

    /// Removes the connection `id` if it is still the one registered for `pki_id`.
    pub(crate) fn remove_if_current(&self, pki_id: &PkiId, id: u64) -> Option<Arc<Connection>> {
        let mut g = self.lock();
        match g.conns.get(pki_id) {
            Some(c) if c.id == id => g.conns.remove(pki_id),
            _ => None,
        }
    }

    /// Removes whatever connection is registered for `pki_id`.
    pub(crate) fn remove(&self, pki_id: &PkiId) -> Option<Arc<Connection>> {
        self.lock().conns.remove(pki_id)
    }

    /// Remembers the org of a peer learned elsewhere (e.g. from its alive message).
    pub(crate) fn learn_org(&self, pki_id: PkiId, org: OrgId) {
        let mut g = self.lock();
        remember_org(&mut g, pki_id, org);
    }

    pub(crate) fn org_of(&self, pki_id: &PkiId) -> Option<OrgId> {
        self.lock().known_orgs.get(pki_id).cloned()
    }

    /// Refuses new work and hands back every connection and queued envelope count.
    pub(crate) fn shutdown(&self) -> (Vec<Arc<Connection>>, usize) {
        let mut g = self.lock();
        g.stopping = true;
        let conns = g.conns.drain().map(|(_, c)| c).collect();
        let queued = g.dials.drain().map(|(_, q)| q.len()).sum();
        (conns, queued)
    }
}

/// What became of the envelopes queued on a dial.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Flush {
    pub queued: usize,
    pub overflow: usize,
    /// No connection to put them on, or it was closing.
    pub dropped: usize,
}

fn flush_into(queued: Vec<Envelope>, target: Option<&Connection>) -> Flush {
    let mut f = Flush::default();
    for env in queued {
        match target.map(|c| c.try_send(env)) {
            Some(QueueResult::Queued) => f.queued += 1,
            Some(QueueResult::Overflow) => f.overflow += 1,
            Some(QueueResult::Closed) | None => f.dropped += 1,
        }
    }
    f
}

fn remember_org(g: &mut Inner, pki: PkiId, org: OrgId) {
    if g.known_orgs.len() >= KNOWN_ORGS_MAX && !g.known_orgs.contains_key(&pki) {
        // Forget peers we are not connected to; they are re-learned on reconnection.
        let conns = &g.conns;
        let stale: Vec<PkiId> = g
            .known_orgs
            .keys()
            .filter(|k| !conns.contains_key(*k))
            .cloned()
            .collect();
        for k in stale {
            g.known_orgs.remove(&k);
        }
    }
    g.known_orgs.insert(pki, org);
}

fn register_locked(
    g: &mut Inner,
    conn: Arc<Connection>,
    self_pki_id: &PkiId,
    org: Option<OrgId>,
    window: Duration,
) -> Register {
    if g.stopping {
        return Register::Rejected { existing: conn };
    }
    let pki = conn.info.pki_id.clone();
    if let Some(org) = org {
        remember_org(g, pki.clone(), org);
    }
    if let Some(existing) = g.conns.get(&pki).cloned() {
        let young = existing.established.elapsed() < window;
        let we_are_smaller = self_pki_id < &pki;
        let keep_new = match (conn.direction, existing.direction) {
            // Fabric: inbound replaces, except the young stream we dialed when our PKI-ID is
            // the smaller one.
            (Direction::Inbound, Direction::Outbound) => !(young && we_are_smaller),
            (Direction::Inbound, Direction::Inbound) => true,
            // Fabric: a concurrent outbound is discarded, except when we are the smaller
            // PKI-ID and the inbound stream is young.
            (Direction::Outbound, Direction::Inbound) => young && we_are_smaller,
            (Direction::Outbound, Direction::Outbound) => false,
        };
        if !keep_new {
            return Register::Rejected { existing };
        }
        existing.close();
        g.conns.insert(pki, conn);
        return Register::Registered {
            replaced: Some(existing),
        };
    }
    g.conns.insert(pki, conn);
    Register::Registered { replaced: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::conn::Pipe;
    use crate::comm::metrics::CommMetrics;
    use crate::comm::{AuthInfo, ConnectionInfo};

    fn conn(id: u64, pki: &[u8], dir: Direction) -> Arc<Connection> {
        let (pipe, _stream) = Pipe::new(4, Arc::new(CommMetrics::default()));
        let info = ConnectionInfo {
            pki_id: PkiId(pki.to_vec()),
            identity: vec![],
            endpoint: "127.0.0.1:1".into(),
            auth: AuthInfo::default(),
        };
        Arc::new(Connection::new(id, Arc::new(info), dir, pipe))
    }

    fn registered(r: &Register) -> bool {
        matches!(r, Register::Registered { .. })
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn inbound_replaces_an_old_connection() {
        let s = ConnStore::default();
        let me = PkiId(vec![1]);
        assert!(registered(&s.register(
            conn(1, &[9], Direction::Outbound),
            &me,
            None,
            LONG
        )));
        // With a zero window every existing connection is old: Fabric's rule applies.
        let r = s.register(conn(2, &[9], Direction::Inbound), &me, None, Duration::ZERO);
        assert!(registered(&r));
        assert_eq!(s.get(&PkiId(vec![9])).unwrap().id, 2);
        // A later outbound is discarded.
        let r = s.register(
            conn(3, &[9], Direction::Outbound),
            &me,
            None,
            Duration::ZERO,
        );
        assert!(!registered(&r));
        assert_eq!(s.get(&PkiId(vec![9])).unwrap().id, 2);
    }

    #[test]
    fn concurrent_pair_keeps_the_stream_dialed_by_the_smaller_pki_id() {
        // Peer A = [1] dials B = [9] (stream X); B dials A (stream Y). Whatever the order in
        // which each side sees them, both keep X.
        for a_order_x_first in [true, false] {
            let a = ConnStore::default();
            let me = PkiId(vec![1]);
            let x = conn(10, &[9], Direction::Outbound);
            let y = conn(11, &[9], Direction::Inbound);
            if a_order_x_first {
                a.register(x, &me, None, LONG);
                a.register(y, &me, None, LONG);
            } else {
                a.register(y, &me, None, LONG);
                a.register(x, &me, None, LONG);
            }
            assert_eq!(a.get(&PkiId(vec![9])).unwrap().id, 10);
        }
        for b_order_x_first in [true, false] {
            let b = ConnStore::default();
            let me = PkiId(vec![9]);
            let x = conn(10, &[1], Direction::Inbound);
            let y = conn(11, &[1], Direction::Outbound);
            if b_order_x_first {
                b.register(x, &me, None, LONG);
                b.register(y, &me, None, LONG);
            } else {
                b.register(y, &me, None, LONG);
                b.register(x, &me, None, LONG);
            }
            assert_eq!(b.get(&PkiId(vec![1])).unwrap().id, 10);
        }
    }

    #[test]
    fn remove_if_current_leaves_a_replacement_alone() {
        let s = ConnStore::default();
        let me = PkiId(vec![1]);
        s.register(conn(1, &[9], Direction::Inbound), &me, None, LONG);
        s.register(conn(2, &[9], Direction::Inbound), &me, None, LONG);
        assert!(s.remove_if_current(&PkiId(vec![9]), 1).is_none());
        assert!(s.remove_if_current(&PkiId(vec![9]), 2).is_some());
        assert!(s.connected().is_empty());
    }

    #[test]
    fn dial_queue_is_bounded() {
        let s = ConnStore::default();
        let p = PkiId(vec![5]);
        assert!(matches!(
            s.route(Envelope::default(), &p, "e", 2),
            Route::StartDial
        ));
        assert!(matches!(
            s.route(Envelope::default(), &p, "e", 2),
            Route::Queued
        ));
        assert!(matches!(
            s.route(Envelope::default(), &p, "e", 2),
            Route::Overflow
        ));
        let (has_conn, flush) = s.fail_dial(&DialKey::Pki(p.clone()), &p);
        assert!(!has_conn);
        assert_eq!(
            flush,
            Flush {
                queued: 0,
                overflow: 0,
                dropped: 2
            }
        );
        assert!(matches!(
            s.route(Envelope::default(), &p, "e", 2),
            Route::StartDial
        ));
        let (_, queued) = s.shutdown();
        assert_eq!(queued, 1);
        assert!(matches!(
            s.route(Envelope::default(), &p, "e", 2),
            Route::Stopping
        ));
    }
}
