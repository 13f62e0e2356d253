//! LDAP result codes and client errors → [`ConnectorError`], in one table.
//!
//! The server's diagnostic text is kept in the detail (it names the attribute or the rule that
//! failed), prefixed with the operation and the result code's name. Which variant a code maps to
//! follows the host's reaction: retry later, conflict, gone, rejected, timeout, or fix the
//! configuration. `noSuchObject` depends on the operation: for an add it means the *parent* is
//! missing, which is a rejection, not a reason to drop the object from the connector space.

use connector_core::ConnectorError;
use ldap3::{LdapError, LdapResult};

/// The operation a result belongs to, where the mapping depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Bind,
    Search,
    Add,
    Modify,
    Rename,
    Delete,
    Extended,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Bind => "bind",
            Op::Search => "search",
            Op::Add => "add",
            Op::Modify => "modify",
            Op::Rename => "modify DN",
            Op::Delete => "delete",
            Op::Extended => "extended operation",
        }
    }
}

/// The name RFC 4511 gives a result code.
pub fn code_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        81 => "serverDown",
        85 => "timeout",
        122 => "assertionFailed",
        4096 => "e-syncRefreshRequired",
        _ => "unknown result code",
    }
}

/// Maps a non-success result of `op` on `target` (a DN, or empty).
pub fn from_result(op: Op, target: &str, result: &LdapResult) -> ConnectorError {
    let rc = result.rc;
    let mut detail = format!("LDAP {} failed: {} ({rc})", op.name(), code_name(rc));
    if !target.is_empty() {
        detail.push_str(&format!(" on {target}"));
    }
    if !result.text.trim().is_empty() {
        detail.push_str(&format!(": {}", result.text.trim()));
    }
    match rc {
        68 | 20 | 122 => ConnectorError::conflict(detail),
        32 if op == Op::Add => ConnectorError::rejected(format!(
            "{detail} (the parent entry {:?} does not exist; the connector does not create containers)",
            parent_of(target)
        )),
        32 if op == Op::Bind || op == Op::Search && target.is_empty() => {
            ConnectorError::misconfigured(detail)
        }
        32 => ConnectorError::not_found(detail),
        16 | 17 | 18 | 19 | 21 | 34 | 50 | 53 | 64 | 65 | 66 | 67 | 69 | 71 => {
            ConnectorError::rejected(detail)
        }
        7 | 8 | 13 | 48 | 49 => ConnectorError::misconfigured(format!(
            "{detail} (check bind_dn, bind_password, bind_method and TLS)"
        )),
        2 | 4 | 10 | 12 | 54 => ConnectorError::misconfigured(detail),
        4096 => ConnectorError::resync_required(format!(
            "{detail}: the server cannot replay changes since the watermark"
        )),
        3 | 85 => ConnectorError::timeout(detail),
        1 | 11 | 51 | 52 | 80 | 81 => ConnectorError::unavailable(detail),
        _ => ConnectorError::rejected(detail),
    }
}

/// Maps a client-side error (or a result wrapped by ldap3's `success()`).
pub fn from_ldap(op: Op, target: &str, error: LdapError) -> ConnectorError {
    match error {
        LdapError::LdapResult { result } => from_result(op, target, &result),
        LdapError::Timeout { .. } => {
            ConnectorError::timeout(format!("LDAP {} timed out", op.name()))
        }
        LdapError::FilterParsing => ConnectorError::misconfigured(format!(
            "LDAP {} failed: the search filter does not parse (check the object type's filter)",
            op.name()
        )),
        LdapError::Rustls { source } => ConnectorError::misconfigured(format!(
            "TLS with the LDAP server failed: {source} (check tls.ca_file / tls.pinned_sha256 and the server name)"
        )),
        LdapError::Io { source }
            if source
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            ConnectorError::misconfigured(format!(
                "TLS with the LDAP server failed: {source} (check tls.ca_file / tls.pinned_sha256, the server name and the client certificate)"
            ))
        }
        LdapError::DNSName { source } => ConnectorError::misconfigured(format!(
            "the server name cannot be checked against its certificate: {source}"
        )),
        LdapError::UrlParsing { source } => {
            ConnectorError::misconfigured(format!("bad LDAP URL: {source}"))
        }
        LdapError::UnknownScheme(s) => ConnectorError::misconfigured(format!(
            "unknown LDAP URL scheme {s:?}: use ldap:// or ldaps://"
        )),
        other => ConnectorError::unavailable(format!(
            "LDAP {} failed, connection lost: {other}",
            op.name()
        )),
    }
}

fn parent_of(dn: &str) -> String {
    crate::dn::Dn::parse(dn)
        .map(|d| d.parent())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.into(),
            refs: vec![],
            ctrls: vec![],
        }
    }

    fn check(op: Op, rc: u32, expected: fn(&ConnectorError) -> bool) {
        let e = from_result(op, "uid=a,ou=people,dc=x", &result(rc, "server says why"));
        assert!(expected(&e), "{op:?} rc {rc} → {e:?}");
        assert!(e.detail().contains(code_name(rc)), "{e:?}");
    }

    #[test]
    fn result_codes_map_to_the_hosts_reaction() {
        use ConnectorError as E;
        check(Op::Add, 68, |e| matches!(e, E::Conflict { .. }));
        check(Op::Modify, 20, |e| matches!(e, E::Conflict { .. }));
        check(Op::Modify, 32, |e| matches!(e, E::NotFound { .. }));
        check(Op::Delete, 32, |e| matches!(e, E::NotFound { .. }));
        check(Op::Add, 32, |e| {
            matches!(e, E::Rejected { .. }) && e.detail().contains("ou=people,dc=x")
        });
        for rc in [16, 17, 19, 21, 34, 50, 53, 64, 65, 66, 67, 69] {
            check(Op::Modify, rc, |e| {
                matches!(e, E::Rejected { .. }) && e.detail().contains("server says why")
            });
        }
        for rc in [7, 8, 13, 48, 49, 10, 12] {
            check(Op::Bind, rc, |e| matches!(e, E::Misconfigured { .. }));
        }
        for rc in [1, 51, 52, 80, 81] {
            check(Op::Search, rc, |e| matches!(e, E::Unavailable { .. }));
        }
        check(Op::Search, 3, |e| matches!(e, E::Timeout { .. }));
        check(Op::Search, 4096, |e| matches!(e, E::ResyncRequired { .. }));
        check(Op::Modify, 999, |e| matches!(e, E::Rejected { .. }));
    }

    #[test]
    fn client_errors_map_too() {
        let e = from_ldap(Op::Search, "", LdapError::EndOfStream);
        assert!(matches!(e, ConnectorError::Unavailable { .. }), "{e:?}");
        let e = from_ldap(Op::Search, "", LdapError::FilterParsing);
        assert!(matches!(e, ConnectorError::Misconfigured { .. }), "{e:?}");
    }
}
