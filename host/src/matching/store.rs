//! The last matching report of a connector, kept as files: one CSV per list (for a spreadsheet
//! or a script) and `summary.json` with the counts, the rules, the files read and, per list, where
//! every page of [`PAGE_ROWS`] rows starts in its CSV, so the console shows any page of a list of
//! a million rows by one seek.
//!
//! A report is written into a fresh directory and renamed into place when complete, so a reader
//! sees the previous report or the new one, never half of one. Cells that a spreadsheet would
//! run as a formula (starting with `=`, `+`, `@`, or `-` not followed by a number) get a leading
//! `'`, as OWASP advises for CSV files opened in Excel.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::report::{Rule, TargetAccount, Verdict, name};
use super::{EntraUser, MatchError};

/// Rows per page of a list.
pub const PAGE_ROWS: u64 = 100;

/// The lists of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum List {
    /// Target accounts exactly one Entra user matches.
    Exact,
    /// Entra users no target account matches: Entra creates them.
    EntraWithoutTarget,
    /// Target accounts no Entra user matches.
    Orphans,
    /// Target accounts several Entra users match, or that a user matching several accounts
    /// matches: Entra fails those users.
    Several,
}

impl List {
    pub const ALL: [List; 4] = [
        List::Exact,
        List::EntraWithoutTarget,
        List::Orphans,
        List::Several,
    ];

    /// The list's name in URLs and in `summary.json`; the CSV is `<name>.csv`.
    pub fn name(self) -> &'static str {
        match self {
            List::Exact => "exact",
            List::EntraWithoutTarget => "entra-without-target",
            List::Orphans => "orphans",
            List::Several => "several",
        }
    }

    /// The list whose name this is.
    pub fn parse(name: &str) -> Option<List> {
        List::ALL.into_iter().find(|l| l.name() == name)
    }

    /// What the list holds, for people.
    pub fn title(self) -> &'static str {
        match self {
            List::Exact => "Target accounts that match exactly one Entra user",
            List::EntraWithoutTarget => {
                "Entra users with no target account (Entra will create them)"
            }
            List::Orphans => "Target accounts that match no Entra user (orphans)",
            List::Several => {
                "Target accounts that match several Entra users (Entra will fail them)"
            }
        }
    }
}

/// One list in `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ListInfo {
    /// The CSV file, relative to the report directory.
    pub file: String,
    pub rows: u64,
    /// Byte offset of rows 0, `PAGE_ROWS`, 2 × `PAGE_ROWS`, … in the file.
    pub page_offsets: Vec<u64>,
}

/// `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub connector: String,
    /// When the report was made (RFC 3339).
    pub created: String,
    pub entra_files: Vec<String>,
    /// The rules, in precedence order, as `ENTRA=TARGET`.
    pub rules: Vec<String>,
    pub entra_users: u64,
    pub target_accounts: u64,
    /// Entra users that match several target accounts (Entra fails them).
    pub entra_users_failing: u64,
    /// Rows per list, by list name.
    pub lists: BTreeMap<String, ListInfo>,
}

impl Summary {
    /// The rows of a list.
    pub fn count(&self, list: List) -> u64 {
        self.lists.get(list.name()).map_or(0, |l| l.rows)
    }
}

/// A CSV file being written, with its page index.
struct ListFile {
    out: BufWriter<File>,
    at: u64,
    info: ListInfo,
}

impl ListFile {
    fn create(dir: &Path, list: List, header: &[String]) -> Result<ListFile, MatchError> {
        let file = format!("{}.csv", list.name());
        let path = dir.join(&file);
        let out = BufWriter::new(File::create(&path).map_err(MatchError::io(&path))?);
        let mut f = ListFile {
            out,
            at: 0,
            info: ListInfo {
                file,
                ..ListInfo::default()
            },
        };
        f.write_line(header, &path)?;
        Ok(f)
    }

    fn write_line(&mut self, fields: &[String], path: &Path) -> Result<(), MatchError> {
        let mut line = fields.iter().map(|f| cell(f)).collect::<Vec<_>>().join(",");
        line.push_str("\r\n");
        self.out
            .write_all(line.as_bytes())
            .map_err(MatchError::io(path))?;
        self.at += line.len() as u64;
        Ok(())
    }

    fn row(&mut self, fields: &[String], path: &Path) -> Result<(), MatchError> {
        if self.info.rows.is_multiple_of(PAGE_ROWS) {
            self.info.page_offsets.push(self.at);
        }
        self.write_line(fields, path)?;
        self.info.rows += 1;
        Ok(())
    }
}

/// One CSV cell: quoted when it must be, formula starts defused.
fn cell(value: &str) -> String {
    let formula = match value.as_bytes().first() {
        Some(b'=' | b'+' | b'@' | b'\t' | b'\r') => true,
        Some(b'-') => value
            .get(1..)
            .is_none_or(|rest| rest.parse::<f64>().is_err()),
        _ => false,
    };
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) || value.starts_with(' ') || value.ends_with(' ') {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Writes a report into a fresh directory; [`finish`](ReportWriter::finish) puts it in place.
pub struct ReportWriter {
    dir: PathBuf,
    staging: PathBuf,
    rules: Vec<Rule>,
    summary: Summary,
    files: BTreeMap<List, ListFile>,
}

impl ReportWriter {
    /// Starts the report of `connector` that will replace the one in `dir`.
    pub fn create(
        dir: &Path,
        connector: &str,
        entra_files: &[PathBuf],
        rules: &[Rule],
        entra_users: u64,
    ) -> Result<ReportWriter, MatchError> {
        let staging = dir.with_file_name(format!(
            ".{}.new-{}",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("report"),
            std::process::id()
        ));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(MatchError::io(&staging))?;
        }
        std::fs::create_dir_all(&staging).map_err(MatchError::io(&staging))?;
        let target_columns: Vec<String> = rules
            .iter()
            .map(|r| format!("target {}", r.target))
            .collect();
        let entra_columns: Vec<String> =
            rules.iter().map(|r| format!("entra {}", r.entra)).collect();
        let user_columns = [
            "entra objectId",
            "entra userPrincipalName",
            "entra displayName",
        ]
        .map(String::from);
        let headers: [(List, Vec<String>); 4] = [
            (
                List::Exact,
                [
                    "target anchor",
                    "rule",
                    "target value",
                    "entra value",
                    "case differs",
                ]
                .map(String::from)
                .into_iter()
                .chain(user_columns.iter().cloned())
                .collect(),
            ),
            (
                List::EntraWithoutTarget,
                user_columns.iter().cloned().chain(entra_columns).collect(),
            ),
            (
                List::Orphans,
                std::iter::once("target anchor".to_owned())
                    .chain(target_columns.iter().cloned())
                    .collect(),
            ),
            (
                List::Several,
                ["target anchor", "reason", "entra users"]
                    .map(String::from)
                    .into_iter()
                    .chain(target_columns)
                    .collect(),
            ),
        ];
        let mut files = BTreeMap::new();
        for (list, header) in headers {
            files.insert(list, ListFile::create(&staging, list, &header)?);
        }
        Ok(ReportWriter {
            dir: dir.to_owned(),
            staging,
            rules: rules.to_vec(),
            summary: Summary {
                connector: connector.to_owned(),
                created: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                entra_files: entra_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                rules: rules.iter().map(Rule::to_string).collect(),
                entra_users,
                ..Summary::default()
            },
            files,
        })
    }

    fn row(&mut self, list: List, fields: &[String]) -> Result<(), MatchError> {
        let path = self.staging.join(format!("{}.csv", list.name()));
        match self.files.get_mut(&list) {
            Some(f) => f.row(fields, &path),
            None => Ok(()),
        }
    }

    /// Records one target account and what the report says of it.
    pub fn target(&mut self, t: &TargetAccount, verdict: &Verdict<'_>) -> Result<(), MatchError> {
        self.summary.target_accounts += 1;
        let values =
            |t: &TargetAccount| -> Vec<String> { t.values.iter().map(|v| v.join("; ")).collect() };
        match verdict {
            Verdict::Exact {
                user,
                rule,
                target_value,
                case_differs,
            } => {
                let fields: Vec<String> = [
                    t.anchor.clone(),
                    self.rules
                        .get(*rule)
                        .map(Rule::to_string)
                        .unwrap_or_default(),
                    target_value.clone(),
                    user.values
                        .get(*rule)
                        .cloned()
                        .flatten()
                        .unwrap_or_default(),
                    if *case_differs { "yes" } else { "no" }.to_owned(),
                    user.object_id.clone(),
                    user.user_principal_name.clone(),
                    user.display_name.clone(),
                ]
                .into();
                self.row(List::Exact, &fields)
            }
            Verdict::Orphan => {
                let fields: Vec<String> =
                    std::iter::once(t.anchor.clone()).chain(values(t)).collect();
                self.row(List::Orphans, &fields)
            }
            Verdict::Several { reason, users } => {
                let names = users.iter().map(|u| name(u)).collect::<Vec<_>>().join("; ");
                let fields: Vec<String> = [t.anchor.clone(), reason.clone(), names]
                    .into_iter()
                    .chain(values(t))
                    .collect();
                self.row(List::Several, &fields)
            }
        }
    }

    /// Records an Entra user no target account matches.
    pub fn entra_without_target(&mut self, u: &EntraUser) -> Result<(), MatchError> {
        let fields: Vec<String> = [
            u.object_id.clone(),
            u.user_principal_name.clone(),
            u.display_name.clone(),
        ]
        .into_iter()
        .chain(u.values.iter().map(|v| v.clone().unwrap_or_default()))
        .collect();
        self.row(List::EntraWithoutTarget, &fields)
    }

    /// Records how many Entra users match several accounts.
    pub fn entra_failing(&mut self, n: u64) {
        self.summary.entra_users_failing = n;
    }

    /// Completes the files and puts the report in place of the previous one.
    pub fn finish(mut self) -> Result<Summary, MatchError> {
        for (list, mut f) in std::mem::take(&mut self.files) {
            let path = self.staging.join(&f.info.file);
            f.out.flush().map_err(MatchError::io(&path))?;
            f.out.get_ref().sync_all().map_err(MatchError::io(&path))?;
            self.summary.lists.insert(list.name().to_owned(), f.info);
        }
        let summary_path = self.staging.join(SUMMARY);
        let json = serde_json::to_vec_pretty(&self.summary)
            .map_err(|e| MatchError::input(&summary_path, e.to_string()))?;
        std::fs::write(&summary_path, json).map_err(MatchError::io(&summary_path))?;
        let old = self.dir.with_file_name(format!(
            ".{}.old-{}",
            self.dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("report"),
            std::process::id()
        ));
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old).map_err(MatchError::io(&self.dir))?;
        }
        std::fs::rename(&self.staging, &self.dir).map_err(MatchError::io(&self.dir))?;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(MatchError::io(&old))?;
        }
        Ok(self.summary)
    }
}

/// Where the last report of `connector` is kept under the host's data directory.
pub fn report_dir(data_dir: &Path, connector: &str) -> PathBuf {
    data_dir.join("match").join(connector)
}

/// The summary file's name in a report directory.
pub const SUMMARY: &str = "summary.json";

/// The report in `dir`, if one was made.
pub fn read_summary(dir: &Path) -> Result<Option<Summary>, MatchError> {
    let path = dir.join(SUMMARY);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| MatchError::input(&path, format!("not a matching report summary: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(MatchError::io(&path)(e)),
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPage {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows in the whole list.
    pub total: u64,
}

/// Page `page` (from 0) of a list of the report in `dir`.
pub fn read_page(
    dir: &Path,
    summary: &Summary,
    list: List,
    page: u64,
) -> Result<ListPage, MatchError> {
    let info = summary.lists.get(list.name()).cloned().unwrap_or_default();
    let path = dir.join(&info.file);
    let reader = |file: File| {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(file)
    };
    let bad = |e: csv::Error| MatchError::input(&path, e.to_string());
    let open = || File::open(&path).map_err(MatchError::io(&path));
    let header = reader(open()?)
        .records()
        .next()
        .transpose()
        .map_err(bad)?
        .map(|r| r.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    if let Some(offset) = usize::try_from(page)
        .ok()
        .and_then(|p| info.page_offsets.get(p))
    {
        let mut file = open()?;
        file.seek(SeekFrom::Start(*offset))
            .map_err(MatchError::io(&path))?;
        for record in reader(file).records().take(PAGE_ROWS as usize) {
            rows.push(record.map_err(bad)?.iter().map(str::to_owned).collect());
        }
    }
    Ok(ListPage {
        header,
        rows,
        total: info.rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("-12.5"), "-12.5");
        assert_eq!(cell("-cmd"), "'-cmd");
        assert_eq!(cell("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn pages_are_found_by_offset_and_reports_replace_each_other() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("hr");
        let rules = vec![Rule::parse("userPrincipalName=UserName").unwrap()];
        let write = |n: u64, tag: &str| {
            let mut w = ReportWriter::create(&dir, "hr", &[], &rules, 0).unwrap();
            for i in 0..n {
                let t = TargetAccount {
                    anchor: format!("{tag}{i:04}"),
                    values: vec![vec![format!("line\n{i}, \"q\"")]],
                };
                w.target(&t, &Verdict::Orphan).unwrap();
            }
            w.finish().unwrap()
        };
        write(5, "old");
        let summary = write(250, "a");
        assert_eq!(summary.count(List::Orphans), 250);
        assert_eq!(read_summary(&dir).unwrap().unwrap(), summary);
        let page = read_page(&dir, &summary, List::Orphans, 2).unwrap();
        assert_eq!(page.header, ["target anchor", "target UserName"]);
        assert_eq!(page.rows.len(), 50);
        assert_eq!(page.rows[0], ["a0200", "line\n200, \"q\""]);
        assert_eq!(
            read_page(&dir, &summary, List::Orphans, 3)
                .unwrap()
                .rows
                .len(),
            0
        );
        assert_eq!(read_page(&dir, &summary, List::Exact, 0).unwrap().total, 0);
        let leftovers: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the report directory is left");
        assert!(read_summary(&root.path().join("none")).unwrap().is_none());
    }
}
