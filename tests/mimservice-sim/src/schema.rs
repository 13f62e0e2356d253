//! The simulated MIM schema: attribute types, object types and their bindings, and the typed
//! values resources hold.
//!
//! A trimmed copy of a MIM 2016 Service schema: the attributes of `Person` and `Group` a
//! provisioning connector touches, one custom object type (`CostCenter`, with an attribute of
//! every data type), and the system types the connector reads (`Request`, `Approval` and the
//! three schema description types). The store publishes all of it as `ObjectTypeDescription`,
//! `AttributeTypeDescription` and `BindingDescription` resources, as the MIM Service does.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

/// The data type of a MIM attribute (`AttributeTypeDescription.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    String,
    /// Long text: not indexed, so the MIM Service refuses it in a filter.
    Text,
    Integer,
    Boolean,
    DateTime,
    Reference,
    Binary,
}

impl DataType {
    /// The name MIM gives it in `AttributeTypeDescription.DataType`.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "String",
            DataType::Text => "Text",
            DataType::Integer => "Integer",
            DataType::Boolean => "Boolean",
            DataType::DateTime => "DateTime",
            DataType::Reference => "Reference",
            DataType::Binary => "Binary",
        }
    }
}

/// One attribute type.
#[derive(Debug, Clone)]
pub struct AttributeType {
    pub name: &'static str,
    pub data_type: DataType,
    pub multivalued: bool,
    /// Computed or system-maintained: a write is refused.
    pub read_only: bool,
}

/// One object type and the attributes bound to it.
#[derive(Debug, Clone)]
pub struct ObjectType {
    pub name: &'static str,
    /// A system type: resources of it cannot be created, changed or deleted through the API
    /// in the simulator (the MIM Service creates them itself).
    pub system: bool,
    /// Bound attribute name → required.
    pub bindings: BTreeMap<&'static str, bool>,
}

/// The whole schema.
#[derive(Debug, Clone)]
pub struct Schema {
    pub attributes: BTreeMap<&'static str, AttributeType>,
    pub types: BTreeMap<&'static str, ObjectType>,
}

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    Ref(Uuid),
    Bin(Vec<u8>),
}

/// `yyyy-MM-ddTHH:mm:ss.fff`, UTC: how the MIM Service and Lithnet write date-times
/// (`TypeConverter.FimServiceDateFormat`).
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"
    ))
    .unwrap_or_default()
}

/// Parses exactly `yyyy-MM-ddTHH:mm:ss.fff` as UTC, as Lithnet's `TypeConverter.ToDateTime`
/// does with `DateTime.ParseExact` (anything else is a `FormatException`).
pub fn parse_time_exact(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]"),
    )
    .ok()
    .map(|t| t.assume_utc())
}

/// Parses a date-time literal in a filter: `yyyy-MM-ddTHH:mm:ss[.fff][Z]`.
pub fn parse_time_literal(text: &str) -> Option<OffsetDateTime> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    parse_time_exact(text).or_else(|| {
        time::PrimitiveDateTime::parse(
            text,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .ok()
        .map(|t| t.assume_utc())
    })
}

/// A GUID as MIM references carry it: bare, or with `urn:uuid:`.
pub fn parse_guid(text: &str) -> Option<Uuid> {
    let bare = text.strip_prefix("urn:uuid:").unwrap_or(text);
    if bare.len() != 36 {
        return None;
    }
    Uuid::parse_str(bare).ok()
}

use DataType::{Binary, Boolean, DateTime, Integer, Reference, String as Str, Text};

/// (name, data type, multi-valued, read-only)
const ATTRIBUTES: &[(&str, DataType, bool, bool)] = &[
    ("ObjectID", Reference, false, true),
    ("ObjectType", Str, false, false),
    ("DisplayName", Str, false, false),
    ("Description", Text, false, false),
    ("CreatedTime", DateTime, false, true),
    ("Creator", Reference, false, true),
    ("AccountName", Str, false, false),
    ("FirstName", Str, false, false),
    ("LastName", Str, false, false),
    ("Email", Str, false, false),
    ("EmployeeID", Str, false, false),
    ("EmployeeType", Str, false, false),
    ("JobTitle", Str, false, false),
    ("Department", Str, false, false),
    ("Domain", Str, false, false),
    ("MobilePhone", Str, false, false),
    ("Manager", Reference, false, false),
    ("ProxyAddressCollection", Str, true, false),
    ("EmployeeStartDate", DateTime, false, false),
    ("IsRASEnabled", Boolean, false, false),
    ("ObjectSID", Binary, false, false),
    ("ExpectedRulesList", Reference, true, true),
    ("DetectedRulesList", Reference, true, true),
    ("Scope", Str, false, false),
    ("Type", Str, false, false),
    ("MembershipAddWorkflow", Str, false, false),
    ("MembershipLocked", Boolean, false, false),
    ("Owner", Reference, true, false),
    ("DisplayedOwner", Reference, false, false),
    ("ExplicitMember", Reference, true, false),
    ("ComputedMember", Reference, true, true),
    ("MailNickname", Str, false, false),
    ("Filter", Text, false, false),
    ("msidmCostCenterCode", Str, false, false),
    ("msidmBudget", Integer, false, false),
    ("msidmActive", Boolean, false, false),
    ("msidmValidFrom", DateTime, false, false),
    ("msidmLogo", Binary, false, false),
    ("Operation", Str, false, true),
    ("Target", Reference, false, true),
    ("TargetObjectType", Str, false, true),
    ("RequestStatus", Str, false, true),
    ("msidmCompletedTime", DateTime, false, true),
    ("RequestParameter", Str, true, true),
    ("Request", Reference, false, true),
    ("ApprovalStatus", Str, false, true),
    ("Approver", Reference, true, true),
    ("Name", Str, false, false),
    ("DataType", Str, false, false),
    ("Multivalued", Boolean, false, false),
    ("BoundObjectType", Reference, false, false),
    ("BoundAttributeType", Reference, false, false),
    ("Required", Boolean, false, false),
];

/// Bound to every object type: (name, required).
const COMMON: &[(&str, bool)] = &[
    ("ObjectID", true),
    ("ObjectType", true),
    ("DisplayName", false),
    ("Description", false),
    ("CreatedTime", false),
    ("Creator", false),
];

/// Attribute bindings of one object type: (name, required).
type Bindings = &'static [(&'static str, bool)];

/// (object type, system, bindings beyond [`COMMON`])
const TYPES: &[(&str, bool, Bindings)] = &[
    (
        "Person",
        false,
        &[
            ("AccountName", false),
            ("FirstName", false),
            ("LastName", false),
            ("Email", false),
            ("EmployeeID", false),
            ("EmployeeType", false),
            ("JobTitle", false),
            ("Department", false),
            ("Domain", false),
            ("MobilePhone", false),
            ("Manager", false),
            ("ProxyAddressCollection", false),
            ("EmployeeStartDate", false),
            ("IsRASEnabled", false),
            ("ObjectSID", false),
            ("ExpectedRulesList", false),
            ("DetectedRulesList", false),
        ],
    ),
    (
        "Group",
        false,
        &[
            ("DisplayName", true),
            ("AccountName", false),
            ("Domain", false),
            ("Email", false),
            ("MailNickname", false),
            ("Scope", true),
            ("Type", true),
            ("MembershipAddWorkflow", true),
            ("MembershipLocked", true),
            ("Owner", false),
            ("DisplayedOwner", false),
            ("ExplicitMember", false),
            ("ComputedMember", false),
            ("Filter", false),
            ("ExpectedRulesList", false),
            ("DetectedRulesList", false),
        ],
    ),
    (
        "CostCenter",
        false,
        &[
            ("msidmCostCenterCode", true),
            ("msidmBudget", false),
            ("msidmActive", false),
            ("msidmValidFrom", false),
            ("msidmLogo", false),
            ("Manager", false),
        ],
    ),
    (
        "Request",
        true,
        &[
            ("Operation", false),
            ("Target", false),
            ("TargetObjectType", false),
            ("RequestStatus", false),
            ("msidmCompletedTime", false),
            ("RequestParameter", false),
        ],
    ),
    (
        "Approval",
        true,
        &[
            ("Request", false),
            ("ApprovalStatus", false),
            ("Approver", false),
        ],
    ),
    ("ObjectTypeDescription", true, &[("Name", true)]),
    (
        "AttributeTypeDescription",
        true,
        &[("Name", true), ("DataType", true), ("Multivalued", true)],
    ),
    (
        "BindingDescription",
        true,
        &[
            ("BoundObjectType", true),
            ("BoundAttributeType", true),
            ("Required", false),
        ],
    ),
];

impl Schema {
    /// The simulated schema.
    pub fn mim() -> Schema {
        let attributes = ATTRIBUTES
            .iter()
            .map(|&(name, data_type, multivalued, read_only)| {
                (
                    name,
                    AttributeType {
                        name,
                        data_type,
                        multivalued,
                        read_only,
                    },
                )
            })
            .collect();
        let types = TYPES
            .iter()
            .map(|&(name, system, extra)| {
                let mut bindings: BTreeMap<&'static str, bool> = COMMON.iter().copied().collect();
                bindings.extend(extra.iter().copied());
                (
                    name,
                    ObjectType {
                        name,
                        system,
                        bindings,
                    },
                )
            })
            .collect();
        Schema { attributes, types }
    }

    /// The object type called exactly `name`.
    pub fn object_type(&self, name: &str) -> Option<&ObjectType> {
        self.types.get(name)
    }

    /// The attribute type called exactly `name`.
    pub fn attribute(&self, name: &str) -> Option<&AttributeType> {
        self.attributes.get(name)
    }

    /// The attribute `name` if it is bound to `object_type`.
    pub fn bound(&self, object_type: &str, name: &str) -> Option<&AttributeType> {
        self.object_type(object_type)
            .filter(|t| t.bindings.contains_key(name))
            .and_then(|_| self.attribute(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_binding_names_a_known_attribute() {
        let schema = Schema::mim();
        for t in schema.types.values() {
            for name in t.bindings.keys() {
                assert!(schema.attribute(name).is_some(), "{}.{name}", t.name);
            }
        }
    }

    #[test]
    fn date_times_use_the_fim_service_format() {
        let t = parse_time_exact("2024-05-06T07:08:09.123").unwrap();
        assert_eq!(format_time(t), "2024-05-06T07:08:09.123");
        assert!(parse_time_exact("2024-05-06T07:08:09").is_none());
        assert!(parse_time_exact("2024-05-06T07:08:09.123Z").is_none());
        assert_eq!(
            parse_time_literal("2024-05-06T07:08:09Z"),
            parse_time_exact("2024-05-06T07:08:09.000")
        );
    }

    #[test]
    fn guids_with_and_without_urn() {
        let id = parse_guid("urn:uuid:7fb2b853-24f0-4498-9534-4e10589723c4").unwrap();
        assert_eq!(parse_guid("7FB2B853-24F0-4498-9534-4E10589723C4"), Some(id));
        assert_eq!(parse_guid("7fb2b85324f0449895344e10589723c4"), None);
        assert_eq!(parse_guid("bob"), None);
    }
}
