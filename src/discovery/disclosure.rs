//! Which alive messages may reach which peers across organizations (Fabric's disclosure
//! policy and alive routing, reference §4.5 and §4.7).

/// May an alive about a peer of `alive_org` (external endpoint `alive_endpoint`) be disclosed
/// in a membership response to a peer of `remote_org` (external endpoint `remote_endpoint`)?
/// Requires: the alive's org known ∧ (it is the remote's org ∨ mine) ∧ (it is the remote's org
/// ∨ both the alive and the remote have an external endpoint).
pub fn may_disclose(
    my_org: &str,
    alive_org: &str,
    alive_endpoint: &str,
    remote_org: &str,
    remote_endpoint: &str,
) -> bool {
    if alive_org.is_empty() || remote_org.is_empty() {
        return false;
    }
    let same_as_remote = alive_org == remote_org;
    if !(same_as_remote || alive_org == my_org) {
        return false;
    }
    same_as_remote || (!alive_endpoint.is_empty() && !remote_endpoint.is_empty())
}

/// May an alive be pushed or forwarded to `target`? From my org: wherever it may be disclosed.
/// From a foreign org: only to my org or to its own org, and never to a peer without an
/// external endpoint.
pub fn may_forward(
    my_org: &str,
    alive_org: &str,
    alive_endpoint: &str,
    target_org: &str,
    target_endpoint: &str,
) -> bool {
    if alive_org.is_empty() || target_org.is_empty() {
        return false;
    }
    if alive_org == my_org {
        return may_disclose(
            my_org,
            alive_org,
            alive_endpoint,
            target_org,
            target_endpoint,
        );
    }
    (target_org == my_org || target_org == alive_org) && !target_endpoint.is_empty()
}

/// The secret envelope (internal endpoint) only goes to peers of my own organization.
pub fn keeps_secret(my_org: &str, target_org: &str) -> bool {
    !my_org.is_empty() && my_org == target_org
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_org_is_always_disclosed() {
        assert!(may_disclose("A", "A", "", "A", ""));
        assert!(may_disclose("A", "B", "", "B", ""));
    }

    #[test]
    fn cross_org_needs_both_external_endpoints() {
        assert!(may_disclose("A", "A", "a:1", "B", "b:1"));
        assert!(!may_disclose("A", "A", "", "B", "b:1"));
        assert!(!may_disclose("A", "A", "a:1", "B", ""));
    }

    #[test]
    fn third_org_is_never_disclosed() {
        // An alive of org C, held by a peer of A, goes neither to A's nor to B's peers.
        assert!(!may_disclose("A", "C", "c:1", "B", "b:1"));
        assert!(!may_disclose("A", "C", "c:1", "A", "a:1"));
    }

    #[test]
    fn unknown_org_is_never_disclosed() {
        assert!(!may_disclose("A", "", "x:1", "A", "a:1"));
        assert!(!may_disclose("A", "A", "x:1", "", "a:1"));
    }

    #[test]
    fn foreign_alive_forwarded_to_my_org_or_origin_with_endpoint() {
        assert!(may_forward("A", "B", "b:1", "A", "a:2"));
        assert!(may_forward("A", "B", "b:1", "B", "b:2"));
        assert!(!may_forward("A", "B", "b:1", "A", ""));
        assert!(!may_forward("A", "B", "b:1", "C", "c:1"));
    }

    #[test]
    fn own_org_alive_without_endpoint_stays_in_org() {
        assert!(may_forward("A", "A", "", "A", ""));
        assert!(!may_forward("A", "A", "", "B", "b:1"));
        assert!(may_forward("A", "A", "a:1", "B", "b:1"));
    }

    #[test]
    fn secret_only_for_my_org() {
        assert!(keeps_secret("A", "A"));
        assert!(!keeps_secret("A", "B"));
        assert!(!keeps_secret("", ""));
    }
}
