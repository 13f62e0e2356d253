//! Which object sits at position N of a type, in memory, so a list page at any `startIndex`
//! costs the same as the first one.
//!
//! SQLite has no counted B-tree: `LIMIT 100 OFFSET 999800` steps through a million index
//! entries (30–55 ms at 1M objects). The list order is the object's internal id, which grows
//! with creation and never changes while the object lives; so the order of a type is a sorted
//! list of ids, and position N is the N-th id. This module keeps that list per object type, in
//! chunks of about a thousand ids with their lengths: finding position N walks the chunk
//! lengths (a thousand additions at 1M objects), inserting or removing one id moves at most one
//! chunk. 8 bytes per object (8 MB at 1M), no SQL, nothing on disk.
//!
//! Chosen over a keyset checkpoint table (every K-th id stored in SQLite) because deletes
//! would shift every later checkpoint and the table would have to be maintained in each write
//! transaction; and over an order-statistic tree because sorted chunks are a page of code.
//!
//! The lists are kept exact by the space itself: single-object writes (`put`, `put_pending`,
//! `remove`, delta imports) report the ids they add and remove, and any other write (a full
//! import merge) simply leaves the lists behind the space's write generation, so they are
//! rebuilt from the `(object_type, anchor)` index at the next page read (about 11 ms at 100k
//! objects in the space benchmark, so of the order of 0.1 s at 1M).

use std::collections::HashMap;

/// Ids per chunk after a rebuild; a chunk splits at twice this.
const CHUNK: usize = 1024;

/// The ids of one object type, ascending.
#[derive(Debug, Default)]
pub(crate) struct RankList {
    chunks: Vec<Vec<i64>>,
    len: usize,
}

impl RankList {
    /// A list of ids sorted ascending (sorted here when they are not).
    pub fn from_ids(mut ids: Vec<i64>) -> RankList {
        ids.sort_unstable();
        ids.dedup();
        let len = ids.len();
        let chunks = ids.chunks(CHUNK).map(<[i64]>::to_vec).collect();
        RankList { chunks, len }
    }

    /// The number of ids.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Up to `limit` ids starting at position `start`.
    pub fn slice(&self, start: usize, limit: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(limit.min(self.len.saturating_sub(start)));
        let mut skip = start;
        for chunk in &self.chunks {
            if out.len() == limit {
                break;
            }
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            let take = (chunk.len() - skip).min(limit - out.len());
            out.extend_from_slice(chunk.get(skip..skip + take).unwrap_or_default());
            skip = 0;
        }
        out
    }

    /// The position of the first id greater than `id` (the number of ids not above it).
    pub fn after(&self, id: i64) -> usize {
        let mut position = 0;
        for chunk in &self.chunks {
            match chunk.last() {
                Some(&last) if last <= id => position += chunk.len(),
                _ => return position + chunk.partition_point(|&x| x <= id),
            }
        }
        position
    }

    /// Adds `id` (nothing when present).
    pub fn insert(&mut self, id: i64) {
        // The first chunk whose last id is not below `id`, else the last chunk: new objects
        // get the highest id, so this is nearly always an append to the last chunk.
        let at = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|&last| last < id));
        let at = at.min(self.chunks.len().saturating_sub(1));
        let Some(chunk) = self.chunks.get_mut(at) else {
            self.chunks.push(vec![id]);
            self.len = 1;
            return;
        };
        match chunk.binary_search(&id) {
            Ok(_) => return,
            Err(pos) => chunk.insert(pos, id),
        }
        self.len += 1;
        if chunk.len() >= 2 * CHUNK {
            let upper = chunk.split_off(CHUNK);
            self.chunks.insert(at + 1, upper);
        }
    }

    /// Removes `id` (nothing when absent).
    pub fn remove(&mut self, id: i64) {
        let at = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|&last| last < id));
        let Some(chunk) = self.chunks.get_mut(at) else {
            return;
        };
        if let Ok(pos) = chunk.binary_search(&id) {
            chunk.remove(pos);
            self.len -= 1;
            if chunk.is_empty() {
                self.chunks.remove(at);
            }
        }
    }
}

/// A change to the set of objects of a type, reported by a write.
#[derive(Debug, Clone)]
pub(crate) enum RankChange {
    Added(String, i64),
    Removed(String, i64),
}

/// The lists of all types built so far, valid at one write generation of the space.
#[derive(Debug, Default)]
pub(crate) struct Ranks {
    /// The space generation these lists describe.
    generation: u64,
    types: HashMap<String, RankList>,
}

impl Ranks {
    /// The list of a type, when it was built and is current at `generation`.
    pub fn current(&self, object_type: &str, generation: u64) -> Option<&RankList> {
        if self.generation != generation {
            return None;
        }
        self.types.get(object_type)
    }

    /// Installs the list of a type read from the space at `generation` (dropping every other
    /// list when they describe an older one).
    pub fn install(&mut self, object_type: &str, generation: u64, list: RankList) {
        if self.generation != generation {
            self.types.clear();
            self.generation = generation;
        }
        self.types.insert(object_type.to_owned(), list);
    }

    /// A write that moved the space from generation `before` to `after` made `changes`: the
    /// lists follow when they described `before`, and are left stale otherwise.
    pub fn advance(&mut self, before: u64, after: u64, changes: &[RankChange]) {
        if self.generation != before {
            return;
        }
        for change in changes {
            match change {
                RankChange::Added(t, id) => {
                    if let Some(list) = self.types.get_mut(t) {
                        list.insert(*id);
                    }
                }
                RankChange::Removed(t, id) => {
                    if let Some(list) = self.types.get_mut(t) {
                        list.remove(*id);
                    }
                }
            }
        }
        self.generation = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A small deterministic generator (xorshift), so the test needs no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, below: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % below
        }
    }

    fn check(list: &RankList, model: &BTreeSet<i64>) {
        let all: Vec<i64> = model.iter().copied().collect();
        assert_eq!(list.len(), all.len());
        assert_eq!(list.slice(0, usize::MAX), all);
        for start in [
            0,
            1,
            all.len() / 2,
            all.len().saturating_sub(3),
            all.len() + 5,
        ] {
            let expected: Vec<i64> = all.iter().skip(start).take(100).copied().collect();
            assert_eq!(list.slice(start, 100), expected, "slice at {start}");
        }
        for probe in [-1, 0, 7, 2500, 5001, 9999, 20_000] {
            assert_eq!(list.after(probe), all.partition_point(|&x| x <= probe));
        }
    }

    #[test]
    fn positions_match_a_sorted_set_through_random_inserts_and_removals() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let initial: Vec<i64> = (0..5000).map(|i| i * 2).collect();
        let mut model: BTreeSet<i64> = initial.iter().copied().collect();
        let mut list = RankList::from_ids(initial);
        check(&list, &model);
        let mut next = 10_000;
        for round in 0..20_000 {
            match rng.next(4) {
                0 => {
                    // Mostly appends, as creations do.
                    next += 1;
                    list.insert(next);
                    model.insert(next);
                }
                1 => {
                    let id = i64::try_from(rng.next(10_000)).unwrap();
                    list.insert(id);
                    model.insert(id);
                }
                _ => {
                    let id = i64::try_from(rng.next(next as u64 + 1)).unwrap();
                    list.remove(id);
                    model.remove(&id);
                }
            }
            if round % 2000 == 0 {
                check(&list, &model);
            }
        }
        check(&list, &model);
        // Emptied completely, then used again.
        for id in model.clone() {
            list.remove(id);
        }
        model.clear();
        check(&list, &model);
        list.insert(3);
        model.insert(3);
        check(&list, &model);
    }

    #[test]
    fn lists_follow_writes_only_from_the_generation_they_describe() {
        let mut ranks = Ranks::default();
        ranks.install("User", 2, RankList::from_ids(vec![1, 2, 3]));
        assert!(ranks.current("User", 2).is_some());
        assert!(ranks.current("Group", 2).is_none());
        ranks.advance(2, 4, &[RankChange::Added("User".into(), 9)]);
        assert!(ranks.current("User", 2).is_none());
        assert_eq!(ranks.current("User", 4).unwrap().slice(0, 10), [1, 2, 3, 9]);
        // A write the lists did not see (generation 4 to 6 without `advance`) leaves them stale.
        ranks.advance(6, 8, &[RankChange::Removed("User".into(), 1)]);
        assert!(ranks.current("User", 8).is_none());
        ranks.install("User", 8, RankList::from_ids(vec![2, 3]));
        assert_eq!(ranks.current("User", 8).unwrap().len(), 2);
    }
}
