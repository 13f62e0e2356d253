//! A small LDAP server that answers as AD LDS does where that matters to ranged retrieval, for
//! the tests of `ad_ranged.rs` (no AD LDS can run here). Test code only.
//!
//! It speaks real LDAP v3 over TCP (BER decoded with ldap3's `asn1` parser, answers encoded by
//! hand): simple binds succeed; the root DSE publishes no vendor but AD LDS's capability OID, the
//! paged results control and a subschema entry; searches honour base, scope, the requested
//! attributes and `and`/`or`/`not`/equality/presence filters. Like AD with its default
//! `MaxValRange` of 1500, an entry with more values of an attribute than that returns only the
//! first 1500, as `member;range=0-1499`; a request for `member;range=L-*` returns the next 1500 as
//! `member;range=L-H`, or the last ones as `member;range=L-*`. `objectGUID` holds 16 bytes.
//! [`FakeAd::skip_a_range`] makes it answer a follow-up with a range that does not continue
//! where the previous ended, as a broken server would.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ldap3::asn1::{PL, StructureTag, TagClass, parse_tag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// AD's default `MaxValRange`.
pub const MAX_VAL_RANGE: usize = 1500;

const PAGED_RESULTS: &str = "1.2.840.113556.1.4.319";
const AD_LDS_CAPABILITY: &str = "1.2.840.113556.1.4.1851";
const SUBSCHEMA: &str = "CN=Aggregate,CN=Schema,CN=Configuration,CN={FAKE}";

/// One entry: DN and values by attribute name.
#[derive(Debug, Clone)]
pub struct FakeEntry {
    pub dn: String,
    pub attrs: Vec<(String, Vec<Vec<u8>>)>,
}

impl FakeEntry {
    fn get(&self, name: &str) -> Option<&Vec<Vec<u8>>> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

#[derive(Default)]
struct State {
    entries: Vec<FakeEntry>,
    /// Every attribute list asked for with a range option, in order.
    range_requests: Vec<String>,
}

/// The running server; it stops with the test process.
#[derive(Clone)]
pub struct FakeAd {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    skip: Arc<AtomicBool>,
}

impl FakeAd {
    /// Starts the server on a free loopback port with these entries.
    pub fn start(entries: Vec<FakeEntry>) -> FakeAd {
        let state = Arc::new(Mutex::new(State {
            entries,
            range_requests: Vec::new(),
        }));
        let skip = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (st, sk) = (state.clone(), skip.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (socket, _) = listener.accept().await.unwrap();
                    tokio::spawn(serve(socket, st.clone(), sk.clone()));
                }
            });
        });
        FakeAd {
            addr: rx.recv().unwrap(),
            state,
            skip,
        }
    }

    /// `ldap://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ldap://{}", self.addr)
    }

    /// The ranged attribute lists asked for so far.
    pub fn range_requests(&self) -> Vec<String> {
        self.state.lock().unwrap().range_requests.clone()
    }

    /// From now on, answer a request for `attr;range=L-*` with a range starting past `L`.
    pub fn skip_a_range(&self) {
        self.skip.store(true, Ordering::SeqCst);
    }
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>, skip: Arc<AtomicBool>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        // Answer every complete message in the buffer.
        while let Ok((rest, tag)) = parse_tag(&buf).map(|(rest, tag)| (rest.len(), tag)) {
            let used = buf.len() - rest;
            buf.drain(..used);
            let Some(out) = answer(tag, &state, &skip) else {
                return; // unbind, or a message it cannot read: close
            };
            if socket.write_all(&out).await.is_err() {
                return;
            }
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn children(tag: StructureTag) -> Vec<StructureTag> {
    tag.expect_constructed().unwrap_or_default()
}

fn bytes(tag: &StructureTag) -> Vec<u8> {
    match &tag.payload {
        PL::P(b) => b.clone(),
        PL::C(_) => Vec::new(),
    }
}

fn text(tag: &StructureTag) -> String {
    String::from_utf8_lossy(&bytes(tag)).into_owned()
}

fn int(tag: &StructureTag) -> i64 {
    bytes(tag)
        .iter()
        .fold(0i64, |acc, b| (acc << 8) | i64::from(*b))
}

/// The replies to one LDAPMessage, encoded; `None` to close the connection.
fn answer(message: StructureTag, state: &Mutex<State>, skip: &AtomicBool) -> Option<Vec<u8>> {
    let mut parts = children(message).into_iter();
    let id = int(&parts.next()?);
    let op = parts.next()?;
    if op.class != TagClass::Application {
        return None;
    }
    match op.id {
        0 => Some(message_of(id, app(1, &ldap_result(0, "")))),
        2 => None,
        3 => Some(search(id, children(op), state, skip)),
        16 => Some(Vec::new()), // abandon
        23 => Some(message_of(
            id,
            app(24, &ldap_result(2, "not supported by the fake")),
        )),
        _ => Some(message_of(
            id,
            app(op.id as u8 + 1, &ldap_result(53, "read-only fake")),
        )),
    }
}

fn search(id: i64, request: Vec<StructureTag>, state: &Mutex<State>, skip: &AtomicBool) -> Vec<u8> {
    let mut r = request.into_iter();
    let base = r.next().map(|t| text(&t)).unwrap_or_default();
    let scope = r.next().map(|t| int(&t)).unwrap_or(0);
    let (_deref, _size, _time, _types) = (r.next(), r.next(), r.next(), r.next());
    let filter = r.next();
    let wanted: Vec<String> = r
        .next()
        .map(children)
        .unwrap_or_default()
        .iter()
        .map(text)
        .collect();
    let mut out = Vec::new();
    let paged = || {
        // A paged search gets everything in one page and an empty cookie.
        let value = seq(&[integer(0), octet(b"")]);
        ctx_constructed(0, &seq(&[octet(PAGED_RESULTS.as_bytes()), octet(&value)]))
    };
    if base.is_empty() && scope == 0 {
        let dse = FakeEntry {
            dn: String::new(),
            attrs: vec![
                ("objectClass".into(), vec![b"top".to_vec()]),
                ("namingContexts".into(), vec![b"O=Example".to_vec()]),
                ("supportedControl".into(), vec![PAGED_RESULTS.into()]),
                (
                    "supportedCapabilities".into(),
                    vec![AD_LDS_CAPABILITY.into()],
                ),
                ("supportedLDAPVersion".into(), vec![b"3".to_vec()]),
                ("subschemaSubentry".into(), vec![SUBSCHEMA.into()]),
            ],
        };
        out.extend(entry_message(id, &dse, &wanted));
    } else if base.eq_ignore_ascii_case(SUBSCHEMA) {
        out.extend(entry_message(id, &subschema(), &wanted));
    } else {
        let mut st = state.lock().unwrap();
        let ranged: Vec<String> = wanted
            .iter()
            .filter(|w| w.to_ascii_lowercase().contains(";range="))
            .cloned()
            .collect();
        st.range_requests.extend(ranged);
        let matching: Vec<FakeEntry> = st
            .entries
            .iter()
            .filter(|e| in_scope(&e.dn, &base, scope))
            .filter(|e| filter.as_ref().is_none_or(|f| matches(f, e)))
            .cloned()
            .collect();
        drop(st);
        if matching.is_empty() && scope == 0 {
            return message_of(id, app(5, &ldap_result(32, "no such object")));
        }
        for e in &matching {
            out.extend(entry_message_ranged(
                id,
                e,
                &wanted,
                skip.load(Ordering::SeqCst),
            ));
        }
    }
    let done = app(5, &ldap_result(0, ""));
    out.extend(message_with_controls(id, done, paged()));
    out
}

fn in_scope(dn: &str, base: &str, scope: i64) -> bool {
    let (dn, base) = (dn.to_ascii_lowercase(), base.to_ascii_lowercase());
    match scope {
        0 => dn == base,
        1 => dn.split_once(',').is_some_and(|(_, parent)| parent == base),
        _ => dn == base || dn.ends_with(&format!(",{base}")),
    }
}

fn matches(filter: &StructureTag, e: &FakeEntry) -> bool {
    if filter.class != TagClass::Context {
        return true;
    }
    match filter.id {
        0 => children(filter.clone()).iter().all(|f| matches(f, e)),
        1 => children(filter.clone()).iter().any(|f| matches(f, e)),
        2 => !children(filter.clone())
            .first()
            .is_some_and(|f| matches(f, e)),
        3 => {
            let kv = children(filter.clone());
            let (attr, value) = (text(&kv[0]), bytes(&kv[1]));
            e.get(&attr).is_some_and(|vals| {
                vals.iter()
                    .any(|v| v == &value || v.eq_ignore_ascii_case(&value))
            })
        }
        7 => e.get(&text(filter)).is_some(),
        _ => true,
    }
}

/// The values of `e` that `wanted` asks for, with AD's ranges applied.
fn entry_message_ranged(id: i64, e: &FakeEntry, wanted: &[String], skip: bool) -> Vec<u8> {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*");
    let mut attrs: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for (name, values) in &e.attrs {
        let asked_range = wanted.iter().find_map(|w| {
            let (attr, range) = w.split_once(';')?;
            let low = range.to_ascii_lowercase();
            let low = low
                .strip_prefix("range=")?
                .strip_suffix("-*")?
                .parse::<usize>()
                .ok()?;
            attr.eq_ignore_ascii_case(name).then_some(low)
        });
        let asked = all || wanted.iter().any(|w| w.eq_ignore_ascii_case(name));
        let start = match asked_range {
            Some(low) => low + if skip { MAX_VAL_RANGE } else { 0 },
            None if asked => 0,
            None => continue,
        };
        if asked_range.is_none() && values.len() <= MAX_VAL_RANGE {
            attrs.push((name.clone(), values.clone()));
            continue;
        }
        let end = (start + MAX_VAL_RANGE).min(values.len());
        let part = values.get(start..end).unwrap_or_default().to_vec();
        let label = if end >= values.len() {
            format!("{name};range={start}-*")
        } else {
            format!("{name};range={start}-{}", end - 1)
        };
        attrs.push((label, part));
    }
    entry_message(
        id,
        &FakeEntry {
            dn: e.dn.clone(),
            attrs,
        },
        &[],
    )
}

fn entry_message(id: i64, e: &FakeEntry, wanted: &[String]) -> Vec<u8> {
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "*" || w == "+");
    let attrs: Vec<Vec<u8>> = e
        .attrs
        .iter()
        .filter(|(k, _)| all || wanted.iter().any(|w| w.eq_ignore_ascii_case(k)))
        .map(|(k, vals)| {
            let vals: Vec<Vec<u8>> = vals.iter().map(|v| octet(v)).collect();
            seq(&[octet(k.as_bytes()), tlv(0x31, &vals.concat())])
        })
        .collect();
    message_of(id, app(4, &[octet(e.dn.as_bytes()), seq(&attrs)].concat()))
}

fn subschema() -> FakeEntry {
    let classes = [
        "( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass MAY ( cn $ description $ objectGUID ) )",
        "( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MAY member )",
    ];
    let types = [
        "( 2.5.4.0 NAME 'objectClass' SYNTAX '1.3.6.1.4.1.1466.115.121.1.38' )",
        "( 2.5.4.3 NAME 'cn' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )",
        "( 2.5.4.13 NAME 'description' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' )",
        "( 2.5.4.31 NAME 'member' SYNTAX '1.3.6.1.4.1.1466.115.121.1.12' )",
        "( 1.2.840.113556.1.4.2 NAME 'objectGUID' SYNTAX '1.3.6.1.4.1.1466.115.121.1.40' SINGLE-VALUE NO-USER-MODIFICATION )",
    ];
    FakeEntry {
        dn: SUBSCHEMA.into(),
        attrs: vec![
            (
                "objectClasses".into(),
                classes.iter().map(|c| c.as_bytes().to_vec()).collect(),
            ),
            (
                "attributeTypes".into(),
                types.iter().map(|t| t.as_bytes().to_vec()).collect(),
            ),
        ],
    }
}

// ---- BER encoding of the answers ----

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn octet(b: &[u8]) -> Vec<u8> {
    tlv(0x04, b)
}

fn integer(v: i64) -> Vec<u8> {
    let be = v.to_be_bytes();
    let mut skip = 0;
    while skip < 7 && be[skip] == 0 && be[skip + 1] & 0x80 == 0 {
        skip += 1;
    }
    tlv(0x02, &be[skip..])
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn app(id: u8, content: &[u8]) -> Vec<u8> {
    tlv(0x60 | id, content)
}

fn ctx_constructed(id: u8, content: &[u8]) -> Vec<u8> {
    tlv(0xa0 | id, content)
}

fn ldap_result(code: u8, message: &str) -> Vec<u8> {
    [tlv(0x0a, &[code]), octet(b""), octet(message.as_bytes())].concat()
}

fn message_of(id: i64, op: Vec<u8>) -> Vec<u8> {
    seq(&[integer(id), op])
}

fn message_with_controls(id: i64, op: Vec<u8>, controls: Vec<u8>) -> Vec<u8> {
    seq(&[integer(id), op, controls])
}
