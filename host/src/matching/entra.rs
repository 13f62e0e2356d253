//! Reading the users of an Entra export: the CSV the Entra admin center downloads (Users → All
//! users → Download users: a header row of attribute names such as `userPrincipalName`,
//! `displayName`, `objectId`, `mail`, …), or the JSON of Microsoft Graph `GET /users` saved page
//! by page (`{"value": [...], "@odata.nextLink": "…"}`), or a plain JSON array of users.
//!
//! Attribute names are matched without regard to case or spaces (`User principal name` is
//! `userPrincipalName`), `objectId` and `id` name the same thing, and a JSON attribute may be
//! a dotted path into an object (`onPremisesExtensionAttributes.extensionAttribute1`). The same
//! user given twice (a page saved twice) counts once.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::MatchError;

/// One user of an Entra export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraUser {
    /// The object id (`objectId` in the CSV, `id` in Graph); empty if the export has none.
    pub object_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    /// The values of the attributes asked for, in their order; `None` when empty or absent.
    pub values: Vec<Option<String>>,
}

/// Reads the users of every file (CSV or JSON, told apart by their first character), with the
/// values of `attributes`. Fails on a file that is neither, an attribute no file has, and a set
/// of Graph pages whose last page is missing (every page still has an `@odata.nextLink`).
pub fn read_users(files: &[PathBuf], attributes: &[String]) -> Result<Vec<EntraUser>, MatchError> {
    let mut users = Vec::new();
    let mut pages = Pages::default();
    let mut seen_attribute = vec![false; attributes.len()];
    for path in files {
        let mut reader = BufReader::new(File::open(path).map_err(MatchError::io(path))?);
        skip_bom(&mut reader, path)?;
        let first = reader
            .fill_buf()
            .map_err(MatchError::io(path))?
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .copied();
        match first {
            Some(b'{' | b'[') => read_json(
                path,
                reader,
                attributes,
                &mut users,
                &mut pages,
                &mut seen_attribute,
            )?,
            Some(_) => read_csv(path, reader, attributes, &mut users, &mut seen_attribute)?,
            None => return Err(MatchError::input(path, "the file is empty")),
        }
    }
    if pages.count > 0 && pages.last_pages == 0 {
        return Err(MatchError::Rule(format!(
            "every Graph page given ({}) has an @odata.nextLink, so the last page is missing: save each page until one comes without @odata.nextLink, and give them all",
            pages.count
        )));
    }
    if let Some((name, _)) = attributes
        .iter()
        .zip(&seen_attribute)
        .find(|(_, seen)| !**seen)
    {
        return Err(MatchError::Rule(format!(
            "no user in the Entra export has the attribute {name:?} (Graph returns only the properties a $select names; the admin center's CSV has a fixed set of columns)"
        )));
    }
    let mut ids = HashSet::new();
    users.retain(|u| u.object_id.is_empty() || ids.insert(u.object_id.clone()));
    Ok(users)
}

/// Graph pages seen, and how many of them had no `@odata.nextLink` (a last page).
#[derive(Default)]
struct Pages {
    count: usize,
    last_pages: usize,
}

fn skip_bom(reader: &mut BufReader<File>, path: &Path) -> Result<(), MatchError> {
    let buf = reader.fill_buf().map_err(MatchError::io(path))?;
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        reader.consume(3);
    }
    Ok(())
}

/// An attribute name as compared: lower case, without spaces, `objectid` for `id`.
fn key(name: &str) -> String {
    let k: String = name
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if k == "id" { "objectid".into() } else { k }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn read_csv(
    path: &Path,
    reader: impl Read,
    attributes: &[String],
    users: &mut Vec<EntraUser>,
    seen: &mut [bool],
) -> Result<(), MatchError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let bad = |e: csv::Error| {
        MatchError::input(
            path,
            format!("not a CSV file the way the Entra admin center writes one: {e}"),
        )
    };
    let mut records = csv.records();
    let mut header = match records.next() {
        Some(r) => r.map_err(bad)?,
        None => return Err(MatchError::input(path, "the CSV file has no header row")),
    };
    // A bulk-operation template starts with a `version:v1.0` line before the header.
    if header.len() == 1 && header.get(0).is_some_and(|h| h.starts_with("version:")) {
        header = match records.next() {
            Some(r) => r.map_err(bad)?,
            None => return Err(MatchError::input(path, "the CSV file has no header row")),
        };
    }
    let columns: Vec<String> = header.iter().map(key).collect();
    let column = |name: &str| columns.iter().position(|c| *c == key(name));
    let wanted: Vec<Option<usize>> = attributes.iter().map(|a| column(a)).collect();
    for (s, w) in seen.iter_mut().zip(&wanted) {
        *s |= w.is_some();
    }
    let (id, upn, display) = (
        column("objectId"),
        column("userPrincipalName"),
        column("displayName"),
    );
    let field = |r: &csv::StringRecord, at: Option<usize>| {
        at.and_then(|i| r.get(i)).unwrap_or_default().to_owned()
    };
    for record in records {
        let r = record.map_err(bad)?;
        if r.iter().all(str::is_empty) {
            continue;
        }
        users.push(EntraUser {
            object_id: field(&r, id),
            user_principal_name: field(&r, upn),
            display_name: field(&r, display),
            values: wanted
                .iter()
                .map(|w| w.and_then(|i| r.get(i)).and_then(non_empty))
                .collect(),
        });
    }
    Ok(())
}

fn read_json(
    path: &Path,
    reader: impl Read,
    attributes: &[String],
    users: &mut Vec<EntraUser>,
    pages: &mut Pages,
    seen: &mut [bool],
) -> Result<(), MatchError> {
    let doc: Value = serde_json::from_reader(reader)
        .map_err(|e| MatchError::input(path, format!("not valid JSON: {e}")))?;
    let list = match &doc {
        Value::Object(page) => {
            let Some(Value::Array(list)) = page.get("value") else {
                return Err(MatchError::input(
                    path,
                    "a JSON object without a \"value\" array: expected a page of Graph GET /users",
                ));
            };
            pages.count += 1;
            if !page.get("@odata.nextLink").is_some_and(Value::is_string) {
                pages.last_pages += 1;
            }
            list
        }
        Value::Array(list) => list,
        _ => {
            return Err(MatchError::input(
                path,
                "expected a page of Graph GET /users or an array of users",
            ));
        }
    };
    for (i, user) in list.iter().enumerate() {
        let Value::Object(_) = user else {
            return Err(MatchError::input(
                path,
                format!("user #{} is not a JSON object", i + 1),
            ));
        };
        let text = |name: &str| -> Result<Option<String>, MatchError> {
            match lookup(user, name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(non_empty(s)),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
                Some(_) => Err(MatchError::input(
                    path,
                    format!(
                        "user #{}: {name} holds several values or an object; a matching attribute must hold one value",
                        i + 1
                    ),
                )),
            }
        };
        let mut values = Vec::with_capacity(attributes.len());
        for (a, s) in attributes.iter().zip(seen.iter_mut()) {
            *s |= lookup(user, a).is_some();
            values.push(text(a)?);
        }
        users.push(EntraUser {
            object_id: text("id")?.unwrap_or_default(),
            user_principal_name: text("userPrincipalName")?.unwrap_or_default(),
            display_name: text("displayName")?.unwrap_or_default(),
            values,
        });
    }
    Ok(())
}

/// The value at a (dotted) attribute name, names compared as [`key`] does.
fn lookup<'a>(user: &'a Value, name: &str) -> Option<&'a Value> {
    name.split('.').try_fold(user, |v, part| {
        let wanted = key(part);
        v.as_object()?
            .iter()
            .find(|(k, _)| key(k) == wanted)
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn attrs(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn admin_center_csv_with_bom_quotes_and_spaced_headers() {
        let dir = tempfile::tempdir().unwrap();
        let f = write(
            dir.path(),
            "users.csv",
            "\u{feff}userPrincipalName,displayName,Object Id,mail\r\n\
             ada@contoso.com,\"Lovelace, Ada\",id-1,ada@contoso.com\r\n\
             grace@contoso.com,Grace,id-2,\r\n",
        );
        let users = read_users(&[f], &attrs(&["userPrincipalName", "MAIL"])).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[0].display_name, "Lovelace, Ada");
        assert_eq!(users[0].object_id, "id-1");
        assert_eq!(
            users[0].values,
            [
                Some("ada@contoso.com".into()),
                Some("ada@contoso.com".into())
            ]
        );
        assert_eq!(users[1].values[1], None, "an empty cell is no value");
    }

    #[test]
    fn graph_pages_need_their_last_page() {
        let dir = tempfile::tempdir().unwrap();
        let p1 = write(
            dir.path(),
            "p1.json",
            r#"{"@odata.context":"x","value":[{"id":"id-1","userPrincipalName":"a@x","employeeId":7,
               "onPremisesExtensionAttributes":{"extensionAttribute1":"E1"}}],
               "@odata.nextLink":"https://graph/next"}"#,
        );
        let p2 = write(
            dir.path(),
            "p2.json",
            r#"{"value":[{"id":"id-2","userPrincipalName":"b@x","employeeId":null},
                          {"id":"id-1","userPrincipalName":"a@x"}]}"#,
        );
        let wanted = attrs(&[
            "employeeId",
            "onPremisesExtensionAttributes.extensionAttribute1",
        ]);
        let err = read_users(std::slice::from_ref(&p1), &wanted).unwrap_err();
        assert!(err.to_string().contains("last page is missing"), "{err}");
        let users = read_users(&[p1, p2], &wanted).unwrap();
        assert_eq!(users.len(), 2, "the user given twice counts once");
        assert_eq!(users[0].values, [Some("7".into()), Some("E1".into())]);
        assert_eq!(users[1].values, [None, None]);
    }

    #[test]
    fn missing_attributes_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let csv = write(dir.path(), "u.csv", "userPrincipalName\na@x\n");
        let err = read_users(std::slice::from_ref(&csv), &attrs(&["employeeId"])).unwrap_err();
        assert!(err.to_string().contains("employeeId"), "{err}");
        let multi = write(
            dir.path(),
            "m.json",
            r#"[{"id":"1","proxyAddresses":["a","b"]}]"#,
        );
        let err = read_users(&[multi], &attrs(&["proxyAddresses"])).unwrap_err();
        assert!(err.to_string().contains("several values"), "{err}");
        let empty = write(dir.path(), "e.csv", "  \n");
        assert!(read_users(&[empty], &[]).is_err());
        let obj = write(dir.path(), "o.json", r#"{"users":[]}"#);
        assert!(
            read_users(&[obj], &[])
                .unwrap_err()
                .to_string()
                .contains("value")
        );
    }
}
