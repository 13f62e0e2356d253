//! The wire format of protocol version 1 (`PROTOCOL.md`): what the host writes to a script and
//! how it reads the answers.
//!
//! Only this module knows field names. Requests are built as JSON objects; answers are parsed
//! into the types below and turned into contract types ([`ConnectorSchema`],
//! [`ConnectorObject`], [`ExportOutcome`], [`ConnectorError`]) with the script's own schema
//! deciding how each plain JSON value is typed. Values travel in their natural JSON form
//! (string, number, boolean; date-times as RFC 3339 text, binary as base64, references and
//! secrets as strings), so a script needs no tagging.

use base64::Engine;
use connector_core::{
    Anchor, AttrKind, AttrValue, AttributeChange, AttributeSchema, Attributes, Capabilities,
    Change, ConnectorError, ConnectorObject, ConnectorSchema, Direction, DnStyle, ExportOutcome,
    ExportStatus, ExportStyle, ImportItem, ObjectTypeSchema, ReferenceForm,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The protocol version this host speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest error detail taken from a script (longer ones are cut).
const MAX_DETAIL: usize = 2000;

/// One answer line: `{"id": N, "result": …}` or `{"id": N, "error": {…}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Response {
    pub id: u64,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

/// A typed error a script answers with (Granfeldt PSMA's `[ErrorName]` / `[ErrorDetail]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorBody {
    /// `conflict`, `notFound`, `rejected`, `unavailable`, `timeout`, `resyncRequired` (a delta
    /// import cannot continue from its watermark: the host runs a full import) or
    /// `misconfigured`; absent: inferred from `name`.
    #[serde(default)]
    pub kind: Option<String>,
    /// A short error name, e.g. `duplicate-anchor`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

impl ErrorBody {
    /// The contract error this answer means. `redact` removes known secrets from the text.
    pub fn to_connector_error(&self, redact: &dyn Fn(&str) -> String) -> ConnectorError {
        let name = self.name.as_deref().unwrap_or("").trim();
        let detail = self.detail.as_deref().unwrap_or("").trim();
        let mut text = match (name.is_empty(), detail.is_empty()) {
            (true, true) => "the script reported an error without a name or detail".to_owned(),
            (true, false) => detail.to_owned(),
            (false, true) => format!("[{name}]"),
            (false, false) => format!("[{name}] {detail}"),
        };
        if text.len() > MAX_DETAIL {
            let cut = (0..=MAX_DETAIL)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        let text = redact(&text);
        let kind = match self.kind.as_deref() {
            Some(k) => normalise(k),
            None => infer_kind(name).to_owned(),
        };
        match kind.as_str() {
            "conflict" => ConnectorError::conflict(text),
            "notfound" => ConnectorError::not_found(text),
            "unavailable" => ConnectorError::Unavailable {
                detail: text,
                retry_after: self.retry_after_ms.map(std::time::Duration::from_millis),
            },
            "timeout" => ConnectorError::timeout(text),
            "resyncrequired" => ConnectorError::resync_required(text),
            "misconfigured" => ConnectorError::misconfigured(text),
            _ => ConnectorError::rejected(text),
        }
    }
}

fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The error kind a bare `[ErrorName]` implies (PROTOCOL.md, "Errors"); `rejected` when
/// nothing matches.
pub(crate) fn infer_kind(name: &str) -> &'static str {
    let n = normalise(name);
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if has(&[
        "notfound",
        "nosuch",
        "doesnotexist",
        "missingobject",
        "unknownobject",
    ]) {
        "notfound"
    } else if has(&[
        "conflict",
        "alreadyexist",
        "exists",
        "duplicate",
        "uniqueness",
    ]) {
        "conflict"
    } else if has(&["timeout", "timedout"]) {
        "timeout"
    } else if has(&[
        "unavailable",
        "busy",
        "connection",
        "unreachable",
        "retry",
        "temporar",
    ]) {
        "unavailable"
    } else if has(&[
        "misconfigured",
        "configuration",
        "permission",
        "accessdenied",
        "unauthori",
    ]) {
        "misconfigured"
    } else {
        "rejected"
    }
}

/// What a script says about itself in its `hello` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HelloResult {
    pub protocol: u32,
    #[serde(default)]
    pub capabilities: ScriptCapabilities,
}

/// The capabilities a script declares (all optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ScriptCapabilities {
    #[serde(default)]
    pub delta_import: bool,
    #[serde(default)]
    pub concurrency_safe: bool,
    #[serde(default)]
    pub reference_form: ReferenceFormName,
    #[serde(default)]
    pub renames: bool,
    #[serde(default)]
    pub anchor_assigned_by_target: bool,
    #[serde(default)]
    pub export_style: ExportStyleName,
    #[serde(default)]
    pub passwords: PasswordMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ReferenceFormName {
    #[default]
    Anchor,
    Dn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ExportStyleName {
    #[default]
    AttributeUpdate,
    ObjectReplace,
}

/// How secret values reach the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum PasswordMode {
    /// As attribute values inside `export`.
    #[default]
    Inline,
    /// In `setPassword` messages of their own (PSMA's Password.ps1), never inside `export`.
    Separate,
}

impl ScriptCapabilities {
    /// The contract capabilities; `concurrent` says whether the pool may run calls at once.
    pub fn to_contract(self, concurrent: bool) -> Capabilities {
        Capabilities {
            delta_import: self.delta_import,
            export_style: match self.export_style {
                ExportStyleName::AttributeUpdate => ExportStyle::AttributeUpdate,
                ExportStyleName::ObjectReplace => ExportStyle::ObjectReplace,
            },
            anchor_assigned_by_target: self.anchor_assigned_by_target,
            renames: self.renames,
            reference_form: match self.reference_form {
                ReferenceFormName::Anchor => ReferenceForm::Anchor,
                ReferenceFormName::Dn => ReferenceForm::Dn,
            },
            concurrent_exports: concurrent,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SchemaResult {
    object_types: Vec<ObjectTypeJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ObjectTypeJson {
    name: String,
    anchor: String,
    #[serde(default)]
    dn_style: Option<String>,
    attributes: Vec<AttributeJson>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AttributeJson {
    name: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    multi_valued: bool,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    case_exact: bool,
    #[serde(default)]
    references: Option<String>,
}

/// Parses a `schema` answer into the contract schema.
pub(crate) fn parse_schema(result: Value) -> Result<ConnectorSchema, String> {
    let parsed: SchemaResult = serde_json::from_value(result).map_err(|e| e.to_string())?;
    let mut object_types = Vec::new();
    for t in parsed.object_types {
        let dn_style = match t
            .dn_style
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("none") => DnStyle::None,
            Some("generic") => DnStyle::Generic,
            Some("ldap") => DnStyle::Ldap,
            Some(other) => return Err(format!("object type {}: dnStyle {other:?}", t.name)),
        };
        let mut attributes = Vec::new();
        for a in t.attributes {
            let kind = match a.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("string") => AttrKind::String,
                Some("integer") => AttrKind::Integer,
                Some("boolean") => AttrKind::Boolean,
                Some("datetime") => AttrKind::DateTime,
                Some("binary") => AttrKind::Binary,
                Some("reference") => AttrKind::Reference,
                Some("secret") => AttrKind::Secret,
                Some(other) => return Err(format!("attribute {}: type {other:?}", a.name)),
            };
            let direction = match a
                .direction
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                _ if kind == AttrKind::Secret => Direction::Export,
                None | Some("importexport") => Direction::ImportExport,
                Some("import") => Direction::Import,
                Some("export") => Direction::Export,
                Some(other) => return Err(format!("attribute {}: direction {other:?}", a.name)),
            };
            attributes.push(AttributeSchema {
                name: a.name,
                kind,
                multi_valued: a.multi_valued,
                required: a.required,
                direction,
                case_exact: a.case_exact,
                references: a.references,
            });
        }
        let ot = ObjectTypeSchema {
            name: t.name,
            anchor_attribute: t.anchor,
            dn_style,
            attributes,
        };
        if ot.attribute(&ot.anchor_attribute).is_none() {
            return Err(format!(
                "object type {}: the anchor {} is not one of its attributes",
                ot.name, ot.anchor_attribute
            ));
        }
        object_types.push(ot);
    }
    Ok(ConnectorSchema { object_types })
}

/// One value as the script sees it. Secrets are exposed here, and only here.
pub(crate) fn encode_value(value: &AttrValue) -> Value {
    match value {
        AttrValue::String(s) | AttrValue::Reference(s) => Value::String(s.clone()),
        AttrValue::Integer(i) => json!(i),
        AttrValue::Boolean(b) => Value::Bool(*b),
        AttrValue::DateTime(_) => Value::String(value.to_text()),
        AttrValue::Binary(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        AttrValue::Secret(s) => Value::String(s.expose().to_owned()),
    }
}

fn encode_values(values: &[AttrValue]) -> Value {
    Value::Array(values.iter().map(encode_value).collect())
}

fn encode_attributes(attributes: &Attributes) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(name, values)| (name.clone(), encode_values(values)))
            .collect(),
    )
}

fn whole_object(
    kind: &str,
    object_type: &str,
    anchor: Value,
    dn: &Option<String>,
    attributes: &Attributes,
) -> Value {
    json!({"kind": kind, "objectType": object_type, "anchor": anchor, "dn": dn,
           "attributes": encode_attributes(attributes)})
}

/// The `change` member of an `export` request.
pub(crate) fn encode_change(change: &Change) -> Value {
    match change {
        Change::Add {
            object_type,
            anchor,
            dn,
            attributes,
        } => whole_object("add", object_type, json!(anchor), dn, attributes),
        Change::Replace {
            object_type,
            anchor,
            dn,
            attributes,
        } => whole_object("replace", object_type, json!(anchor), dn, attributes),
        Change::Update {
            object_type,
            anchor,
            new_dn,
            changes,
        } => {
            let changes: Vec<Value> = changes
                .iter()
                .map(|c| match c {
                    AttributeChange::Replace { name, values } => {
                        json!({"op": "replace", "name": name, "values": encode_values(values)})
                    }
                    AttributeChange::Add { name, values } => {
                        json!({"op": "add", "name": name, "values": encode_values(values)})
                    }
                    AttributeChange::Remove { name, values } => {
                        json!({"op": "remove", "name": name, "values": encode_values(values)})
                    }
                    AttributeChange::Clear { name } => json!({"op": "clear", "name": name}),
                })
                .collect();
            json!({"kind": "update", "objectType": object_type, "anchor": anchor,
                   "newDn": new_dn, "changes": changes})
        }
        Change::Delete {
            object_type,
            anchor,
        } => json!({"kind": "delete", "objectType": object_type, "anchor": anchor}),
    }
}

/// Types one JSON value by the attribute's kind; `None` for `null`.
fn decode_value(kind: AttrKind, v: &Value) -> Result<Option<AttrValue>, String> {
    let text = || match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let wrong = || format!("a {kind:?} value cannot be {v}");
    if v.is_null() {
        return Ok(None);
    }
    let value = match kind {
        AttrKind::String => AttrValue::String(text().ok_or_else(wrong)?),
        AttrKind::Reference => AttrValue::Reference(text().ok_or_else(wrong)?),
        AttrKind::Integer => match v {
            Value::Number(n) => AttrValue::Integer(n.as_i64().ok_or_else(wrong)?),
            Value::String(s) => AttrValue::Integer(s.trim().parse().map_err(|_| wrong())?),
            _ => return Err(wrong()),
        },
        AttrKind::Boolean => match v {
            Value::Bool(b) => AttrValue::Boolean(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => AttrValue::Boolean(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => AttrValue::Boolean(false),
            _ => return Err(wrong()),
        },
        AttrKind::DateTime => {
            let s = v.as_str().ok_or_else(wrong)?;
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| format!("date-time {s:?} is not RFC 3339: {e}"))?;
            AttrValue::DateTime(t.to_offset(time::UtcOffset::UTC))
        }
        AttrKind::Binary => {
            let s = v.as_str().ok_or_else(wrong)?;
            AttrValue::Binary(
                base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|e| format!("binary value is not base64: {e}"))?,
            )
        }
        AttrKind::Secret => return Ok(None),
    };
    Ok(Some(value))
}

/// An object as a script writes it (import item, `read` answer).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectJson {
    #[serde(default)]
    change: Option<String>,
    #[serde(default)]
    object_type: Option<String>,
    anchor: Value,
    #[serde(default)]
    dn: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

fn anchor_text(v: &Value) -> Result<Anchor, String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(Anchor(s.clone())),
        Value::Number(n) => Ok(Anchor(n.to_string())),
        other => Err(format!(
            "the anchor must be a non-empty string, not {other}"
        )),
    }
}

/// Decodes attributes by the schema of `ot`; a secret-typed attribute is dropped (scripts never
/// return secrets; the caller warns), an unknown one is an error.
fn decode_attributes(
    ot: &ObjectTypeSchema,
    raw: &Map<String, Value>,
    dropped: &mut Vec<String>,
) -> Result<Attributes, String> {
    let mut out = Attributes::new();
    for (name, v) in raw {
        let a = ot
            .attribute(name)
            .ok_or_else(|| format!("attribute {name} is not in the schema of {}", ot.name))?;
        if a.kind == AttrKind::Secret {
            dropped.push(a.name.clone());
            continue;
        }
        let items: Vec<&Value> = match v {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut values = Vec::new();
        for item in items {
            if let Some(value) = decode_value(a.kind, item).map_err(|e| format!("{name}: {e}"))? {
                values.push(value);
            }
        }
        if values.len() > 1 && !a.multi_valued {
            return Err(format!(
                "{name} is single-valued but has {} values",
                values.len()
            ));
        }
        if !values.is_empty() {
            out.insert(a.name.clone(), values);
        }
    }
    Ok(out)
}

/// Decodes one import item or read answer; `default_type` is the type asked for.
pub(crate) fn decode_item(
    schema: &ConnectorSchema,
    default_type: &str,
    v: Value,
    dropped: &mut Vec<String>,
) -> Result<ImportItem, String> {
    let raw: ObjectJson = serde_json::from_value(v).map_err(|e| e.to_string())?;
    let type_name = raw.object_type.as_deref().unwrap_or(default_type);
    let ot = schema
        .object_type(type_name)
        .ok_or_else(|| format!("object type {type_name} is not in the schema"))?;
    let anchor = anchor_text(&raw.anchor)?;
    match raw
        .change
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("delete") => Ok(ImportItem::Delete {
            object_type: ot.name.clone(),
            anchor,
        }),
        None | Some("upsert") | Some("add") | Some("replace") => {
            Ok(ImportItem::Upsert(ConnectorObject {
                object_type: ot.name.clone(),
                anchor,
                dn: raw.dn,
                attributes: decode_attributes(ot, &raw.attributes, dropped)?,
            }))
        }
        Some(other) => Err(format!("change {other:?} is neither upsert nor delete")),
    }
}

/// The answer to an `importPage` request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PageResult {
    #[serde(default)]
    pub items: Vec<Value>,
    #[serde(default)]
    pub more: bool,
    #[serde(default)]
    pub page_token: Option<String>,
    #[serde(default)]
    pub watermark: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportResult {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    anchor: Option<Value>,
    #[serde(default)]
    dn: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

/// Decodes an `export` answer for `change` of object type `ot`.
pub(crate) fn decode_outcome(
    ot: &ObjectTypeSchema,
    change: &Change,
    result: Value,
    dropped: &mut Vec<String>,
) -> Result<ExportOutcome, String> {
    let raw: ExportResult = if result.is_null() {
        serde_json::from_value(json!({})).map_err(|e| e.to_string())?
    } else {
        serde_json::from_value(result).map_err(|e| e.to_string())?
    };
    let anchor = match (&raw.anchor, change.anchor()) {
        (Some(v), _) if !v.is_null() => anchor_text(v)?,
        (_, Some(a)) => a.clone(),
        _ => return Err("an add without an anchor must answer with the assigned anchor".into()),
    };
    if let (Some(sent), Some(Value::String(back))) = (change.anchor(), &raw.anchor)
        && sent.as_str() != back
    {
        return Err(format!(
            "the answer names anchor {back:?}, but the change was for {sent:?}"
        ));
    }
    let status = match raw
        .status
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("applied") | Some("success") => ExportStatus::Applied,
        Some("pending") => ExportStatus::Pending {
            detail: raw
                .detail
                .unwrap_or_else(|| "queued by the target".to_owned()),
        },
        Some(other) => return Err(format!("status {other:?} is neither applied nor pending")),
    };
    Ok(ExportOutcome {
        anchor,
        dn: raw.dn,
        assigned: decode_attributes(ot, &raw.attributes, dropped)?,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_core::Secret;

    #[test]
    fn error_names_map_to_kinds() {
        let check = |name: &str, expected: &str| assert_eq!(infer_kind(name), expected, "{name}");
        check("object-already-exists", "conflict");
        check("duplicate-anchor", "conflict");
        check("ObjectNotFound", "notfound");
        check("no-such-object", "notfound");
        check("does-not-exist", "notfound");
        check("connection-failed", "unavailable");
        check("server-busy", "unavailable");
        check("operation-timeout", "timeout");
        check("access-denied", "misconfigured");
        check("password-policy-violation", "rejected");
        check("", "rejected");
    }

    #[test]
    fn an_explicit_kind_wins_and_secrets_are_redacted() {
        let body = ErrorBody {
            kind: Some("unavailable".into()),
            name: Some("duplicate".into()),
            detail: Some("pw hunter2 refused".into()),
            retry_after_ms: Some(2000),
        };
        let err = body.to_connector_error(&|t: &str| t.replace("hunter2", "<redacted>"));
        assert_eq!(
            err,
            ConnectorError::Unavailable {
                detail: "[duplicate] pw <redacted> refused".into(),
                retry_after: Some(std::time::Duration::from_secs(2)),
            }
        );
    }

    #[test]
    fn values_are_typed_by_the_schema() {
        let check = |kind: AttrKind, v: Value, expected: Option<AttrValue>| {
            assert_eq!(decode_value(kind, &v).unwrap(), expected, "{kind:?} {v}")
        };
        check(AttrKind::String, json!("x"), Some("x".into()));
        check(AttrKind::String, json!(5), Some("5".into()));
        check(AttrKind::Integer, json!(-7), Some(AttrValue::Integer(-7)));
        check(AttrKind::Integer, json!("42"), Some(AttrValue::Integer(42)));
        check(
            AttrKind::Boolean,
            json!("True"),
            Some(AttrValue::Boolean(true)),
        );
        check(
            AttrKind::Binary,
            json!("AA//"),
            Some(AttrValue::Binary(vec![0, 15, 255])),
        );
        check(
            AttrKind::Reference,
            json!("7"),
            Some(AttrValue::Reference("7".into())),
        );
        check(AttrKind::Secret, json!("pw"), None);
        check(AttrKind::String, Value::Null, None);
        let t = decode_value(AttrKind::DateTime, &json!("2024-05-06T09:08:07+02:00"))
            .unwrap()
            .unwrap();
        assert_eq!(t.to_text(), "2024-05-06T07:08:07Z");
        assert!(decode_value(AttrKind::Integer, &json!("x")).is_err());
        assert!(decode_value(AttrKind::Boolean, &json!(1)).is_err());
        assert!(decode_value(AttrKind::Binary, &json!("***")).is_err());
        for v in [
            AttrValue::Integer(3),
            AttrValue::Boolean(false),
            AttrValue::Binary(vec![1, 2, 3]),
            t.clone(),
        ] {
            let kind = match v {
                AttrValue::Integer(_) => AttrKind::Integer,
                AttrValue::Boolean(_) => AttrKind::Boolean,
                AttrValue::Binary(_) => AttrKind::Binary,
                _ => AttrKind::DateTime,
            };
            assert_eq!(decode_value(kind, &encode_value(&v)).unwrap(), Some(v));
        }
        assert_eq!(
            encode_value(&AttrValue::Secret(Secret::new("pw"))),
            json!("pw")
        );
    }

    #[test]
    fn a_schema_answer_becomes_the_contract_schema() {
        let schema = parse_schema(json!({"objectTypes": [{
        "name": "User", "anchor": "id", "dnStyle": "generic",
        "attributes": [
            {"name": "id", "required": true},
            {"name": "mail", "type": "string", "multiValued": true},
            {"name": "manager", "type": "reference", "references": "User"},
            {"name": "password", "type": "secret"},
            {"name": "created", "type": "dateTime", "direction": "import"}
        ]}]}))
        .unwrap();
        let user = schema.object_type("user").unwrap();
        assert_eq!(user.dn_style, DnStyle::Generic);
        assert!(user.attribute("MAIL").unwrap().multi_valued);
        assert_eq!(
            user.attribute("password").unwrap().direction,
            Direction::Export
        );
        assert_eq!(user.attribute("created").unwrap().kind, AttrKind::DateTime);
        let bad = |v: Value| parse_schema(v).unwrap_err();
        bad(json!({"objectTypes": [{"name": "U", "anchor": "x", "attributes": []}]}));
        bad(
            json!({"objectTypes": [{"name": "U", "anchor": "x", "attributes": [
            {"name": "x", "multivalued": true}]}]}),
        );
        bad(
            json!({"objectTypes": [{"name": "U", "anchor": "x", "attributes": [
            {"name": "x", "type": "float"}]}]}),
        );
    }

    #[test]
    fn import_items_decode_and_secrets_are_dropped() {
        let schema = parse_schema(json!({"objectTypes": [{"name": "User", "anchor": "id",
            "attributes": [{"name": "id"}, {"name": "mail", "multiValued": true},
                           {"name": "pw", "type": "secret"}]}]}))
        .unwrap();
        let mut dropped = Vec::new();
        let item = decode_item(
            &schema,
            "User",
            json!({"anchor": "1", "attributes": {"id": "1", "mail": ["a", "b"], "pw": "x"}}),
            &mut dropped,
        )
        .unwrap();
        let ImportItem::Upsert(obj) = item else {
            panic!("{item:?}")
        };
        assert_eq!(obj.values("mail").len(), 2);
        assert!(obj.values("pw").is_empty());
        assert_eq!(dropped, ["pw"]);
        let del = decode_item(
            &schema,
            "User",
            json!({"change": "delete", "anchor": 2}),
            &mut dropped,
        )
        .unwrap();
        assert_eq!(
            del,
            ImportItem::Delete {
                object_type: "User".into(),
                anchor: "2".into()
            }
        );
        let err = |v: Value| decode_item(&schema, "User", v, &mut Vec::new()).unwrap_err();
        err(json!({"anchor": "1", "attributes": {"nope": "x"}}));
        err(json!({"anchor": "1", "attributes": {"id": ["1", "2"]}}));
        err(json!({"anchor": ""}));
        err(json!({"objectType": "Group", "anchor": "1"}));
    }
}
