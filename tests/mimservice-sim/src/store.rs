//! The in-memory MIM Service behind the simulated API: resources, the schema published as
//! resources, Request objects for every change, approvals, MPR-style denials, and the pagers of
//! running searches.
//!
//! Every write goes through [`Store::submit`], as every write to the MIM Service goes through a
//! Request: it is validated (schema, data types, required bindings, referenced objects), checked
//! against the denial rules (an MPR that does not grant) and the approval rules (an
//! authorization workflow), then either applied — with a `Completed` Request carrying
//! `msidmCompletedTime` — or held as an `Authorizing` Request with a pending `Approval`.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::schema::{DataType, Scalar, Schema, format_time, parse_guid, parse_time_exact};
use crate::xpath::{self, Filter};
use crate::{ApprovalRule, DenyRule, Operation, SimOptions};

/// The built-in administrator's ObjectID in every MIM Service.
pub const ADMINISTRATOR: &str = "7fb2b853-24f0-4498-9534-4e10589723c4";

/// An error as the Lithnet API answers it: status, `error.code`, `error.message`, `error.target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub target: Option<String>,
}

impl ApiError {
    pub fn not_found() -> Self {
        ApiError {
            status: 404,
            code: "resource-not-found",
            message: "The specified resource was not found".into(),
            target: None,
        }
    }
    pub fn attribute_not_found(name: &str) -> Self {
        ApiError {
            status: 404,
            code: "attribute-not-found",
            message: format!("The specified attribute '{name}' was not found"),
            target: None,
        }
    }
    /// An `ArgumentException` (`target` is its parameter name).
    pub fn bad_request(message: impl Into<String>, target: Option<&str>) -> Self {
        ApiError {
            status: 400,
            code: "bad-request",
            message: message.into(),
            target: target.map(str::to_owned),
        }
    }
    /// A fault from the MIM Service (`target` is its correlation ID).
    pub fn management(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: "resource-management-exception",
            message: message.into(),
            target: Some(Uuid::new_v4().to_string()),
        }
    }
    /// `PermissionDeniedException`'s message layout.
    pub fn permission_denied(attributes: &[String], source: &str) -> Self {
        let correlation = Uuid::new_v4().to_string();
        ApiError {
            status: 403,
            code: "permission-denied",
            message: format!(
                "Failure message: Permission denied\nAttributes: {}\nSource: {source}\n Additional details: \nCorrelation ID:{correlation}",
                attributes.join(",")
            ),
            target: Some(correlation),
        }
    }
    /// Any other exception in the web service.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            code: "internal-server-error",
            message: message.into(),
            target: None,
        }
    }
}

/// One change to one attribute of an existing resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    Set(String, Vec<Scalar>),
    Add(String, Scalar),
    Remove(String, Scalar),
}

/// A change waiting for the MIM Service to run it.
#[derive(Debug, Clone)]
enum Staged {
    Create {
        id: Uuid,
        object_type: String,
        attrs: BTreeMap<String, Vec<Scalar>>,
    },
    Put {
        id: Uuid,
        updates: Vec<Update>,
    },
    Delete {
        id: Uuid,
    },
}

impl Staged {
    fn target(&self) -> Uuid {
        match self {
            Staged::Create { id, .. } | Staged::Put { id, .. } | Staged::Delete { id } => *id,
        }
    }
    fn operation(&self) -> Operation {
        match self {
            Staged::Create { .. } => Operation::Create,
            Staged::Put { .. } => Operation::Update,
            Staged::Delete { .. } => Operation::Delete,
        }
    }
}

/// How a submitted change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    /// Applied; the resource's ObjectID.
    Applied(Uuid),
    /// Nothing to change: no Request.
    Unchanged(Uuid),
    /// Waiting for approval; the Request's ObjectID.
    Pending(Uuid),
}

/// One resource.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Creation order, as the service's ObjectKey: searches return resources in this order.
    pub seq: u64,
    pub object_type: String,
    pub attrs: BTreeMap<String, Vec<Scalar>>,
}

impl Resource {
    pub fn values(&self, name: &str) -> &[Scalar] {
        self.attrs.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
    fn first_text(&self, name: &str) -> Option<&str> {
        match self.values(name).first() {
            Some(Scalar::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// The state of one paged search, as the service's enumeration context holds it: the filter,
/// the attributes, the current index and the count taken when the search began. The result set
/// is evaluated again for every page.
#[derive(Debug, Clone)]
pub struct Pager {
    pub filter: Filter,
    pub attributes: Option<Vec<String>>,
    pub current_index: usize,
    pub total_count: usize,
    last_used: Instant,
}

/// An API user (Basic credentials) and their Person.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub person: Uuid,
    pub approver: bool,
}

/// The simulated service.
pub struct Store {
    pub schema: Schema,
    objects: HashMap<Uuid, Resource>,
    order: BTreeMap<u64, Uuid>,
    next_seq: u64,
    staged: HashMap<Uuid, Staged>,
    pagers: HashMap<String, Pager>,
    pub users: Vec<User>,
    admin: Uuid,
    approvals: Vec<ApprovalRule>,
    denials: Vec<DenyRule>,
    pager_idle_expiry: Duration,
}

fn now_ms() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

impl Store {
    /// A service with the schema published and one Person per user plus the administrator.
    pub fn new(options: &SimOptions) -> Store {
        let admin = parse_guid(ADMINISTRATOR).unwrap_or_default();
        let mut store = Store {
            schema: Schema::mim(),
            objects: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 1,
            staged: HashMap::new(),
            pagers: HashMap::new(),
            users: Vec::new(),
            admin,
            approvals: options.approvals.clone(),
            denials: options.denials.clone(),
            pager_idle_expiry: options.pager_idle_expiry,
        };
        store.insert(
            admin,
            "Person",
            [
                ("AccountName", Scalar::Str("administrator".into())),
                ("DisplayName", Scalar::Str("Administrator".into())),
            ],
        );
        for u in &options.users {
            let person = Uuid::new_v4();
            store.insert(
                person,
                "Person",
                [
                    ("AccountName", Scalar::Str(u.name.clone())),
                    ("DisplayName", Scalar::Str(u.name.clone())),
                ],
            );
            store.users.push(User {
                name: u.name.clone(),
                password: u.password.clone(),
                person,
                approver: u.approver,
            });
        }
        store.publish_schema();
        store
    }

    fn insert<const N: usize>(&mut self, id: Uuid, object_type: &str, attrs: [(&str, Scalar); N]) {
        let mut map: BTreeMap<String, Vec<Scalar>> = BTreeMap::new();
        for (k, v) in attrs {
            map.entry(k.to_owned()).or_default().push(v);
        }
        self.put_resource(id, object_type, map, self.admin);
    }

    fn put_resource(
        &mut self,
        id: Uuid,
        object_type: &str,
        mut attrs: BTreeMap<String, Vec<Scalar>>,
        creator: Uuid,
    ) {
        attrs.insert("ObjectID".into(), vec![Scalar::Ref(id)]);
        attrs.insert("ObjectType".into(), vec![Scalar::Str(object_type.into())]);
        attrs.insert("CreatedTime".into(), vec![Scalar::Time(now_ms())]);
        attrs.insert("Creator".into(), vec![Scalar::Ref(creator)]);
        attrs.retain(|_, v| !v.is_empty());
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, id);
        self.objects.insert(
            id,
            Resource {
                seq,
                object_type: object_type.into(),
                attrs,
            },
        );
    }

    fn publish_schema(&mut self) {
        let schema = self.schema.clone();
        let mut attr_ids = BTreeMap::new();
        for a in schema.attributes.values() {
            let id = Uuid::new_v4();
            attr_ids.insert(a.name, id);
            self.insert(
                id,
                "AttributeTypeDescription",
                [
                    ("Name", Scalar::Str(a.name.into())),
                    ("DisplayName", Scalar::Str(a.name.into())),
                    ("DataType", Scalar::Str(a.data_type.name().into())),
                    ("Multivalued", Scalar::Bool(a.multivalued)),
                ],
            );
        }
        for t in schema.types.values() {
            let type_id = Uuid::new_v4();
            self.insert(
                type_id,
                "ObjectTypeDescription",
                [
                    ("Name", Scalar::Str(t.name.into())),
                    ("DisplayName", Scalar::Str(t.name.into())),
                ],
            );
            for (name, required) in &t.bindings {
                if let Some(attr_id) = attr_ids.get(name) {
                    self.insert(
                        Uuid::new_v4(),
                        "BindingDescription",
                        [
                            ("BoundObjectType", Scalar::Ref(type_id)),
                            ("BoundAttributeType", Scalar::Ref(*attr_id)),
                            ("Required", Scalar::Bool(*required)),
                            ("DisplayName", Scalar::Str(format!("{} {name}", t.name))),
                        ],
                    );
                }
            }
        }
    }

    /// The user with these Basic credentials.
    pub fn authenticate(&self, name: &str, password: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name) && u.password == password)
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(name))
    }

    pub fn get(&self, id: Uuid) -> Option<&Resource> {
        self.objects.get(&id)
    }

    /// How many resources of a type exist.
    pub fn count(&self, object_type: &str) -> usize {
        self.objects
            .values()
            .filter(|r| r.object_type == object_type)
            .count()
    }

    // ---- values ---------------------------------------------------------------------------

    /// Converts one JSON value to the attribute's type, as Lithnet's `TypeConverter` does.
    fn scalar(data_type: DataType, name: &str, v: &Value) -> Result<Scalar, ApiError> {
        let format = || ApiError::internal("String was not recognized as a valid value.");
        match (data_type, v) {
            (DataType::String | DataType::Text, Value::String(s)) => Ok(Scalar::Str(s.clone())),
            (DataType::String | DataType::Text, Value::Number(n)) => Ok(Scalar::Str(n.to_string())),
            (DataType::String | DataType::Text, Value::Bool(b)) => {
                Ok(Scalar::Str(if *b { "True" } else { "False" }.into()))
            }
            (DataType::Integer, Value::Number(n)) => n.as_i64().map(Scalar::Int).ok_or_else(format),
            (DataType::Integer, Value::String(s)) => {
                s.trim().parse().map(Scalar::Int).map_err(|_| {
                    ApiError::internal("Input string was not in a correct format.")
                })
            }
            (DataType::Boolean, Value::Bool(b)) => Ok(Scalar::Bool(*b)),
            (DataType::Boolean, Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Scalar::Bool(true)),
                "false" => Ok(Scalar::Bool(false)),
                _ => Err(ApiError::internal(
                    "String was not recognized as a valid Boolean.",
                )),
            },
            (DataType::DateTime, Value::String(s)) => parse_time_exact(s)
                .map(Scalar::Time)
                .ok_or_else(|| ApiError::internal("String was not recognized as a valid DateTime.")),
            (DataType::Reference, Value::String(s)) => parse_guid(s).map(Scalar::Ref).ok_or_else(|| {
                ApiError::management(format!(
                    "Failure Message: The value '{s}' of the reference attribute {name} is not a valid resource identifier"
                ))
            }),
            (DataType::Binary, Value::String(s)) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(Scalar::Bin)
                .map_err(|_| ApiError::internal("The input is not a valid Base-64 string.")),
            (_, other) => Err(ApiError::internal(format!(
                "Unsupported data type: cannot convert {other} to {}",
                data_type.name()
            ))),
        }
    }

    /// The values of one attribute in a request body: a value, an array, or `null`/`[]` (clear).
    fn values_of(
        &self,
        object_type: &str,
        name: &str,
        v: &Value,
        creating: bool,
    ) -> Result<Vec<Scalar>, ApiError> {
        let Some(attr) = self.schema.bound(object_type, name) else {
            return Err(ApiError::internal(format!(
                "The attribute '{name}' does not exist on this object"
            )));
        };
        if attr.read_only || (name == "ObjectType" && !creating) {
            return Err(ApiError::internal(format!(
                "An attempt was made to modify the read only attribute {name}"
            )));
        }
        let raw: Vec<&Value> = match v {
            Value::Null => Vec::new(),
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        if raw.len() > 1 && !attr.multivalued {
            return Err(ApiError::internal(format!(
                "Cannot set multiple values on the single-valued attribute {name}"
            )));
        }
        let mut out: Vec<Scalar> = Vec::new();
        for r in raw {
            let s = Self::scalar(attr.data_type, name, r)?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Converts a request body to attribute values for `object_type`.
    pub fn body_values(
        &self,
        object_type: &str,
        body: &Map<String, Value>,
        creating: bool,
    ) -> Result<BTreeMap<String, Vec<Scalar>>, ApiError> {
        let mut out = BTreeMap::new();
        for (name, v) in body {
            if creating && name == "ObjectType" {
                continue;
            }
            out.insert(
                name.clone(),
                self.values_of(object_type, name, v, creating)?,
            );
        }
        Ok(out)
    }

    /// The object type of the resource `id`; 404 when there is none.
    pub fn type_of(&self, id: Uuid) -> Result<String, ApiError> {
        self.get(id)
            .map(|r| r.object_type.clone())
            .ok_or_else(ApiError::not_found)
    }

    /// A PATCH body as updates of the resource `id`: each attribute set to the values given.
    pub fn set_updates(
        &self,
        id: Uuid,
        body: &Map<String, Value>,
    ) -> Result<Vec<Update>, ApiError> {
        let object_type = self.type_of(id)?;
        Ok(self
            .body_values(&object_type, body, false)?
            .into_iter()
            .map(|(n, v)| Update::Set(n, v))
            .collect())
    }

    /// One value given in a URL (`PUT /resources/{id}/{attribute}/{value}`).
    pub fn url_value(&self, object_type: &str, name: &str, text: &str) -> Result<Scalar, ApiError> {
        let attr = self
            .schema
            .bound(object_type, name)
            .ok_or_else(|| ApiError::attribute_not_found(name))?;
        if attr.read_only {
            return Err(ApiError::internal(format!(
                "An attempt was made to modify the read only attribute {name}"
            )));
        }
        Self::scalar(attr.data_type, name, &Value::String(text.to_owned()))
    }

    /// A resource as JSON, in Lithnet's default shape: multi-valued attributes as arrays,
    /// single-valued as scalars, empty attributes left out. With `only`, just those attributes
    /// plus `ObjectID` and `ObjectType`.
    pub fn to_json(&self, r: &Resource, only: Option<&[String]>) -> Value {
        let mut out = Map::new();
        for (name, values) in &r.attrs {
            if let Some(list) = only
                && name != "ObjectID"
                && name != "ObjectType"
                && !list.iter().any(|n| n == name)
            {
                continue;
            }
            let multi = self.schema.attribute(name).is_some_and(|a| a.multivalued);
            let json: Vec<Value> = values.iter().map(scalar_json).collect();
            let v = if multi {
                Value::Array(json)
            } else {
                json.into_iter().next().unwrap_or(Value::Null)
            };
            out.insert(name.clone(), v);
        }
        Value::Object(out)
    }

    // ---- search ---------------------------------------------------------------------------

    /// Compiles a filter; the error is the service's `CannotProcessFilter`.
    pub fn compile(&self, filter: &str) -> Result<Filter, ApiError> {
        xpath::compile(filter, &self.schema).map_err(|e| {
            ApiError::management(format!(
                "Failure Message: Cannot process the filter {filter:?}: {e} (the simulator evaluates a subset of the XPath dialect)"
            ))
        })
    }

    fn matching<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = &'a Resource> + 'a {
        self.order.values().filter_map(move |id| {
            let r = self.objects.get(id)?;
            if let Some(t) = &filter.object_type
                && &r.object_type != t
            {
                return None;
            }
            match &filter.predicate {
                Some(p) if !p.matches(&|name| r.values(name)) => None,
                _ => Some(r),
            }
        })
    }

    /// Every resource matching `filter`, in creation order.
    pub fn search<'a>(&'a self, filter: &'a Filter) -> Vec<&'a Resource> {
        self.matching(filter).collect()
    }

    /// Starts a paged search: counts the result set now, as the service does at `Enumerate`.
    pub fn new_pager(&self, filter: Filter, attributes: Option<Vec<String>>) -> Pager {
        let total_count = self.matching(&filter).count();
        Pager {
            filter,
            attributes,
            current_index: 0,
            total_count,
            last_used: Instant::now(),
        }
    }

    /// The next page of a pager: the result set evaluated again, from `current_index`.
    pub fn next_page(&self, pager: &mut Pager, page_size: usize) -> Vec<Value> {
        let page: Vec<Value> = self
            .matching(&pager.filter)
            .skip(pager.current_index)
            .take(page_size)
            .map(|r| self.to_json(r, pager.attributes.as_deref()))
            .collect();
        pager.current_index += page_size;
        page
    }

    /// Takes a cached pager out (it is put back after the page is served).
    pub fn take_pager(&mut self, key: &str) -> Option<Pager> {
        let expiry = self.pager_idle_expiry;
        self.pagers.retain(|_, p| p.last_used.elapsed() < expiry);
        self.pagers.remove(key)
    }

    pub fn keep_pager(&mut self, key: String, mut pager: Pager) {
        pager.last_used = Instant::now();
        self.pagers.insert(key, pager);
    }

    // ---- writes ---------------------------------------------------------------------------

    fn check_references(&self, values: &[(String, Vec<Scalar>)]) -> Result<(), ApiError> {
        let missing: Vec<String> = values
            .iter()
            .filter(|(_, vs)| {
                vs.iter()
                    .any(|v| matches!(v, Scalar::Ref(id) if !self.objects.contains_key(id)))
            })
            .map(|(n, _)| n.clone())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::permission_denied(
                &missing,
                "ReferencedResourceIsMissing",
            ))
        }
    }

    fn touched(staged: &Staged) -> Vec<(String, Vec<Scalar>)> {
        match staged {
            Staged::Create { attrs, .. } => {
                attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            Staged::Put { updates, .. } => updates
                .iter()
                .map(|u| match u {
                    Update::Set(n, v) => (n.clone(), v.clone()),
                    Update::Add(n, v) => (n.clone(), vec![v.clone()]),
                    Update::Remove(n, _) => (n.clone(), Vec::new()),
                })
                .collect(),
            Staged::Delete { .. } => Vec::new(),
        }
    }

    fn denied(&self, user: &str, object_type: &str, staged: &Staged) -> Option<ApiError> {
        let op = staged.operation();
        let touched = Self::touched(staged);
        self.denials.iter().find_map(|d: &DenyRule| {
            let applies = d.operation == op
                && d.object_type == object_type
                && d.user.as_ref().is_none_or(|u| u.eq_ignore_ascii_case(user));
            if !applies {
                return None;
            }
            match &d.attribute {
                None => Some(ApiError::permission_denied(&[], "RequestEvaluation")),
                Some(a) if touched.iter().any(|(n, _)| n == a) => Some(
                    ApiError::permission_denied(std::slice::from_ref(a), "RequestEvaluation"),
                ),
                Some(_) => None,
            }
        })
    }

    fn needs_approval(&self, object_type: &str, staged: &Staged) -> bool {
        let touched = Self::touched(staged);
        let op = staged.operation();
        self.approvals.iter().any(|rule: &ApprovalRule| {
            rule.object_type == object_type
                && rule.operations.contains(&op)
                && match &rule.attribute {
                    None => true,
                    Some(a) => touched.iter().any(|(n, vs)| {
                        n == a
                            && rule.value.as_ref().is_none_or(|want| {
                                vs.iter().any(|v| scalar_text(v).eq_ignore_ascii_case(want))
                            })
                    }),
                }
        })
    }

    /// Submits a create as `actor` (a user name; `None` is the administrator acting in the
    /// Portal, to whom no denial or approval rule applies).
    pub fn create(
        &mut self,
        actor: Option<&str>,
        object_type: &str,
        attrs: BTreeMap<String, Vec<Scalar>>,
    ) -> Result<Submitted, ApiError> {
        let Some(t) = self.schema.object_type(object_type) else {
            return Err(ApiError::internal(format!(
                "The object type '{object_type}' does not exist in the schema"
            )));
        };
        if t.system {
            return Err(ApiError::management(format!(
                "Failure Message: UnwillingToPerform: the simulator does not create {object_type} resources through the API"
            )));
        }
        let missing: Vec<&str> = t
            .bindings
            .iter()
            .filter(|&(name, required)| {
                *required
                    && !matches!(*name, "ObjectID" | "ObjectType")
                    && attrs.get(*name).is_none_or(Vec::is_empty)
            })
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(ApiError::management(format!(
                "Failure Message: InvalidRepresentation: the required attribute(s) {} of {object_type} are missing",
                missing.join(", ")
            )));
        }
        let staged = Staged::Create {
            id: Uuid::new_v4(),
            object_type: object_type.into(),
            attrs,
        };
        self.submit(actor, object_type, staged)
    }

    /// Submits updates to an existing resource.
    pub fn update(
        &mut self,
        actor: Option<&str>,
        id: Uuid,
        updates: Vec<Update>,
    ) -> Result<Submitted, ApiError> {
        let r = self.objects.get(&id).ok_or_else(ApiError::not_found)?;
        // Keep only what changes something, as Lithnet sends only the changed values.
        let effective: Vec<Update> = updates
            .into_iter()
            .filter(|u| match u {
                Update::Set(n, v) => r.values(n) != v.as_slice(),
                Update::Add(n, v) => !r.values(n).contains(v),
                Update::Remove(n, v) => r.values(n).contains(v),
            })
            .collect();
        if effective.is_empty() {
            return Ok(Submitted::Unchanged(id));
        }
        let object_type = r.object_type.clone();
        self.submit(
            actor,
            &object_type,
            Staged::Put {
                id,
                updates: effective,
            },
        )
    }

    /// Submits a delete.
    pub fn delete(&mut self, actor: Option<&str>, id: Uuid) -> Result<Submitted, ApiError> {
        let r = self.objects.get(&id).ok_or_else(ApiError::not_found)?;
        let object_type = r.object_type.clone();
        if self
            .schema
            .object_type(&object_type)
            .is_some_and(|t| t.system)
        {
            return Err(ApiError::management(format!(
                "Failure Message: UnwillingToPerform: the simulator does not delete {object_type} resources through the API"
            )));
        }
        self.submit(actor, &object_type, Staged::Delete { id })
    }

    fn submit(
        &mut self,
        actor: Option<&str>,
        object_type: &str,
        staged: Staged,
    ) -> Result<Submitted, ApiError> {
        self.check_references(&Self::touched(&staged))?;
        let creator = actor
            .and_then(|a| self.user(a))
            .map(|u| u.person)
            .unwrap_or(self.admin);
        if let Some(user) = actor {
            if let Some(denied) = self.denied(user, object_type, &staged) {
                return Err(denied);
            }
            if self.needs_approval(object_type, &staged) {
                let request = self.record_request(creator, object_type, &staged, "Authorizing");
                let approvers: Vec<Scalar> = self
                    .users
                    .iter()
                    .filter(|u| u.approver)
                    .map(|u| Scalar::Ref(u.person))
                    .collect();
                let mut attrs = BTreeMap::new();
                attrs.insert("Request".to_owned(), vec![Scalar::Ref(request)]);
                attrs.insert(
                    "ApprovalStatus".to_owned(),
                    vec![Scalar::Str("Pending".into())],
                );
                attrs.insert("Approver".to_owned(), approvers);
                attrs.insert(
                    "DisplayName".to_owned(),
                    vec![Scalar::Str(format!("Approval of request {request}"))],
                );
                self.put_resource(Uuid::new_v4(), "Approval", attrs, self.admin);
                self.staged.insert(request, staged);
                return Ok(Submitted::Pending(request));
            }
        }
        let target = staged.target();
        self.apply(&staged, creator);
        self.record_request(creator, object_type, &staged, "Completed");
        Ok(Submitted::Applied(target))
    }

    fn apply(&mut self, staged: &Staged, creator: Uuid) {
        match staged {
            Staged::Create {
                id,
                object_type,
                attrs,
            } => {
                let object_type = object_type.clone();
                self.put_resource(*id, &object_type, attrs.clone(), creator);
            }
            Staged::Put { id, updates } => {
                if let Some(r) = self.objects.get_mut(id) {
                    for u in updates {
                        match u {
                            Update::Set(n, v) => {
                                r.attrs.insert(n.clone(), v.clone());
                            }
                            Update::Add(n, v) => {
                                let multi = self.schema.attribute(n).is_some_and(|a| a.multivalued);
                                let values = r.attrs.entry(n.clone()).or_default();
                                if !multi {
                                    values.clear();
                                }
                                if !values.contains(v) {
                                    values.push(v.clone());
                                }
                            }
                            Update::Remove(n, v) => {
                                if let Some(values) = r.attrs.get_mut(n) {
                                    values.retain(|x| x != v);
                                }
                            }
                        }
                    }
                    r.attrs.retain(|_, v| !v.is_empty());
                }
            }
            Staged::Delete { id } => {
                if let Some(r) = self.objects.remove(id) {
                    self.order.remove(&r.seq);
                }
                // The service removes references to a deleted resource from every other one.
                let gone = Scalar::Ref(*id);
                for r in self.objects.values_mut() {
                    for values in r.attrs.values_mut() {
                        values.retain(|v| v != &gone);
                    }
                    r.attrs.retain(|_, v| !v.is_empty());
                }
            }
        }
    }

    fn record_request(
        &mut self,
        creator: Uuid,
        object_type: &str,
        staged: &Staged,
        status: &str,
    ) -> Uuid {
        let id = Uuid::new_v4();
        let target = staged.target();
        let operation = match staged.operation() {
            Operation::Create => "Create",
            Operation::Update => "Put",
            Operation::Delete => "Delete",
        };
        let label = self
            .objects
            .get(&target)
            .and_then(|r| r.first_text("DisplayName").or(r.first_text("AccountName")))
            .unwrap_or("")
            .to_owned();
        let mut attrs = BTreeMap::new();
        let mut set = |k: &str, v: Scalar| {
            attrs.insert(k.to_owned(), vec![v]);
        };
        set("Operation", Scalar::Str(operation.into()));
        set("Target", Scalar::Ref(target));
        set("TargetObjectType", Scalar::Str(object_type.into()));
        set("RequestStatus", Scalar::Str(status.into()));
        set(
            "DisplayName",
            Scalar::Str(format!("{operation} {object_type}: '{label}' Request")),
        );
        if status == "Completed" {
            set("msidmCompletedTime", Scalar::Time(now_ms()));
        }
        self.put_resource(id, "Request", attrs, creator);
        id
    }

    /// Approves or rejects the pending Request `request` (as its approval would).
    pub fn decide(&mut self, request: Uuid, approve: bool) -> Result<(), ApiError> {
        let staged = self.staged.remove(&request).ok_or_else(|| {
            ApiError::internal(format!(
                "The request {request} is not waiting for an approval"
            ))
        })?;
        let creator = self
            .objects
            .get(&request)
            .and_then(|r| match r.values("Creator").first() {
                Some(Scalar::Ref(c)) => Some(*c),
                _ => None,
            })
            .unwrap_or(self.admin);
        let status = if approve {
            // The approved change is run now; it may fail if the world moved on meanwhile.
            let still_valid = match &staged {
                Staged::Create { .. } => true,
                Staged::Put { id, .. } | Staged::Delete { id } => self.objects.contains_key(id),
            };
            if still_valid {
                self.apply(&staged, creator);
                "Completed"
            } else {
                "Failed"
            }
        } else {
            "Denied"
        };
        let completed = now_ms();
        if let Some(r) = self.objects.get_mut(&request) {
            r.attrs
                .insert("RequestStatus".into(), vec![Scalar::Str(status.into())]);
            r.attrs
                .insert("msidmCompletedTime".into(), vec![Scalar::Time(completed)]);
        }
        let decision = if approve { "Approved" } else { "Rejected" };
        for r in self.objects.values_mut() {
            if r.object_type == "Approval" && r.values("Request") == [Scalar::Ref(request)] {
                r.attrs
                    .insert("ApprovalStatus".into(), vec![Scalar::Str(decision.into())]);
            }
        }
        Ok(())
    }

    /// The Requests waiting for an approval.
    pub fn pending_requests(&self) -> Vec<Uuid> {
        let mut v: Vec<(u64, Uuid)> = self
            .staged
            .keys()
            .filter_map(|id| self.objects.get(id).map(|r| (r.seq, *id)))
            .collect();
        v.sort();
        v.into_iter().map(|(_, id)| id).collect()
    }

    /// The Approval resources a user may decide, optionally with one `ApprovalStatus`.
    pub fn approvals_for(&self, user: &User, status: Option<&str>) -> Vec<Value> {
        self.order
            .values()
            .filter_map(|id| self.objects.get(id))
            .filter(|r| {
                r.object_type == "Approval"
                    && r.values("Approver").contains(&Scalar::Ref(user.person))
                    && status.is_none_or(|s| {
                        r.first_text("ApprovalStatus")
                            .is_some_and(|a| a.eq_ignore_ascii_case(s))
                    })
            })
            .map(|r| self.to_json(r, None))
            .collect()
    }

    /// The Request an Approval is for.
    pub fn approval_request(&self, approval: Uuid) -> Option<Uuid> {
        let r = self.objects.get(&approval)?;
        if r.object_type != "Approval" {
            return None;
        }
        match r.values("Request").first() {
            Some(Scalar::Ref(id)) => Some(*id),
            _ => None,
        }
    }

    /// Adds resources directly, with no Request (a database restore, a bulk seed for tests).
    pub fn seed(&mut self, object_type: &str, attrs: BTreeMap<String, Vec<Scalar>>) -> Uuid {
        let id = Uuid::new_v4();
        self.put_resource(id, object_type, attrs, self.admin);
        id
    }
}

/// A value as JSON in Lithnet's default (native) value format.
pub fn scalar_json(v: &Scalar) -> Value {
    match v {
        Scalar::Str(s) => Value::String(s.clone()),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Time(t) => Value::String(format_time(*t)),
        Scalar::Ref(id) => Value::String(id.to_string()),
        Scalar::Bin(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// A value as text (`valueFormat=string`, the attribute route's string list).
pub fn scalar_text(v: &Scalar) -> String {
    match scalar_json(v) {
        Value::String(s) => s,
        Value::Bool(b) => if b { "True" } else { "False" }.into(),
        other => other.to_string(),
    }
}
