//! SCIM resources on the wire (RFC 7643 §3–§4) and the message bodies that carry them
//! (RFC 7644 §3.4.3 search, §3.7 bulk).
//!
//! The host keeps every resource as a generic [`Resource`] (or the `serde_json::Value` it
//! round-trips to) so values stay exactly as the client sent them, unknown attributes and
//! extension objects included. The typed views ([`User`], [`EnterpriseUser`], [`Group`]) exist
//! for code that wants named fields, e.g. a mapping from SCIM to connector attributes; they
//! keep whatever they do not model in an `extra` map, and they accept the spellings Entra
//! really sends (attribute names in any case, booleans as `"True"`, a manager as a bare id).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::ScimError;
use crate::schema::{self, ResourceSchema};

/// URN of the core User schema.
pub const USER_SCHEMA: &str = schema::USER_SCHEMA_URN;
/// URN of the core Group schema.
pub const GROUP_SCHEMA: &str = schema::GROUP_SCHEMA_URN;
/// URN of the Enterprise User extension.
pub const ENTERPRISE_USER_SCHEMA: &str = schema::ENTERPRISE_USER_SCHEMA_URN;
/// URN of the ECMA2Host extension (the drop-in mode's connector attributes).
pub const ECMA2HOST_USER_SCHEMA: &str = schema::ECMA2HOST_USER_SCHEMA_URN;
/// URN of the list response message.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// URN of the PATCH request message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// URN of the bulk request message.
pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// URN of the bulk response message.
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// URN of the `POST /.search` request message.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// URN of a schema resource (`/Schemas`).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// URN of a resource type resource (`/ResourceTypes`).
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
/// URN of the service provider configuration (`/ServiceProviderConfig`).
pub const SERVICE_PROVIDER_CONFIG_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

fn syntax_error(what: &str, e: serde_json::Error) -> ScimError {
    ScimError::invalid_syntax(format!("{what} does not have the expected shape: {e}"))
}

/// Accepts a JSON boolean or the strings `"true"`/`"false"` in any case (Entra sends
/// `"True"`/`"False"`); `null` is absent.
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

/// Resource metadata (RFC 7643 §3.1). Timestamps are kept as the RFC 3339 strings they are on
/// the wire; [`Meta::created_at`] and [`Meta::last_modified_at`] parse them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Anything else found in `meta`, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Meta {
    /// Metadata for a resource of `resource_type` created at `created` and last changed at
    /// `last_modified`, both written in RFC 3339.
    pub fn new(
        resource_type: impl Into<String>,
        created: time::OffsetDateTime,
        last_modified: time::OffsetDateTime,
        location: Option<String>,
        version: Option<String>,
    ) -> Self {
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        };
        Meta {
            resource_type: Some(resource_type.into()),
            created: fmt(created),
            last_modified: fmt(last_modified),
            location,
            version,
            extra: Map::new(),
        }
    }

    /// `created` as an instant, if present and valid RFC 3339.
    pub fn created_at(&self) -> Option<time::OffsetDateTime> {
        parse_instant(self.created.as_deref()?)
    }

    /// `lastModified` as an instant, if present and valid RFC 3339.
    pub fn last_modified_at(&self) -> Option<time::OffsetDateTime> {
        parse_instant(self.last_modified.as_deref()?)
    }
}

/// Parses an RFC 3339 / xsd:dateTime instant (RFC 7643 §2.3.5).
pub fn parse_instant(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// Any SCIM resource, kept exactly as sent: the common attributes as fields and every other
/// top-level member (core attributes, extension objects under their URN, unknown members) in
/// [`Resource::attributes`], in their original order.
///
/// Serialising gives back the same JSON value it was read from, with two exceptions a SCIM
/// client never relies on: a `null` `schemas`, `id`, `externalId` or `meta` is dropped, and an
/// empty `schemas` array is omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(flatten)]
    pub attributes: Map<String, Value>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl Resource {
    /// Reads a resource from a JSON value; anything but an object with string `schemas`, `id`,
    /// `externalId` and an object `meta` is `400 invalidSyntax`.
    pub fn from_value(value: Value) -> Result<Resource, ScimError> {
        if !value.is_object() {
            return Err(ScimError::invalid_syntax(
                "a SCIM resource must be a JSON object",
            ));
        }
        serde_json::from_value(value).map_err(|e| syntax_error("the resource", e))
    }

    /// The JSON value of this resource.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Whether `schemas` lists `urn` (case-insensitive).
    pub fn has_schema(&self, urn: &str) -> bool {
        self.schemas.iter().any(|s| s.eq_ignore_ascii_case(urn))
    }

    /// The top-level member called `name`, case-insensitively (RFC 7643 §2.1).
    pub fn get(&self, name: &str) -> Option<&Value> {
        get_ci(&self.attributes, name)
    }

    /// The extension object stored under `urn`, case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&Map<String, Value>> {
        self.get(urn)?.as_object()
    }

    /// An attribute of the core schema (`urn` None) or of the extension `urn`, by name,
    /// case-insensitively.
    pub fn attribute(&self, urn: Option<&str>, name: &str) -> Option<&Value> {
        match urn {
            None => self.get(name),
            Some(u) => get_ci(self.extension(u)?, name),
        }
    }
}

/// The member of `map` called `name`, case-insensitively (an exact match wins).
pub fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Rewrites the member names of a resource to the spelling its schema declares (`USERNAME` →
/// `userName`, extension URNs and their attributes included), so that typed views, which match
/// names exactly, read whatever case a client used. Unknown members are left as they are.
pub fn canonicalize_names(resource: &mut Value, schema: &ResourceSchema) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    let common = schema::common_attributes();
    let taken = std::mem::take(obj);
    for (key, mut value) in taken {
        let canonical = if let Some(ext) = schema
            .extensions
            .iter()
            .map(|(s, _)| s)
            .find(|s| s.id.eq_ignore_ascii_case(&key))
        {
            if let Some(inner) = value.as_object_mut() {
                canonicalize_object(inner, &ext.attributes);
            }
            ext.id.clone()
        } else if key.eq_ignore_ascii_case("schemas") {
            "schemas".to_owned()
        } else if let Some(def) = schema
            .core
            .attribute(&key)
            .or_else(|| common.iter().find(|a| a.name.eq_ignore_ascii_case(&key)))
        {
            canonicalize_value(&mut value, &def.sub_attributes);
            def.name.clone()
        } else {
            key
        };
        obj.insert(canonical, value);
    }
}

fn canonicalize_object(obj: &mut Map<String, Value>, defs: &[schema::AttributeDef]) {
    let taken = std::mem::take(obj);
    for (key, mut value) in taken {
        let name = match defs.iter().find(|d| d.name.eq_ignore_ascii_case(&key)) {
            Some(def) => {
                canonicalize_value(&mut value, &def.sub_attributes);
                def.name.clone()
            }
            None => key,
        };
        obj.insert(name, value);
    }
}

fn canonicalize_value(value: &mut Value, subs: &[schema::AttributeDef]) {
    if subs.is_empty() {
        return;
    }
    match value {
        Value::Object(o) => canonicalize_object(o, subs),
        Value::Array(items) => {
            for item in items {
                if let Value::Object(o) = item {
                    canonicalize_object(o, subs);
                }
            }
        }
        _ => {}
    }
}

/// One value of a multi-valued attribute (RFC 7643 §2.4): `emails`, `phoneNumbers`, `ims`,
/// `photos`, `groups`, `entitlements`, `roles`, `x509Certificates`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiValue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_bool"
    )]
    pub primary: Option<bool>,
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Sub-attributes this view does not model, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A physical mailing address (RFC 7643 §4.1.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_bool"
    )]
    pub primary: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The components of a user's name (RFC 7643 §4.1.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A typed view of a User (RFC 7643 §4.1), with its Enterprise extension if present.
///
/// Read one with [`User::from_value`], which also accepts attribute names in any case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_bool"
    )]
    pub active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub emails: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub phone_numbers: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub ims: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub photos: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub addresses: Vec<Address>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub groups: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub entitlements: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub roles: Vec<MultiValue>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub x509_certificates: Vec<MultiValue>,
    /// The Enterprise User extension object.
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub enterprise: Option<EnterpriseUser>,
    /// Other members (other extensions, unknown attributes), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn vec_or_null<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl User {
    /// Reads a User from a JSON body, accepting attribute names in any case; a body that does
    /// not fit is `400 invalidSyntax`.
    pub fn from_value(mut value: Value) -> Result<User, ScimError> {
        if !value.is_object() {
            return Err(ScimError::invalid_syntax("a User must be a JSON object"));
        }
        canonicalize_names(&mut value, &schema::user_resource_schema(true));
        serde_json::from_value(value).map_err(|e| syntax_error("the User", e))
    }

    /// The JSON value of this User.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The email marked primary, or else the first one.
    pub fn primary_email(&self) -> Option<&MultiValue> {
        primary_or_first(&self.emails)
    }
}

/// The value marked `primary`, or else the first (RFC 7643 §2.4).
pub fn primary_or_first(values: &[MultiValue]) -> Option<&MultiValue> {
    values
        .iter()
        .find(|v| v.primary == Some(true))
        .or_else(|| values.first())
}

/// The Enterprise User extension (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_manager"
    )]
    pub manager: Option<Manager>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A user's manager, by the id of the manager's User resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Accepts the manager as the RFC object, as a bare id string, or as an array holding one
/// object (all three are seen from Entra); `null`, `""` and `[]` are absent.
fn lenient_manager<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Manager>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    let value = match value {
        Some(Value::Array(items)) => items.into_iter().next(),
        other => other,
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(Manager {
            value: Some(s),
            ..Manager::default()
        })),
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(other) => Err(serde::de::Error::custom(format!(
            "manager must be an object or an id, found {other}"
        ))),
    }
}

/// A typed view of a Group (RFC 7643 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "vec_or_null"
    )]
    pub members: Vec<Member>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Group {
    /// Reads a Group from a JSON body, accepting attribute names in any case; a body that does
    /// not fit is `400 invalidSyntax`.
    pub fn from_value(mut value: Value) -> Result<Group, ScimError> {
        if !value.is_object() {
            return Err(ScimError::invalid_syntax("a Group must be a JSON object"));
        }
        canonicalize_names(&mut value, &schema::group_resource_schema());
        serde_json::from_value(value).map_err(|e| syntax_error("the Group", e))
    }

    /// The JSON value of this Group.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A member of a group. Entra sends `"$ref": null`, which reads as absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Member {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// A bulk request (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    #[serde(default = "bulk_request_schemas")]
    pub schemas: Vec<String>,
    /// Errors after which the server stops processing; absent = process everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u32>,
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperation>,
}

fn bulk_request_schemas() -> Vec<String> {
    vec![BULK_REQUEST.to_owned()]
}

impl BulkRequest {
    /// Reads a bulk request; a body that does not fit is `400 invalidSyntax`.
    pub fn from_value(value: Value) -> Result<BulkRequest, ScimError> {
        serde_json::from_value(value).map_err(|e| syntax_error("the bulk request", e))
    }
}

/// One operation of a bulk request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A bulk response (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    #[serde(default = "bulk_response_schemas")]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperationResponse>,
}

fn bulk_response_schemas() -> Vec<String> {
    vec![BULK_RESPONSE.to_owned()]
}

impl BulkResponse {
    /// A bulk response carrying `operations`.
    pub fn new(operations: Vec<BulkOperationResponse>) -> Self {
        BulkResponse {
            schemas: bulk_response_schemas(),
            operations,
        }
    }
}

/// The outcome of one bulk operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResponse {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The HTTP status, as a string as in the RFC examples (`"201"`).
    pub status: String,
    /// The error body (or resource) for this operation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// A `POST /.search` request (RFC 7644 §3.4.3): the query parameters of a GET, as a body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded_attributes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
}

impl SearchRequest {
    /// Reads a search request; a body that does not fit is `400 invalidSyntax`.
    pub fn from_value(value: Value) -> Result<SearchRequest, ScimError> {
        serde_json::from_value(value).map_err(|e| syntax_error("the search request", e))
    }

    /// `attributes` joined with commas, the form [`crate::projection::Projection::parse`] takes.
    pub fn attributes_param(&self) -> Option<String> {
        self.attributes.as_ref().map(|a| a.join(","))
    }

    /// `excludedAttributes` joined with commas.
    pub fn excluded_attributes_param(&self) -> Option<String> {
        self.excluded_attributes.as_ref().map(|a| a.join(","))
    }

    /// The paging window this request asks for (same rules as the query parameters).
    pub fn paging(&self, default_count: usize, max_count: usize) -> crate::list::Paging {
        crate::list::Paging::new(self.start_index, self.count, default_count, max_count)
    }
}
