//! The console's pages, as `maud` templates compiled into the binary: every value is escaped
//! by the template, every link is built with its parts percent-encoded, every list is paged,
//! and every form that changes something carries the session's CSRF token. No script: a page
//! with an import running refreshes itself (`<meta http-equiv="refresh">`).

use maud::{DOCTYPE, Markup, PreEscaped, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use time::OffsetDateTime;

use super::Session;
use super::status::{Certificate, ConnectorStatus, PAGE, Search, SearchResult, Shown, State};
use crate::engine::Runtime;
use crate::matching::{List, ListPage, Summary};
use crate::space::{PendingExport, RunRecord, StoredObject};

/// The console's stylesheet, inlined into every page (the Content-Security-Policy allows exactly
/// this text, by its hash).
pub const CSS: &str = include_str!("console.css");

/// One path segment, percent-encoded.
fn seg(s: &str) -> String {
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `path?k=v&…` with the query encoded.
fn link(path: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in query {
        q.append_pair(k, v);
    }
    format!("{path}?{}", q.finish())
}

fn base(name: &str) -> String {
    format!("/console/c/{}", seg(name))
}

/// `2026-05-01 12:34:56 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `850 ms`, `12.3 s`, `4 min 5 s`, `2 h 3 min`.
pub fn duration(d: time::Duration) -> String {
    let ms = d.whole_milliseconds().max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min {} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {} min", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The frame of every page; `refresh` reloads it every two seconds.
fn layout(title: &str, session: Option<&Session>, refresh: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh { meta http-equiv="refresh" content="2"; }
                title { (title) " · connector-host" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header.top {
                    a.brand href="/console/" { "connector-host" }
                    span.sub { "operations console" }
                    @if let Some(s) = session {
                        form.logout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The tabs of one connector's pages.
fn tabs(name: &str, current: &str) -> Markup {
    let b = base(name);
    let tab = |key: &str, label: &str, href: String| {
        html! { a.tab.current[key == current] href=(href) { (label) } }
    };
    html! {
        nav.tabs {
            a.tab href="/console/" { "Operations" }
            (tab("space", "Connector space", format!("{b}/space")))
            (tab("runs", "Run history", format!("{b}/runs")))
            (tab("pending", "Pending exports", format!("{b}/pending")))
            (tab("match", "Matching report", format!("{b}/match")))
        }
        h1 { "Connector " span.name { (name) } }
    }
}

/// Previous / next links of a paged list.
fn pager(path: &str, query: &[(&str, &str)], page: u64, total: u64, per_page: u64) -> Markup {
    let pages = total.div_ceil(per_page).max(1);
    let at = |p: u64| {
        let p = p.to_string();
        let mut q: Vec<(&str, &str)> = query.to_vec();
        q.push(("page", &p));
        link(path, &q)
    };
    html! {
        p.pager {
            @if page > 1 { a.prev href=(at(page - 1)) { "← Previous" } }
            span { "Page " (number(page)) " of " (number(pages)) " · " (number(total)) " in all" }
            @if page < pages { a.next href=(at(page + 1)) { "Next →" } }
        }
    }
}

/// The login page; `wanted` is the console page to go to afterwards.
pub fn login(error: Option<&str>, wanted: Option<&str>) -> Markup {
    layout(
        "Log in",
        None,
        false,
        html! {
            section.login {
                h1 { "Log in" }
                p { "Enter the host's admin token (" code { "[server] admin_token" } " in the configuration)." }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/console/login" {
                    @if let Some(w) = wanted { input type="hidden" name="next" value=(w); }
                    label for="token" { "Admin token" }
                    input #token type="password" name="token" autocomplete="current-password" required autofocus;
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

/// A page with a title and one message (errors, the disabled console).
pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        None,
        false,
        html! {
            h1 { (title) }
            p.message { (text) }
            p { a href="/console/" { "Back to the console" } }
        },
    )
}

fn run_cell(run: Option<&RunRecord>, class: &str) -> Markup {
    match run {
        None => html! { td.(class) { span.muted { "never" } } },
        Some(r) => {
            let failed = r.outcome.starts_with("failed");
            html! {
                td.(class) data-run-id=(r.id) data-outcome=(r.outcome) {
                    div { (when(r.started)) }
                    @match r.finished {
                        Some(f) => div.muted { "took " (duration(f - r.started)) },
                        None => div.running { "running…" },
                    }
                    @if r.finished.is_some() && !failed {
                        div.stats {
                            span.add title="added" { "+" (number(r.stats.added)) }
                            " "
                            span.upd title="updated" { "~" (number(r.stats.updated)) }
                            " "
                            span.del title="removed" { "−" (number(r.stats.removed)) }
                        }
                    }
                    @if failed { div.error { (r.outcome) } }
                }
            }
        }
    }
}

/// The height class (0 to 8) of a bar for `n` of `peak` (classes, not inline styles: the
/// Content-Security-Policy allows no inline style).
fn bar(n: u64, peak: u64) -> u64 {
    (n * 8).div_ceil(peak.max(1)).min(8)
}

/// The operations page: one card per connector.
pub fn operations(
    session: &Session,
    connectors: &[ConnectorStatus],
    cert: Option<&Certificate>,
) -> Markup {
    let busy = connectors.iter().any(|c| {
        c.running.is_some()
            || c.requested.is_some()
            || matches!(c.state, State::Binding | State::FirstImport)
    });
    layout(
        "Operations",
        Some(session),
        busy,
        html! {
            nav.tabs { a.tab.current href="/console/" { "Operations" } }
            h1 { "Operations" }
            @for c in connectors { (card(session, c, cert)) }
        },
    )
}

fn card(session: &Session, c: &ConnectorStatus, cert: Option<&Certificate>) -> Markup {
    let b = base(&c.name);
    let (state_class, state_text) = match &c.state {
        State::Binding => ("binding", "binding".to_owned()),
        State::NotBound {
            unreachable: true, ..
        } => ("down", "target unreachable".to_owned()),
        State::NotBound { .. } => ("down", "cannot start".to_owned()),
        State::FirstImport => ("importing", "first import running".to_owned()),
        State::Serving => match &c.failure {
            Some(f) if f.unreachable => ("down", "serving · target unreachable".to_owned()),
            _ => ("serving", "serving".to_owned()),
        },
    };
    let bound = matches!(c.state, State::FirstImport | State::Serving);
    let last_minute = c.exports.last().copied().unwrap_or_default();
    let succeeded: u64 = c.exports.iter().map(|m| m.succeeded).sum();
    let failed: u64 = c.exports.iter().map(|m| m.failed).sum();
    let peak = c
        .exports
        .iter()
        .map(|m| m.succeeded + m.failed)
        .max()
        .unwrap_or(0)
        .max(1);
    html! {
        section.card id=(format!("connector-{}", c.name)) data-connector=(c.name) {
            div.head {
                h2 { a href=(format!("{b}/space")) { (c.name) } }
                span.state.(state_class) data-state=(state_class) { (state_text) }
                @if !c.kind.is_empty() { span.muted { (c.kind) } }
                code.endpoint { "/ecma2host_" (c.name) "/scim" }
            }
            @if let State::NotBound { reason, .. } = &c.state { p.error { (reason) } }
            @if let Some(r) = &c.running {
                p.running data-running=(r.kind.as_str()) {
                    (r.kind.as_str()) " import running since " (when(r.started))
                    @if r.object_type.is_some() { " · " (r.describe(OffsetDateTime::now_utc())) }
                }
            }
            @if let Some(k) = c.requested { p.running data-requested=(k.as_str()) { (k.as_str()) " import requested; it starts next" } }
            @if let (Some(f), State::Serving | State::FirstImport) = (&c.failure, &c.state) {
                p.error { "Last import failed at " (when(f.at)) ": " (f.error) }
            }
            @if bound {
                table.imports {
                    thead { tr { th { "Object type" } th { "Objects" } th { "Last full import" } th { "Last delta import" } } }
                    tbody {
                        @for t in &c.types {
                            tr data-object-type=(t.object_type) {
                                td { (t.object_type) }
                                td.num { (number(t.objects)) }
                                (run_cell(t.last_full.as_ref(), "last-full"))
                                (run_cell(t.last_delta.as_ref(), "last-delta"))
                            }
                        }
                    }
                }
            }
            div.facts {
                div {
                    h3 { "Exports per minute" }
                    p data-exports-succeeded=(succeeded) data-exports-failed=(failed) {
                        span.add { (number(succeeded)) " succeeded" } ", " span.del { (number(failed)) " failed" }
                        " in the last " (c.exports.len()) " minutes; this minute " (last_minute.succeeded) " / " (last_minute.failed)
                    }
                    div.bars {
                        @for m in &c.exports {
                            span.minute title=(format!("{}: {} succeeded, {} failed", when(OffsetDateTime::from_unix_timestamp(m.start).unwrap_or(OffsetDateTime::UNIX_EPOCH)), m.succeeded, m.failed)) {
                                span.bar.bad.(format!("h{}", bar(m.failed, peak))) {}
                                span.bar.ok.(format!("h{}", bar(m.succeeded, peak))) {}
                            }
                        }
                    }
                }
                div {
                    h3 { "Pending exports" }
                    p { a href=(format!("{b}/pending")) data-pending=(c.pending) { (number(c.pending)) " waiting" } }
                }
                div {
                    h3 { "Endpoint certificate" }
                    @match cert {
                        Some(cert) => p.(if cert.days_left < 30 { "error" } else { "" }) title=(cert.subject) {
                            "expires " (when(cert.not_after)) " (" (cert.days_left) " days)"
                        },
                        None => p.muted { "unknown" },
                    }
                }
                div {
                    h3 { "Schedule" }
                    p {
                        @if let Some(f) = &c.full_every { "full every " (f) }
                        @if let Some(d) = &c.delta_every { ", delta every " (d) }
                    }
                }
            }
            @if bound {
                div.actions {
                    form method="post" action=(format!("{b}/import")) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="kind" value="full";
                        button.run-full type="submit" { "Run full import" }
                    }
                    @if c.delta_supported {
                        form method="post" action=(format!("{b}/import")) {
                            input type="hidden" name="csrf" value=(session.csrf);
                            input type="hidden" name="kind" value="delta";
                            button.run-delta type="submit" { "Run delta import" }
                        }
                    }
                    a href=(format!("{b}/space")) { "Connector space" }
                    a href=(format!("{b}/runs")) { "Run history" }
                    a href=(format!("{b}/match")) { "Matching report" }
                }
            }
        }
    }
}

/// The attributes shown as columns of a result list.
fn columns(result: &SearchResult) -> Vec<String> {
    result.indexed.iter().take(4).cloned().collect()
}

fn values(s: &StoredObject, attribute: &str) -> String {
    s.object
        .values(attribute)
        .iter()
        .map(|v| v.to_text())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The connector space: search forms and one page of objects.
pub fn space(session: &Session, rt: &Runtime, r: &SearchResult) -> Markup {
    let name = &rt.name;
    let b = base(name);
    let types = super::status::object_types(rt);
    let (attr, value, filter) = match &r.search {
        Search::Attribute { attribute, value } => (attribute.as_str(), value.as_str(), ""),
        Search::Filter(f) => ("anchor", "", f.as_str()),
        Search::All => ("anchor", "", ""),
    };
    let mut query: Vec<(&str, &str)> = vec![("type", &r.object_type)];
    match &r.search {
        Search::Attribute { attribute, value } => {
            query.push(("attr", attribute));
            query.push(("value", value));
        }
        Search::Filter(f) => query.push(("filter", f)),
        Search::All => {}
    }
    let cols = columns(r);
    layout(
        "Connector space",
        Some(session),
        false,
        html! {
            (tabs(name, "space"))
            div.searches {
                form.search method="get" action=(format!("{b}/space")) {
                    h3 { "Find by attribute" }
                    @if types.len() > 1 {
                        select name="type" aria-label="Object type" {
                            @for t in &types { option value=(t) selected[*t == r.object_type] { (t) } }
                        }
                    } @else { input type="hidden" name="type" value=(r.object_type); }
                    select name="attr" aria-label="Attribute" {
                        option value="anchor" selected[attr == "anchor"] { "anchor" }
                        option value="dn" selected[attr == "dn"] { "DN" }
                        @for a in &r.indexed { option value=(a) selected[attr == a] { (a) } }
                    }
                    input type="search" name="value" value=(value) placeholder="value" aria-label="Value";
                    button type="submit" { "Search" }
                }
                form.search method="get" action=(format!("{b}/space")) {
                    h3 { "SCIM filter" }
                    input type="hidden" name="type" value=(r.object_type);
                    input.wide type="search" name="filter" value=(filter) placeholder="userName eq \"ada@contoso.com\"" aria-label="SCIM filter";
                    button type="submit" { "Search" }
                }
            }
            @if let Some(e) = &r.error { p.error role="alert" { (e) } }
            p.muted {
                @match &r.search {
                    Search::All => { "All " (r.object_type) " objects, in anchor order." }
                    Search::Attribute { attribute, value } => { (r.object_type) " objects whose " (attribute) " is “" (value) "”." }
                    Search::Filter(f) => { (r.object_type) " objects matching " code { (f) } "." }
                }
            }
            table.results {
                thead { tr {
                    th { "Anchor" } th { "DN" }
                    @for c in &cols { th { (c) } }
                    th { "Origin" } th { "Modified" }
                } }
                tbody {
                    @for s in &r.objects {
                        tr {
                            td { a.object href=(link(&format!("{b}/object"), &[("type", &r.object_type), ("anchor", s.object.anchor.as_str())])) { (s.object.anchor.as_str()) } }
                            td { (s.object.dn.as_deref().unwrap_or("")) }
                            @for c in &cols { td { (values(s, c)) } }
                            td { (format!("{:?}", s.origin).to_lowercase()) }
                            td { (when(s.modified)) }
                        }
                    }
                    @if r.objects.is_empty() { tr { td.muted colspan=(cols.len() + 4) { "Nothing found." } } }
                }
            }
            (pager(&format!("{b}/space"), &query, r.page, r.total, PAGE))
        },
    )
}

/// One object: everything the space holds about it, and the SCIM resource clients get.
pub fn object(session: &Session, rt: &Runtime, shown: &Shown) -> Markup {
    let s = &shown.stored;
    let id = shown
        .resource
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let resource = serde_json::to_string_pretty(&shown.resource).unwrap_or_default();
    layout(
        "Object",
        Some(session),
        false,
        html! {
            (tabs(&rt.name, "space"))
            h2.object-title { (s.object.object_type) " " span.name { (s.object.anchor.as_str()) } }
            table.fields {
                tr { th { "Anchor" } td #anchor { (s.object.anchor.as_str()) } }
                tr { th { "DN" } td #dn { (s.object.dn.as_deref().unwrap_or("—")) } }
                tr { th { "SCIM id" } td #scim-id { (id) } }
                tr { th { "Object type" } td { (s.object.object_type) } }
                tr { th { "Origin" } td #origin { (format!("{:?}", s.origin).to_lowercase()) } }
                tr { th { "Created" } td { (when(s.created)) } }
                tr { th { "Modified" } td { (when(s.modified)) } }
                tr { th { "Version" } td #version { (s.version) } }
            }
            h3 { "Attributes" }
            table.fields.attributes {
                @for (attribute, vals) in &s.object.attributes {
                    @if !shown.secrets.contains(attribute) {
                        tr {
                            th { (attribute) }
                            td { @for v in vals { @if v.as_secret().is_none() { div { (v.to_text()) } } } }
                        }
                    }
                }
            }
            h3 { "As SCIM clients see it" }
            pre.json { (resource) }
        },
    )
}

/// The run history, newest first.
pub fn runs(session: &Session, name: &str, page: u64, total: u64, runs: &[RunRecord]) -> Markup {
    let b = base(name);
    layout(
        "Run history",
        Some(session),
        runs.iter().any(|r| r.finished.is_none()),
        html! {
            (tabs(name, "runs"))
            table.runs {
                thead { tr {
                    th { "Run" } th { "Kind" } th { "Object type" } th { "Started" } th { "Duration" }
                    th { "Outcome" } th { "Added" } th { "Updated" } th { "Unchanged" } th { "Removed" }
                    th { "Host" }
                } }
                tbody {
                    @for r in runs {
                        @let failed = r.outcome.starts_with("failed");
                        tr.failed[failed] data-run-id=(r.id) {
                            td.num { (r.id) }
                            td { (r.kind) }
                            td { (r.object_type) }
                            td { (when(r.started)) }
                            td { @if let Some(f) = r.finished { (duration(f - r.started)) } @else { "running" } }
                            td.outcome { (r.outcome) }
                            td.num { (number(r.stats.added)) }
                            td.num { (number(r.stats.updated)) }
                            td.num { (number(r.stats.unchanged)) }
                            td.num { (number(r.stats.removed)) }
                            td.host { (r.host.as_deref().unwrap_or("")) }
                        }
                        @if let Some(notes) = &r.notes {
                            tr.notes { td {} td colspan="10" { @for line in notes.lines() { div { (line) } } } }
                        }
                    }
                    @if runs.is_empty() { tr { td.muted colspan="11" { "No import has run yet." } } }
                }
            }
            (pager(&format!("{b}/runs"), &[], page, total, PAGE))
        },
    )
}

/// The pending exports, oldest first.
pub fn pending(
    session: &Session,
    name: &str,
    page: u64,
    total: u64,
    list: &[PendingExport],
) -> Markup {
    let b = base(name);
    layout(
        "Pending exports",
        Some(session),
        false,
        html! {
            (tabs(name, "pending"))
            p.muted { "Exports the target accepted but queued (an approval, say). An import confirms or ends each one." }
            table.results {
                thead { tr { th { "Anchor" } th { "Object type" } th { "Waiting for" } th { "Since" } } }
                tbody {
                    @for p in list {
                        tr {
                            td { a href=(link(&format!("{b}/object"), &[("type", &p.object.object.object_type), ("anchor", p.object.object.anchor.as_str())])) { (p.object.object.anchor.as_str()) } }
                            td { (p.object.object.object_type) }
                            td { (p.detail) }
                            td { (when(p.since)) }
                        }
                    }
                    @if list.is_empty() { tr { td.muted colspan="4" { "No export is pending." } } }
                }
            }
            (pager(&format!("{b}/pending"), &[], page, total, PAGE))
        },
    )
}

/// When a report was made, from its RFC 3339 time.
fn made(created: &str) -> String {
    OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        .map(when)
        .unwrap_or_else(|_| created.to_owned())
}

/// The last part of a path.
fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The last matching report, one list at a time.
pub fn matching(
    session: &Session,
    name: &str,
    list: List,
    page: u64,
    report: Option<&(Summary, ListPage)>,
) -> Markup {
    let b = base(name);
    layout(
        "Matching report",
        Some(session),
        false,
        html! {
            (tabs(name, "match"))
            @match report {
                None => {
                    p { "No matching report yet. Make one on the host, e.g.:" }
                    pre { "connector-host match " (name) " --entra users.csv --on userPrincipalName=UserName" }
                    p.muted { "with the CSV the Entra admin center downloads (Users › All users › Download users) or Graph GET /users pages saved as JSON." }
                }
                Some((summary, rows)) => {
                    p.muted {
                        "Made " (made(&summary.created)) " from "
                        @for (i, f) in summary.entra_files.iter().enumerate() {
                            @if i > 0 { ", " }
                            span title=(f) { (file_name(f)) }
                        }
                        "; rules, first match wins: " (summary.rules.join(", then "))
                        "; " (number(summary.entra_users)) " Entra users, " (number(summary.target_accounts)) " target accounts."
                    }
                    div.counts {
                        @for l in List::ALL {
                            a.count.current[l == list] href=(link(&format!("{b}/match"), &[("list", l.name())])) data-list=(l.name()) {
                                span.n { (number(summary.count(l))) }
                                span.label { (l.title()) }
                            }
                        }
                    }
                    @if summary.entra_users_failing > 0 {
                        p.error { (number(summary.entra_users_failing)) " Entra users match several target accounts; Entra will fail them." }
                    }
                    h2 { (list.title()) }
                    p { a href=(format!("{b}/match/{}.csv", list.name())) { "Download " (list.name()) ".csv" } }
                    div.scroll {
                        table.results.report {
                            thead { tr { @for h in &rows.header { th { (h) } } } }
                            tbody {
                                @for row in &rows.rows { tr { @for cell in row { td { (cell) } } } }
                                @if rows.rows.is_empty() { tr { td.muted colspan=(rows.header.len().max(1)) { "None." } } }
                            }
                        }
                    }
                    (pager(&format!("{b}/match"), &[("list", list.name())], page, rows.total, crate::matching::store::PAGE_ROWS))
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_links_encoded() {
        let page = message("<script>", "a & b \"c\"");
        let text = page.into_string();
        assert!(!text.contains("<script>"), "{text}");
        assert!(text.contains("&lt;script&gt;"));
        assert_eq!(
            link("/console/c/hr/object", &[("anchor", "a&b=c d/é")]),
            "/console/c/hr/object?anchor=a%26b%3Dc+d%2F%C3%A9"
        );
        assert_eq!(base("h r/x"), "/console/c/h%20r%2Fx");
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(number(1_234_567), "1,234,567");
        assert_eq!(number(12), "12");
        assert_eq!(duration(time::Duration::milliseconds(850)), "850 ms");
        assert_eq!(duration(time::Duration::milliseconds(12_345)), "12.3 s");
        assert_eq!(duration(time::Duration::seconds(245)), "4 min 5 s");
        assert_eq!(duration(time::Duration::minutes(123)), "2 h 3 min");
        let t = OffsetDateTime::from_unix_timestamp(0).unwrap();
        assert_eq!(when(t), "1970-01-01 00:00:00 UTC");
    }
}
