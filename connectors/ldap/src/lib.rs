//! The LDAP connector: users and groups in an LDAP v3 directory (OpenLDAP, 389 DS, AD LDS…),
//! on contract v2 of `connectors/core`, as MIM's Generic LDAP connector serves the ECMA host.
//!
//! One [`LdapConnector`] serves every object type configured in its [`LdapConfig`]: each type is
//! a set of object classes under one or more bases (with an optional filter), named by a DN
//! template. The schema is discovered from the root DSE and the subschema entry; the anchor is
//! `entryUUID`, `objectGUID`, `nsUniqueId` (389 DS) or the DN; references (`manager`, `member`, `uniqueMember`) are
//! DNs ([`connector_core::ReferenceForm::Dn`]); the password attribute is a write-only secret.
//! Full imports page with the Simple Paged Results control and follow AD's ranged retrieval of
//! large attributes; delta imports use RFC 4533 refreshOnly with the cookie as the watermark
//! (OpenLDAP syncprov, 389 DS content sync), OpenLDAP's accesslog, or timestamp polling. See the
//! crate's `README.md` for every configuration key and what was verified.
//!
//! # Why ldap3, and why async inside a synchronous connector
//!
//! [ldap3](https://docs.rs/ldap3) is the maintained pure-Rust LDAP v3 client: rustls TLS with
//! StartTLS and LDAPS, simple and SASL EXTERNAL binds, paged results, the RFC 4533 controls,
//! Post-Read, Password Modify and WhoAmI, and per-operation timeouts. Nothing else in Rust covers
//! that (ldap3_proto is a server-side codec; this crate does not need it). It is used with
//! rustls (aws-lc-rs, the workspace's one crypto provider) and without its `sync` feature.
//!
//! The [`connector_core::Connector`] trait is synchronous and the host calls it from its
//! blocking pool. ldap3's blocking `LdapConn` runs one current-thread runtime *per connection*
//! and its handle cannot be shared, which rules out a pool used from several threads and an
//! import stream that outlives a call. So the connector owns one small tokio runtime (one worker
//! thread) that drives every connection, and each call blocks on its own future, bounded by the
//! call's [`Deadline`] (see `conn`). A deadline that passes mid-operation is
//! [`ConnectorError::Timeout`] and the connection is dropped; a connection failure is
//! [`ConnectorError::Unavailable`], with failover to the next server and a back-off when all
//! failed. ldap3 panics on some malformed BER: every future runs under `catch_unwind`, so a bad
//! reply is an error, never a crash.
//!
//! # Use
//!
//! The host's registry builds it from the `[connector.ldap]` table, kind `"ldap"`:
//!
//! ```no_run
//! use connector_core::{Connector, Deadline};
//! use connector_ldap::{LdapConfig, LdapConnector};
//!
//! let config: LdapConfig = toml::from_str(r#"
//!     servers = ["ldaps://ldap1.example.com", "ldaps://ldap2.example.com"]
//!     bind_dn = "cn=connector,ou=services,dc=example,dc=com"
//!     bind_password = "resolved by the host from a file or the environment"
//!     delta = "sync"
//!     [tls]
//!     ca_file = "certs/ldap-ca.pem"
//!     [[object]]
//!     type = "User"
//!     object_classes = ["inetOrgPerson"]
//!     base = "ou=people,dc=example,dc=com"
//!     rdn_attribute = "uid"
//! "#)?;
//! let connector = LdapConnector::new(config, std::path::Path::new("/etc/connector-host"))?;
//! println!("{}", connector.test_connection(Deadline::after(std::time::Duration::from_secs(30)))?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! [`config`] (the `[connector.ldap]` table), `conn` (runtime, TLS, pool, failover, deadlines),
//! `errors` (result codes → [`ConnectorError`]), [`dn`] (RFC 4514/4515 escaping, DN parsing,
//! templates), `schema` (root DSE, subschema, the model of each object type), `value` (values
//! and anchors), `entry` (search by anchor, ranged retrieval, entries → objects), `export`
//! (changes → operations), `import` (paged full imports, sync and timestamp delta imports) and
//! `accesslog` (delta imports from OpenLDAP's accesslog).
//!
//! **Invariants.** Every value placed in a DN or a filter is escaped ([`dn`]). Secrets are
//! written only through `Secret::expose`, never requested by a search, dropped if returned, and
//! never logged; the bind password is redacted from `Debug`. Anchors never change across
//! renames (`entryUUID`/`objectGUID`; with `anchor = "dn"` renames are refused).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use connector_core::{
    Anchor, Capabilities, Change, Connector, ConnectorError, ConnectorObject, ConnectorSchema,
    Deadline, ExportOutcome, ExportStyle, ImportStream, ReferenceForm, Watermark,
};
use ldap3::Scope;

mod accesslog;
pub mod config;
mod conn;
pub mod dn;
mod entry;
mod errors;
mod export;
mod import;
mod schema;
mod value;

pub use config::{
    AnchorConfig, BindMethod, DeltaMode, ExportStyleName, LdapConfig, ObjectConfig, OneOrMany,
    PasswordMode, ScopeName, TlsConfig,
};
pub use conn::fingerprint;

use conn::Pool;
use schema::{Model, ServerInfo, Subschema};

/// The LDAP connector.
pub struct LdapConnector {
    config: LdapConfig,
    pool: Pool,
    model: Mutex<Option<Arc<Model>>>,
}

impl std::fmt::Debug for LdapConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConnector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LdapConnector {
    /// Checks the configuration and prepares the pool and TLS; relative certificate paths are
    /// resolved against `base_dir`. No connection is opened: a server that is down now only
    /// fails the calls made while it is down (`Unavailable`).
    pub fn new(config: LdapConfig, base_dir: &Path) -> Result<Self, ConnectorError> {
        validate(&config)?;
        let pool = Pool::new(&config, base_dir)?;
        tracing::debug!(servers = ?config.servers, "LDAP connector ready");
        Ok(LdapConnector {
            config,
            pool,
            model: Mutex::new(None),
        })
    }

    /// The configuration this connector runs with.
    pub fn config(&self) -> &LdapConfig {
        &self.config
    }

    /// Forgets the discovered schema, so the next call reads it again.
    pub fn refresh_schema(&self) {
        *self.model.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn page_size(&self, asked: usize) -> usize {
        if asked == 0 {
            self.config.page_size
        } else {
            asked
        }
    }

    /// The model, discovered on first use.
    fn model(&self, deadline: Deadline) -> Result<Arc<Model>, ConnectorError> {
        if let Some(m) = self
            .model
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(m);
        }
        let mut conn = self.pool.get(deadline)?;
        let (info, subschema) = conn.run(deadline, "schema discovery", async |ldap| {
            let attrs: Vec<String> = schema::ROOT_DSE_ATTRIBUTES
                .iter()
                .map(|a| (*a).to_owned())
                .collect();
            let (mut root, _) =
                entry::search(ldap, "", Scope::Base, "(objectClass=*)", &attrs, vec![]).await?;
            let root = root.pop().unwrap_or_default();
            let texts: std::collections::HashMap<String, Vec<String>> = root
                .values
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.iter()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .collect(),
                    )
                })
                .collect();
            let info = ServerInfo::from_root_dse(&texts);
            let (mut sub, _) = entry::search(
                ldap,
                &info.subschema,
                Scope::Base,
                "(objectClass=subschema)",
                &["objectClasses".to_owned(), "attributeTypes".to_owned()],
                vec![],
            )
            .await?;
            let sub = sub.pop().unwrap_or_default();
            let text = |name: &str| -> Vec<String> {
                sub.get(name)
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect()
            };
            let subschema = Subschema::parse(&text("objectClasses"), &text("attributeTypes"));
            Ok((info, subschema))
        })?;
        let model = Arc::new(schema::build(&self.config, info, &subschema)?);
        if self.config.delta == DeltaMode::Sync && !model.server.supports_control(schema::oid::SYNC)
        {
            return Err(ConnectorError::misconfigured(format!(
                "delta = \"sync\" but {} does not offer the content sync control (RFC 4533)",
                model.server.vendor
            )));
        }
        if self.config.password_mode == PasswordMode::PasswordModify
            && !model
                .server
                .supports_extension(schema::oid::PASSWORD_MODIFY)
        {
            return Err(ConnectorError::misconfigured(format!(
                "password_mode = \"password_modify\" but {} does not offer the Password Modify extended operation (RFC 3062)",
                model.server.vendor
            )));
        }
        *self.model.lock().unwrap_or_else(PoisonError::into_inner) = Some(model.clone());
        Ok(model)
    }
}

fn validate(config: &LdapConfig) -> Result<(), ConnectorError> {
    let bad = |m: String| Err(ConnectorError::misconfigured(m));
    if config.objects.is_empty() {
        return bad("no object type is configured: add an [[object]] table".into());
    }
    if config.page_size == 0 {
        return bad("page_size must be at least 1".into());
    }
    if config.delta == DeltaMode::Sync && !config.anchor.carried_by_sync() {
        return bad(
            "delta = \"sync\" reports deletes by entryUUID (OpenLDAP) or nsUniqueId (389 DS), \
             so it needs anchor = \"entryUUID\" or \"nsUniqueId\""
                .into(),
        );
    }
    if config.delta == DeltaMode::Accesslog && config.anchor != AnchorConfig::EntryUuid {
        return bad(
            "delta = \"accesslog\" names entries by reqEntryUUID, so it needs anchor = \"entryUUID\""
                .into(),
        );
    }
    let attribute_name = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    if !attribute_name(&config.timestamp_attribute) {
        return bad(format!(
            "timestamp_attribute {:?} is not an attribute name",
            config.timestamp_attribute
        ));
    }
    for (i, o) in config.objects.iter().enumerate() {
        if o.object_type.trim().is_empty() || o.object_classes.is_empty() {
            return bad(format!(
                "object #{} needs a type and at least one object class",
                i + 1
            ));
        }
        if config
            .objects
            .iter()
            .skip(i + 1)
            .any(|p| p.object_type.eq_ignore_ascii_case(&o.object_type))
        {
            return bad(format!("object type {} is configured twice", o.object_type));
        }
        if o.dn_template.is_some() == o.rdn_attribute.is_some() {
            return bad(format!(
                "object type {}: set exactly one of rdn_attribute and dn_template",
                o.object_type
            ));
        }
        if let Some(t) = &o.dn_template {
            dn::DnTemplate::parse(t).map_err(|e| {
                ConnectorError::misconfigured(format!("object type {}: {e}", o.object_type))
            })?;
        }
        for base in o.base.to_vec() {
            if dn::Dn::parse(&base).is_none_or(|d| d.rdns.is_empty()) {
                return bad(format!(
                    "object type {}: base {base:?} is not a DN",
                    o.object_type
                ));
            }
        }
    }
    Ok(())
}

impl Connector for LdapConnector {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            delta_import: self.config.delta != DeltaMode::None,
            export_style: match self.config.export_style {
                ExportStyleName::Update => ExportStyle::AttributeUpdate,
                ExportStyleName::Replace => ExportStyle::ObjectReplace,
            },
            anchor_assigned_by_target: true,
            renames: self.config.anchor != AnchorConfig::Dn,
            reference_form: ReferenceForm::Dn,
            concurrent_exports: true,
        }
    }

    fn schema(&self, deadline: Deadline) -> Result<ConnectorSchema, ConnectorError> {
        Ok(self.model(deadline)?.schema.clone())
    }

    fn test_connection(&self, deadline: Deadline) -> Result<String, ConnectorError> {
        self.refresh_schema();
        let model = self.model(deadline)?;
        let mut conn = self.pool.get(deadline)?;
        let server = self.pool.describe(conn.server());
        let who = conn.run(deadline, "WhoAmI", async |ldap| {
            Ok(ldap
                .extended(ldap3::exop::WhoAmI)
                .await
                .ok()
                .and_then(|r| r.success().ok())
                .and_then(|(exop, _)| exop.val)
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "anonymous".into()))
        })?;
        let types: Vec<String> = model
            .objects
            .iter()
            .map(|o| {
                format!(
                    "{} ({} under {}: {} attributes)",
                    o.name,
                    o.object_classes.join("+"),
                    o.bases.join("; "),
                    o.order.len()
                )
            })
            .collect();
        let info = &model.server;
        Ok(format!(
            "{} at {server}, bound as {who}; naming contexts: {}; controls: {}; extended operations: {}; {} object classes in the schema; object types: {}",
            info.vendor,
            info.naming_contexts.join(", "),
            info.notable_controls().join(", "),
            info.notable_extensions().join(", "),
            model.class_count,
            types.join(", ")
        ))
    }

    fn export(&self, change: &Change, deadline: Deadline) -> Result<ExportOutcome, ConnectorError> {
        deadline.check("the export")?;
        let model = self.model(deadline)?;
        let obj = model.object(change.object_type())?;
        let ctx = export::Ctx {
            config: &self.config,
            model: &model,
            obj,
        };
        let mut conn = self.pool.get(deadline)?;
        let result = conn.run(deadline, "the export", async |ldap| {
            export::apply(ldap, &ctx, change).await
        });
        match &result {
            Ok(o) => tracing::debug!(op = change.operation(), anchor = %o.anchor, "exported"),
            Err(e) => tracing::debug!(op = change.operation(), error = %e, "export failed"),
        }
        result
    }

    fn read(
        &self,
        object_type: &str,
        anchor: &Anchor,
        deadline: Deadline,
    ) -> Result<Option<ConnectorObject>, ConnectorError> {
        let model = self.model(deadline)?;
        let obj = model.object(object_type)?;
        let mut conn = self.pool.get(deadline)?;
        let anchor_config = &self.config.anchor;
        conn.run(
            deadline,
            "a read by anchor",
            async |ldap| match entry::find(
                ldap,
                obj,
                anchor_config,
                anchor.as_str(),
                &obj.requested,
            )
            .await?
            {
                Some(e) => Ok(Some(e.to_object(obj, anchor_config)?)),
                None => Ok(None),
            },
        )
    }

    fn full_import<'a>(
        &'a self,
        object_type: &str,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        deadline.check("the full import")?;
        let model = self.model(deadline)?;
        let (index, obj) = model.object_at(object_type)?;
        if !model.server.supports_control(schema::oid::PAGED_RESULTS) {
            return Err(ConnectorError::misconfigured(format!(
                "{} does not offer the paged results control, which full imports need",
                model.server.vendor
            )));
        }
        let mut conn = self.pool.get(deadline)?;
        // Take the watermark before reading, so a change made meanwhile is not lost.
        let watermark = match self.config.delta {
            DeltaMode::Sync => {
                let cookies = conn.run(deadline, "reading the sync cookie", async |ldap| {
                    import::current_cookies(ldap, obj, model.server.is_389()).await
                })?;
                Some(import::encode_watermark(&cookies))
            }
            DeltaMode::Timestamp => {
                Some(import::timestamp_watermark(self.config.timestamp_overlap))
            }
            DeltaMode::Accesslog => {
                let base = self.config.accesslog_base.clone();
                Some(
                    conn.run(deadline, "reading the accesslog watermark", async |ldap| {
                        accesslog::current(ldap, &base).await
                    })?,
                )
            }
            DeltaMode::None => None,
        };
        let cursor =
            import::Cursor::new(self, model.clone(), index, conn, self.page_size(page_size));
        Ok(Box::new(import::FullImport::new(cursor, watermark)))
    }

    fn delta_import<'a>(
        &'a self,
        object_type: &str,
        since: &Watermark,
        page_size: usize,
        deadline: Deadline,
    ) -> Result<Box<dyn ImportStream + 'a>, ConnectorError> {
        deadline.check("the delta import")?;
        if self.config.delta == DeltaMode::None {
            return Err(ConnectorError::misconfigured(
                "delta imports are off for this LDAP connector (delta = \"none\")",
            ));
        }
        let model = self.model(deadline)?;
        let (index, obj) = model.object_at(object_type)?;
        if self.config.delta == DeltaMode::Timestamp {
            let since = import::decode_timestamp(since).ok_or_else(|| {
                ConnectorError::resync_required(format!(
                    "the watermark {:?} is not a timestamp watermark of this LDAP connector",
                    since.0
                ))
            })?;
            // Taken before reading: a change made meanwhile is read again next time.
            let next = import::timestamp_watermark(self.config.timestamp_overlap);
            let filter = format!(
                "(&{}({}>={}))",
                obj.filter,
                self.config.timestamp_attribute,
                dn::escape_filter_value(&since)
            );
            let conn = self.pool.get(deadline)?;
            let cursor =
                import::Cursor::new(self, model.clone(), index, conn, self.page_size(page_size));
            return Ok(Box::new(
                import::FullImport::new(cursor, Some(next)).filtered(filter),
            ));
        }
        if self.config.delta == DeltaMode::Accesslog {
            let since = accesslog::decode(since).ok_or_else(|| {
                ConnectorError::resync_required(format!(
                    "the watermark {:?} is not an accesslog watermark of this LDAP connector",
                    since.0
                ))
            })?;
            let conn = self.pool.get(deadline)?;
            return Ok(Box::new(accesslog::AccesslogImport::new(
                self,
                model.clone(),
                index,
                conn,
                since,
                self.page_size(page_size),
            )));
        }
        let cookies = import::decode_watermark(since)
            .filter(|c| c.len() == obj.bases.len())
            .ok_or_else(|| {
                ConnectorError::resync_required(format!(
                    "the watermark {:?} was not made by this LDAP connector for the bases of {}",
                    since.0, obj.name
                ))
            })?;
        let conn = self.pool.get(deadline)?;
        let cursor =
            import::Cursor::new(self, model.clone(), index, conn, self.page_size(page_size));
        Ok(Box::new(import::DeltaImport::new(cursor, cookies)))
    }
}
