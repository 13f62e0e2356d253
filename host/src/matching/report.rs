//! The matching rules and what they decide, the way Entra's provisioning service does: for each
//! Entra user, the rules are tried in order of precedence; a rule whose Entra attribute is empty
//! is skipped, a rule that finds no target account passes to the next, and the first rule that
//! finds anything decides: one account is a match, several are an error (Entra fails the user).
//! A user no rule matches is one Entra will create.
//!
//! Target accounts are streamed twice, so a report over a million accounts holds only the Entra
//! users and a count per user and rule: the first pass ([`Matcher::count`]) counts, per user
//! and rule, the accounts the rule finds; the second ([`Decided::classify`]) says of each
//! account whether exactly one user matched it, none (an orphan) or several.
//!
//! Values compare as the connector space's index compares them, which is how the host answers
//! Entra's `filter=… eq "…"`: lower-cased unless the target attribute is case-exact.

use std::collections::HashMap;

use super::{EntraUser, MatchError};

/// One matching rule: an Entra attribute and the target attribute it must equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The Entra attribute, e.g. `userPrincipalName`.
    pub entra: String,
    /// The target attribute as given, e.g. `UserName`.
    pub target: String,
    /// Whether target values compare case-sensitively.
    pub case_exact: bool,
}

impl Rule {
    /// Parses `ENTRA=TARGET`, e.g. `userPrincipalName=UserName`.
    pub fn parse(text: &str) -> Result<Rule, MatchError> {
        match text.split_once('=') {
            Some((e, t)) if !e.trim().is_empty() && !t.trim().is_empty() => Ok(Rule {
                entra: e.trim().to_owned(),
                target: t.trim().to_owned(),
                case_exact: false,
            }),
            _ => Err(MatchError::Rule(format!(
                "a matching rule is ENTRA_ATTRIBUTE=TARGET_ATTRIBUTE, e.g. userPrincipalName=UserName; got {text:?}"
            ))),
        }
    }

    fn normalise(&self, value: &str) -> String {
        if self.case_exact {
            value.to_owned()
        } else {
            value.to_lowercase()
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.entra, self.target)
    }
}

/// One target account: its anchor and, per rule, the values of the rule's target attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAccount {
    pub anchor: String,
    pub values: Vec<Vec<String>>,
}

/// What the rules decided for one Entra user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// No rule found an account: Entra creates the user.
    NoTarget,
    /// Rule `rule` found exactly one account.
    Single { rule: usize },
    /// Rule `rule` found `count` accounts: Entra fails the user.
    Several { rule: usize, count: u64 },
}

/// Users by normalised value, per rule.
type ValueIndex = Vec<HashMap<String, Vec<u32>>>;

/// The first pass: counts, per Entra user and rule, the target accounts the rule finds.
pub struct Matcher<'a> {
    users: &'a [EntraUser],
    rules: &'a [Rule],
    by_value: ValueIndex,
    /// `counts[user * rules + rule]`.
    counts: Vec<u64>,
}

impl<'a> Matcher<'a> {
    /// Indexes the users' values of each rule.
    pub fn new(users: &'a [EntraUser], rules: &'a [Rule]) -> Matcher<'a> {
        let mut by_value: ValueIndex = vec![HashMap::new(); rules.len()];
        for (i, u) in users.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            for ((rule, map), value) in rules.iter().zip(by_value.iter_mut()).zip(&u.values) {
                if let Some(v) = value {
                    map.entry(rule.normalise(v)).or_default().push(i);
                }
            }
        }
        Matcher {
            users,
            rules,
            by_value,
            counts: vec![0; users.len() * rules.len()],
        }
    }

    /// Counts one target account for every (user, rule) it matches (once, even when several of
    /// its values match).
    pub fn count(&mut self, target: &TargetAccount) {
        let mut hits = hits(self.rules, &self.by_value, target);
        hits.sort_unstable();
        hits.dedup_by_key(|h| (h.0, h.1));
        for (user, rule, _) in hits {
            if let Some(c) = self.counts.get_mut(user as usize * self.rules.len() + rule) {
                *c += 1;
            }
        }
    }

    /// Decides each user: the first rule that found anything.
    pub fn decide(self) -> Decided<'a> {
        let n = self.rules.len();
        let decisions = (0..self.users.len())
            .map(|u| {
                (0..n)
                    .find_map(|r| match self.counts.get(u * n + r).copied().unwrap_or(0) {
                        0 => None,
                        1 => Some(Decision::Single { rule: r }),
                        count => Some(Decision::Several { rule: r, count }),
                    })
                    .unwrap_or(Decision::NoTarget)
            })
            .collect();
        Decided {
            users: self.users,
            rules: self.rules,
            by_value: self.by_value,
            decisions,
        }
    }
}

/// (user, rule, the target value that matched) for every user value one account matches.
fn hits<'t>(
    rules: &[Rule],
    by_value: &ValueIndex,
    target: &'t TargetAccount,
) -> Vec<(u32, usize, &'t str)> {
    let mut out = Vec::new();
    for (r, (rule, values)) in rules.iter().zip(&target.values).enumerate() {
        let Some(map) = by_value.get(r) else { continue };
        for v in values {
            if let Some(users) = map.get(&rule.normalise(v)) {
                out.extend(users.iter().map(|u| (*u, r, v.as_str())));
            }
        }
    }
    out
}

/// What the report says of one target account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Exactly one Entra user matches it, and that user matches nothing else.
    Exact {
        user: &'a EntraUser,
        rule: usize,
        target_value: String,
        /// The Entra value differs from the target value in case only.
        case_differs: bool,
    },
    /// No Entra user matches it: Entra leaves it alone.
    Orphan,
    /// Several Entra users match it, or an Entra user that matches it also matches other
    /// accounts: Entra fails those users.
    Several {
        reason: String,
        users: Vec<&'a EntraUser>,
    },
}

/// The second pass: each user's decision.
pub struct Decided<'a> {
    users: &'a [EntraUser],
    rules: &'a [Rule],
    by_value: ValueIndex,
    decisions: Vec<Decision>,
}

impl<'a> Decided<'a> {
    /// Classifies one target account.
    pub fn classify(&self, target: &TargetAccount) -> Verdict<'a> {
        let mut single: Vec<(u32, usize, &str)> = Vec::new();
        let mut ambiguous: Vec<(u32, u64)> = Vec::new();
        for (u, r, value) in hits(self.rules, &self.by_value, target) {
            match self.decisions.get(u as usize) {
                Some(Decision::Single { rule }) if *rule == r => single.push((u, r, value)),
                Some(Decision::Several { rule, count }) if *rule == r => {
                    ambiguous.push((u, *count))
                }
                _ => {}
            }
        }
        single.sort_unstable_by_key(|s| s.0);
        single.dedup_by_key(|s| s.0);
        ambiguous.sort_unstable();
        ambiguous.dedup();
        let user = |u: u32| self.users.get(u as usize);
        match (single.as_slice(), ambiguous.as_slice()) {
            ([], []) => Verdict::Orphan,
            ([(u, r, value)], []) => match user(*u) {
                Some(entra) => {
                    let entra_value = entra.values.get(*r).cloned().flatten().unwrap_or_default();
                    Verdict::Exact {
                        user: entra,
                        rule: *r,
                        target_value: (*value).to_owned(),
                        case_differs: entra_value != *value,
                    }
                }
                None => Verdict::Orphan,
            },
            _ => {
                let mut reasons = Vec::new();
                if single.len() > 1 {
                    reasons.push(format!("{} Entra users match this account", single.len()));
                }
                for (u, count) in &ambiguous {
                    if let Some(entra) = user(*u) {
                        reasons.push(format!(
                            "Entra user {} matches {count} target accounts",
                            name(entra)
                        ));
                    }
                }
                let users = single
                    .iter()
                    .map(|s| s.0)
                    .chain(ambiguous.iter().map(|a| a.0))
                    .filter_map(user)
                    .collect();
                Verdict::Several {
                    reason: reasons.join("; "),
                    users,
                }
            }
        }
    }

    /// The Entra users no rule matched: Entra will create them.
    pub fn without_target(&self) -> impl Iterator<Item = &'a EntraUser> + '_ {
        self.users
            .iter()
            .zip(&self.decisions)
            .filter(|(_, d)| **d == Decision::NoTarget)
            .map(|(u, _)| u)
    }

    /// How many Entra users match several target accounts (Entra fails them).
    pub fn failing(&self) -> u64 {
        self.decisions
            .iter()
            .filter(|d| matches!(d, Decision::Several { .. }))
            .count() as u64
    }
}

/// How a user is named in a reason: the UPN, else the object id.
pub fn name(u: &EntraUser) -> &str {
    if u.user_principal_name.is_empty() {
        &u.object_id
    } else {
        &u.user_principal_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(upn: &str, mail: Option<&str>) -> EntraUser {
        EntraUser {
            object_id: format!("id-{upn}"),
            user_principal_name: upn.into(),
            display_name: upn.into(),
            values: vec![Some(upn.into()), mail.map(str::to_owned)],
        }
    }

    fn target(anchor: &str, name: &[&str], mail: &[&str]) -> TargetAccount {
        TargetAccount {
            anchor: anchor.into(),
            values: vec![
                name.iter().map(|s| (*s).to_owned()).collect(),
                mail.iter().map(|s| (*s).to_owned()).collect(),
            ],
        }
    }

    /// Runs both passes over `targets`; returns each target's verdict in short form and the
    /// UPNs without a target.
    fn check(users: &[EntraUser], targets: &[TargetAccount], expected: &[&str], without: &[&str]) {
        let rules = vec![
            Rule::parse("userPrincipalName=UserName").unwrap(),
            Rule::parse("mail=Mail").unwrap(),
        ];
        let mut m = Matcher::new(users, &rules);
        for t in targets {
            m.count(t);
        }
        let d = m.decide();
        let got: Vec<String> = targets
            .iter()
            .map(|t| match d.classify(t) {
                Verdict::Exact {
                    user,
                    rule,
                    case_differs,
                    ..
                } => format!(
                    "{} exact {} rule {rule}{}",
                    t.anchor,
                    user.user_principal_name,
                    if case_differs { " case" } else { "" }
                ),
                Verdict::Orphan => format!("{} orphan", t.anchor),
                Verdict::Several { users, .. } => format!(
                    "{} several {}",
                    t.anchor,
                    users
                        .iter()
                        .map(|u| u.user_principal_name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            })
            .collect();
        assert_eq!(got, expected);
        let none: Vec<&str> = d
            .without_target()
            .map(|u| u.user_principal_name.as_str())
            .collect();
        assert_eq!(none, without);
    }

    #[test]
    fn first_rule_that_finds_anything_decides() {
        let ada = user("ada@x", Some("ada@mail"));
        let bob = user("bob@x", Some("bob@mail"));
        let cy = user("cy@x", Some("cy@mail"));
        let dee = user("dee@x", None);
        check(
            &[ada.clone(), bob.clone(), cy.clone(), dee.clone()],
            &[
                target("t1", &["ADA@x"], &[]),           // rule 0, case differs
                target("t2", &["other"], &["bob@mail"]), // rule 1 after rule 0 found nothing
                target("t3", &["zed"], &["ada@mail"]),   // ada decided by rule 0: not hers
                target("t4", &["cy@x"], &[]),            // cy matches two accounts
                target("t5", &["cy@x", "CY@X"], &[]),
            ],
            &[
                "t1 exact ada@x rule 0 case",
                "t2 exact bob@x rule 1",
                "t3 orphan",
                "t4 several cy@x",
                "t5 several cy@x",
            ],
            &["dee@x"],
        );
    }

    #[test]
    fn an_account_several_users_match_is_several() {
        let a = user("a@x", Some("shared@mail"));
        let b = user("b@x", Some("shared@mail"));
        check(
            &[a, b],
            &[target("t1", &[], &["shared@mail"])],
            &["t1 several a@x,b@x"],
            &[],
        );
    }

    #[test]
    fn rules_parse() {
        assert!(Rule::parse("userPrincipalName").is_err());
        assert!(Rule::parse("=UserName").is_err());
        let r = Rule::parse(" mail = Email ").unwrap();
        assert_eq!((r.entra.as_str(), r.target.as_str()), ("mail", "Email"));
        assert_eq!(r.to_string(), "mail=Email");
    }
}
