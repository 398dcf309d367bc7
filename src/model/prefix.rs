//! The prompt-prefix cache: KV of prompt heads (system prompt, instruction, an
//! article already read) that several requests share, computed once.
//!
//! Entries are only taken at a prompt's cache points, where every prefill stops
//! whether or not the cache has the entry, so a hit gives exactly the KV a miss
//! would compute: results never depend on what was cached before.

use std::collections::HashMap;
use std::sync::Arc;

use super::transformer::KvCache;

pub struct PrefixCache {
    /// By a hash of the prefix tokens; the tokens are kept to rule out collisions.
    entries: HashMap<u64, Entry>,
    bytes: usize,
    limit: usize,
    clock: u64,
    pub hits: u64,
}

struct Entry {
    tokens: Vec<u32>,
    kv: Arc<KvCache>,
    used: u64,
}

impl PrefixCache {
    /// A cache holding at most `limit` bytes of KV (0: off).
    pub fn new(limit: usize) -> Self {
        Self {
            entries: HashMap::new(),
            bytes: 0,
            limit,
            clock: 0,
            hits: 0,
        }
    }

    /// The longest cached prefix of `prompt` among its `points`.
    pub fn lookup(&mut self, prompt: &[u32], points: &[usize]) -> Option<Arc<KvCache>> {
        self.clock += 1;
        for &p in points.iter().rev() {
            if let Some(e) = self.entries.get_mut(&hash(&prompt[..p])) {
                if e.tokens == prompt[..p] {
                    e.used = self.clock;
                    self.hits += 1;
                    return Some(e.kv.clone());
                }
            }
        }
        None
    }

    /// Keeps the KV of `tokens` (a prompt up to one of its cache points),
    /// evicting the least recently used entries past the limit.
    pub fn insert(&mut self, tokens: &[u32], kv: &KvCache) {
        let key = hash(tokens);
        if self.limit == 0 || self.entries.contains_key(&key) {
            return;
        }
        let kv = kv.snapshot();
        let size = kv.bytes();
        if size > self.limit {
            return;
        }
        while self.bytes + size > self.limit {
            let Some((&old, _)) = self.entries.iter().min_by_key(|(_, e)| e.used) else {
                break;
            };
            if let Some(e) = self.entries.remove(&old) {
                self.bytes -= e.kv.bytes();
            }
        }
        self.clock += 1;
        self.bytes += size;
        self.entries.insert(
            key,
            Entry {
                tokens: tokens.to_vec(),
                kv: Arc::new(kv),
                used: self.clock,
            },
        );
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

fn hash(tokens: &[u32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tokens.hash(&mut h);
    h.finish()
}
