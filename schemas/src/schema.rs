//! Schema definitions (RFC 7643 §2 and §7): the attribute characteristics that drive behaviour.
//!
//! A [`ResourceSchema`] is what every other module asks when it needs to know how an attribute
//! behaves: the filter evaluator (is it `caseExact`?), PATCH (is it multi-valued, read-only?),
//! projection (`returned`), the host's uniqueness checks (`uniqueness`). Lookups are
//! case-insensitive, as RFC 7643 §2.1 requires for attribute names, and accept URN-qualified names.

use serde::{Deserialize, Serialize};

/// An attribute's data type (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    #[default]
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

/// Whether and how an attribute can be written (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    #[default]
    ReadWrite,
    Immutable,
    WriteOnly,
}

/// When an attribute is returned in a response (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    #[default]
    Default,
    Request,
}

/// How unique an attribute's value must be (RFC 7643 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    #[default]
    None,
    Server,
    Global,
}

/// One attribute definition, serialised exactly as in a `/Schemas` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeDef {
    pub name: String,
    #[serde(rename = "type")]
    pub attr_type: AttrType,
    pub multi_valued: bool,
    #[serde(default)]
    pub description: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<AttributeDef>,
}

impl AttributeDef {
    /// A single-valued, optional, read-write, case-insensitive string: the RFC defaults.
    pub fn new(name: impl Into<String>, attr_type: AttrType) -> Self {
        AttributeDef {
            name: name.into(),
            attr_type,
            multi_valued: false,
            description: String::new(),
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// The sub-attribute called `name` (case-insensitive).
    pub fn sub_attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// A schema resource (RFC 7643 §7): an id (URN), a name and its attributes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaDef {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub attributes: Vec<AttributeDef>,
}

impl SchemaDef {
    /// The top-level attribute called `name` (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// The schemas of one resource type: its core schema and the extensions it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceSchema {
    /// Resource type name, e.g. `User`.
    pub name: String,
    /// Endpoint, e.g. `/Users`.
    pub endpoint: String,
    /// The core schema, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`.
    pub core: SchemaDef,
    /// Extension schemas and whether each is required.
    pub extensions: Vec<(SchemaDef, bool)>,
}

impl ResourceSchema {
    /// The schema (core or extension) whose URN is `urn` (case-insensitive).
    pub fn schema(&self, urn: &str) -> Option<&SchemaDef> {
        if self.core.id.eq_ignore_ascii_case(urn) {
            return Some(&self.core);
        }
        self.extensions
            .iter()
            .map(|(s, _)| s)
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Finds a top-level attribute by `urn` (None = core schema) and name, case-insensitively.
    pub fn attribute(&self, urn: Option<&str>, name: &str) -> Option<&AttributeDef> {
        match urn {
            None => self.core.attribute(name),
            Some(u) => self.schema(u)?.attribute(name),
        }
    }

    /// Splits a possibly URN-qualified attribute name (`urn:…:User:manager`, `userName`) into the
    /// extension URN it belongs to (if any, as declared by this resource type) and the bare
    /// name. A name qualified with the core URN resolves to `None`.
    pub fn split_urn<'a>(&self, full: &'a str) -> (Option<&str>, &'a str) {
        if !full
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            return (None, full);
        }
        let candidates = std::iter::once(&self.core).chain(self.extensions.iter().map(|(s, _)| s));
        for s in candidates {
            let id_len = s.id.len();
            if full.len() > id_len + 1
                && full
                    .get(..id_len)
                    .is_some_and(|p| p.eq_ignore_ascii_case(&s.id))
                && full.as_bytes().get(id_len) == Some(&b':')
            {
                let rest = full.get(id_len + 1..).unwrap_or_default();
                let urn = if std::ptr::eq(s, &self.core) {
                    None
                } else {
                    Some(s.id.as_str())
                };
                return (urn, rest);
            }
        }
        (None, full)
    }
}

// ---------------------------------------------------------------------------------------------
// Builders and the RFC 7643 core schemas.
// ---------------------------------------------------------------------------------------------

/// URN of the core User schema (RFC 7643 §4.1).
pub const USER_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// URN of the core Group schema (RFC 7643 §4.2).
pub const GROUP_SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// URN of the Enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA_URN: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// URN of the extension under which Microsoft's ECMA Connector Host exposes connector attributes.
pub const ECMA2HOST_USER_SCHEMA_URN: &str =
    "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";

impl AttributeDef {
    /// Sets the human-readable description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
    /// Sets `multiValued`.
    pub fn with_multi_valued(mut self, multi_valued: bool) -> Self {
        self.multi_valued = multi_valued;
        self
    }
    /// Sets `required`.
    pub fn with_required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }
    /// Sets `caseExact`.
    pub fn with_case_exact(mut self, case_exact: bool) -> Self {
        self.case_exact = case_exact;
        self
    }
    /// Sets `mutability`.
    pub fn with_mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }
    /// Sets `returned`.
    pub fn with_returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    /// Sets `uniqueness`.
    pub fn with_uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }
    /// Sets `canonicalValues`.
    pub fn with_canonical_values(mut self, values: &[&str]) -> Self {
        self.canonical_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }
    /// Sets `referenceTypes`.
    pub fn with_reference_types(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|v| (*v).to_owned()).collect();
        self
    }
    /// Sets `subAttributes` (and makes nothing else complex: set the type with [`AttributeDef::new`]).
    pub fn with_sub_attributes(mut self, sub_attributes: Vec<AttributeDef>) -> Self {
        self.sub_attributes = sub_attributes;
        self
    }
}

impl SchemaDef {
    /// A schema with an id (URN), a name, a description and its attributes.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        description: impl Into<String>,
        attributes: Vec<AttributeDef>,
    ) -> Self {
        SchemaDef {
            id: id.into(),
            name: name.into(),
            description: description.into(),
            attributes,
        }
    }
}

impl ResourceSchema {
    /// The definition of an attribute given as a possibly URN-qualified name with an optional
    /// sub-attribute (`name.givenName`, `urn:…:enterprise:2.0:User:manager.value`,
    /// `meta.created`). Common attributes (`id`, `externalId`, `meta`, RFC 7643 §3.1) are found
    /// too, although no schema lists them.
    pub fn resolve(&self, path: &str) -> Option<AttributeDef> {
        let (urn, rest) = self.split_urn(path);
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let top = match urn {
            Some(u) => self.attribute(Some(u), name).cloned(),
            None => self
                .core
                .attribute(name)
                .cloned()
                .or_else(|| common_attribute(name)),
        }?;
        match sub {
            None => Some(top),
            Some(s) => top.sub_attribute(s).cloned(),
        }
    }
}

fn string(name: &str, description: &str) -> AttributeDef {
    AttributeDef::new(name, AttrType::String).with_description(description)
}

fn boolean(name: &str, description: &str) -> AttributeDef {
    AttributeDef::new(name, AttrType::Boolean).with_description(description)
}

fn reference(name: &str, description: &str, types: &[&str]) -> AttributeDef {
    AttributeDef::new(name, AttrType::Reference)
        .with_description(description)
        .with_reference_types(types)
}

fn complex(name: &str, description: &str, subs: Vec<AttributeDef>) -> AttributeDef {
    AttributeDef::new(name, AttrType::Complex)
        .with_description(description)
        .with_sub_attributes(subs)
}

/// The common sub-attributes `value`, `display`, `type` and `primary` of the User's
/// multi-valued attributes (RFC 7643 §2.4), all read-write and returned by default.
fn multi_valued(
    name: &str,
    description: &str,
    value: AttributeDef,
    canonical_types: &[&str],
) -> AttributeDef {
    complex(
        name,
        description,
        vec![
            value,
            string(
                "display",
                "A human-readable name, primarily used for display purposes.",
            ),
            string("type", "A label indicating the attribute's function.")
                .with_canonical_values(canonical_types),
            boolean(
                "primary",
                "Whether this is the primary or preferred value; true at most once.",
            ),
        ],
    )
    .with_multi_valued(true)
}

/// The common attributes every resource has (RFC 7643 §3.1), which no schema document lists:
/// `id` (case-exact, read-only, always returned; unique across the server's resources),
/// `externalId` (case-exact, read-write) and `meta` (read-only sub-attributes).
pub fn common_attributes() -> Vec<AttributeDef> {
    let read_only = |a: AttributeDef| a.with_mutability(Mutability::ReadOnly);
    vec![
        string(
            "id",
            "Unique identifier of the resource, assigned by the service provider.",
        )
        .with_case_exact(true)
        .with_mutability(Mutability::ReadOnly)
        .with_returned(Returned::Always)
        .with_uniqueness(Uniqueness::Server),
        string(
            "externalId",
            "Identifier of the resource as defined by the provisioning client.",
        )
        .with_case_exact(true),
        read_only(complex(
            "meta",
            "Resource metadata, maintained by the service provider.",
            vec![
                read_only(
                    string("resourceType", "The name of the resource type.").with_case_exact(true),
                ),
                read_only(
                    AttributeDef::new("created", AttrType::DateTime)
                        .with_description("When the resource was added to the service provider."),
                ),
                read_only(
                    AttributeDef::new("lastModified", AttrType::DateTime)
                        .with_description("When the resource was last changed."),
                ),
                read_only(
                    reference("location", "The URI of the resource.", &["uri"])
                        .with_case_exact(true),
                ),
                read_only(
                    string("version", "The version (ETag) of the resource.").with_case_exact(true),
                ),
            ],
        )),
    ]
}

/// The common attribute (`id`, `externalId`, `meta`) called `name`, case-insensitively.
pub fn common_attribute(name: &str) -> Option<AttributeDef> {
    common_attributes()
        .into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The core User schema exactly as RFC 7643 §8.7.1 characterises it (descriptions shortened).
///
/// Faithful to the RFC text, including its oddities: `addresses` has no `primary`
/// sub-attribute there, `x509Certificates.value` is not case-exact (errata 6000 and 8470 would
/// change that; not applied), and `groups` and its sub-attributes are read-only.
pub fn user_schema() -> SchemaDef {
    let rw_string = string;
    let name = complex(
        "name",
        "The components of the user's real name.",
        vec![
            rw_string("formatted", "The full name, formatted for display."),
            rw_string("familyName", "The family (last) name."),
            rw_string("givenName", "The given (first) name."),
            rw_string("middleName", "The middle name(s)."),
            rw_string("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
            rw_string("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
        ],
    );
    let read_only = |a: AttributeDef| a.with_mutability(Mutability::ReadOnly);
    let groups = read_only(
        complex(
            "groups",
            "Groups the user belongs to, directly, through nested groups or dynamically.",
            vec![
                read_only(string("value", "The id of the group.")),
                read_only(reference(
                    "$ref",
                    "The URI of the group.",
                    &["User", "Group"],
                )),
                read_only(string("display", "A human-readable name for the group.")),
                read_only(
                    string(
                        "type",
                        "How the membership arises, e.g. 'direct' or 'indirect'.",
                    )
                    .with_canonical_values(&["direct", "indirect"]),
                ),
            ],
        )
        .with_multi_valued(true),
    );
    let addresses = complex(
        "addresses",
        "Physical mailing addresses.",
        vec![
            string(
                "formatted",
                "The full mailing address, formatted for display.",
            ),
            string("streetAddress", "The full street address component."),
            string("locality", "The city or locality component."),
            string("region", "The state or region component."),
            string("postalCode", "The zip or postal code component."),
            string("country", "The country name component."),
            string("type", "A label indicating the address's function.")
                .with_canonical_values(&["work", "home", "other"]),
        ],
    )
    .with_multi_valued(true);
    SchemaDef::new(
        USER_SCHEMA_URN,
        "User",
        "User Account",
        vec![
            string("userName", "Unique identifier the user authenticates with.")
                .with_required(true)
                .with_uniqueness(Uniqueness::Server),
            name,
            string("displayName", "The name of the user, suitable for display."),
            string("nickName", "The casual way to address the user."),
            reference(
                "profileUrl",
                "URL of the user's online profile.",
                &["external"],
            ),
            string("title", "The user's title, e.g. 'Vice President'."),
            string(
                "userType",
                "The relationship between the organization and the user.",
            ),
            string(
                "preferredLanguage",
                "The user's preferred written or spoken language.",
            ),
            string("locale", "The user's default location for localisation."),
            string("timezone", "The user's time zone in IANA ('Olson') format."),
            boolean("active", "The user's administrative status."),
            string(
                "password",
                "The user's cleartext password, to set or reset it.",
            )
            .with_mutability(Mutability::WriteOnly)
            .with_returned(Returned::Never),
            multi_valued(
                "emails",
                "Email addresses of the user.",
                string("value", "An email address."),
                &["work", "home", "other"],
            ),
            multi_valued(
                "phoneNumbers",
                "Phone numbers of the user.",
                string("value", "A phone number."),
                &["work", "home", "mobile", "fax", "pager", "other"],
            ),
            multi_valued(
                "ims",
                "Instant messaging addresses of the user.",
                string("value", "An instant messaging address."),
                &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
            ),
            multi_valued(
                "photos",
                "URLs of photos of the user.",
                reference("value", "URL of a photo of the user.", &["external"]),
                &["photo", "thumbnail"],
            ),
            addresses,
            groups,
            multi_valued(
                "entitlements",
                "Entitlements of the user.",
                string("value", "The value of an entitlement."),
                &[],
            ),
            multi_valued(
                "roles",
                "Roles of the user.",
                string("value", "The value of a role."),
                &[],
            ),
            multi_valued(
                "x509Certificates",
                "Certificates issued to the user.",
                AttributeDef::new("value", AttrType::Binary)
                    .with_description("A DER-encoded X.509 certificate, base64-encoded."),
                &[],
            ),
        ],
    )
}

/// The core Group schema as RFC 7643 §8.7.1 characterises it: `displayName` is not marked
/// required there (although §4.2 calls it REQUIRED), and the `members` sub-attributes
/// `value`, `$ref` and `type` are immutable while `members` itself is read-write.
pub fn group_schema() -> SchemaDef {
    let immutable = |a: AttributeDef| a.with_mutability(Mutability::Immutable);
    SchemaDef::new(
        GROUP_SCHEMA_URN,
        "Group",
        "Group",
        vec![
            string("displayName", "A human-readable name for the group."),
            complex(
                "members",
                "The members of the group.",
                vec![
                    immutable(string("value", "The id of the member.")),
                    immutable(reference(
                        "$ref",
                        "The URI of the member.",
                        &["User", "Group"],
                    )),
                    immutable(
                        string("type", "The type of the member, 'User' or 'Group'.")
                            .with_canonical_values(&["User", "Group"]),
                    ),
                ],
            )
            .with_multi_valued(true),
        ],
    )
}

/// The Enterprise User extension as RFC 7643 §8.7.1 characterises it (`manager.displayName`
/// is read-only; nothing is required).
pub fn enterprise_user_schema() -> SchemaDef {
    SchemaDef::new(
        ENTERPRISE_USER_SCHEMA_URN,
        "EnterpriseUser",
        "Enterprise User",
        vec![
            string(
                "employeeNumber",
                "Identifier assigned to the person by the organization.",
            ),
            string("costCenter", "The name of a cost center."),
            string("organization", "The name of an organization."),
            string("division", "The name of a division."),
            string("department", "The name of a department."),
            complex(
                "manager",
                "The user's manager, by the id of another User.",
                vec![
                    string("value", "The id of the manager's User resource."),
                    reference("$ref", "The URI of the manager's User resource.", &["User"]),
                    string("displayName", "The manager's displayName.")
                        .with_mutability(Mutability::ReadOnly),
                ],
            ),
        ],
    )
}

/// The ECMA2Host drop-in extension: each connector attribute the administrator exposes, under
/// its own name exactly as the connector spells it (`-dn-`, `ContosoLogin`, `objectClass`,
/// `userPassword`), in `urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User`.
///
/// Names are case-insensitive in SCIM, so a second attribute whose name differs from an
/// earlier one only in case is dropped (the first wins).
pub fn ecma2host_user_schema(attrs: &[AttributeDef]) -> SchemaDef {
    let mut unique: Vec<AttributeDef> = Vec::with_capacity(attrs.len());
    for a in attrs {
        if !unique.iter().any(|u| u.name.eq_ignore_ascii_case(&a.name)) {
            unique.push(a.clone());
        }
    }
    SchemaDef::new(
        ECMA2HOST_USER_SCHEMA_URN,
        "ECMA2Host User",
        "Connector attributes exposed by the connector host",
        unique,
    )
}

/// The User resource type: core User schema, plus the Enterprise extension (not required)
/// when `enterprise` is true.
pub fn user_resource_schema(enterprise: bool) -> ResourceSchema {
    ResourceSchema {
        name: "User".into(),
        endpoint: "/Users".into(),
        core: user_schema(),
        extensions: if enterprise {
            vec![(enterprise_user_schema(), false)]
        } else {
            Vec::new()
        },
    }
}

/// The Group resource type: core Group schema, no extensions.
pub fn group_resource_schema() -> ResourceSchema {
    ResourceSchema {
        name: "Group".into(),
        endpoint: "/Groups".into(),
        core: group_schema(),
        extensions: Vec::new(),
    }
}

/// The User resource type of the ECMA2Host drop-in mode: the RFC core User schema plus the
/// ECMA2Host extension built from `attrs` (not required).
pub fn ecma2host_resource_schema(attrs: &[AttributeDef]) -> ResourceSchema {
    ResourceSchema {
        name: "User".into(),
        endpoint: "/Users".into(),
        core: user_schema(),
        extensions: vec![(ecma2host_user_schema(attrs), false)],
    }
}
