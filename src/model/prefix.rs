//! The prompt-prefix cache: KV of prompt heads (system prompt, instruction, an
//! article already read) that several requests share, computed once.
//!
//! Entries are only taken at a prompt's cache points, where every prefill stops
//! whether or not the cache has the entry, so a hit gives exactly the KV a miss
//! would compute: results never depend on what was cached before.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::transformer::{Config, KvCache};
use super::Model;

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

/// Prompt heads kept on disk between runs, so a cold `abridge summarize` does not
/// read the instructions and worked examples again (the summary check's head is
/// about 550 of the seed's 1,800 prompt tokens read): llama.cpp's
/// `--prompt-cache`, for the heads only. Only a prompt's first cache point is
/// kept (its instructions and examples, never an article), in files named by a
/// hash of the tokens salted with everything that shapes the KV: this binary,
/// the model file and the kernels' instruction set. A hit is the KV a miss
/// computes, bit for bit, so outputs never depend on it.
pub struct PrefixStore {
    dir: PathBuf,
    salt: [u8; 32],
}

/// Bytes the store keeps at most; the least recently written go first.
const STORE_LIMIT: u64 = 256 << 20;
const MAGIC: &[u8; 8] = b"abrkv01\n";

impl PrefixStore {
    /// The store for `model`: `$ABRIDGE_PREFIX_STORE` (a folder, or `0` for none),
    /// else `~/.cache/abridge/prefixes`. `None` when off or nothing can be salted.
    pub fn for_model(model: &Model) -> Option<Self> {
        let dir = match std::env::var_os("ABRIDGE_PREFIX_STORE") {
            Some(v) if v == "0" || v.is_empty() => return None,
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(std::env::var_os("HOME")?)
                .join(".cache")
                .join("abridge")
                .join("prefixes"),
        };
        Self::in_dir(dir, model)
    }

    /// The store for `model` in `dir`.
    pub fn in_dir(dir: PathBuf, model: &Model) -> Option<Self> {
        let stamp = |path: &Path| -> Option<String> {
            let meta = std::fs::metadata(path).ok()?;
            let modified = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(format!(
                "{}:{}:{}",
                path.display(),
                meta.len(),
                modified.as_nanos()
            ))
        };
        let exe = std::env::current_exe().ok()?;
        let mut h = Sha256::new();
        for part in [
            stamp(&exe)?,
            stamp(&model.path.canonicalize().ok()?)?,
            format!(
                "{:?}:{}",
                crate::kernels::Isa::detect(),
                crate::kernels::enabled()
            ),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        Some(Self {
            dir,
            salt: h.finalize().into(),
        })
    }

    fn path(&self, tokens: &[u32]) -> PathBuf {
        let mut h = Sha256::new();
        h.update(self.salt);
        for t in tokens {
            h.update(t.to_le_bytes());
        }
        let hex: String = h.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{hex}.kv"))
    }

    /// The stored KV of `tokens`, if any. A damaged file counts as none and is
    /// removed, so the next run writes it again.
    pub fn load(&self, tokens: &[u32], c: &Config) -> Option<KvCache> {
        let path = self.path(tokens);
        let bytes = std::fs::read(&path).ok()?;
        let kv = Self::decode(&bytes, tokens, c);
        if kv.is_none() {
            let _ = std::fs::remove_file(&path);
        }
        kv
    }

    fn decode(bytes: &[u8], tokens: &[u32], c: &Config) -> Option<KvCache> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let stored = rest.get(4..4 + 4 * n)?;
        let same = n == tokens.len()
            && stored
                .chunks_exact(4)
                .zip(tokens)
                .all(|(b, t)| b == t.to_le_bytes());
        if !same {
            return None;
        }
        let kv = KvCache::from_bytes(rest.get(4 + 4 * n..)?, c)?;
        (kv.len() == n).then_some(kv)
    }

    /// Keeps the KV of `tokens` unless kept already. Failing to write loses
    /// nothing but time on the next run, so it is only logged.
    pub fn save(&self, tokens: &[u32], kv: &KvCache) {
        let path = self.path(tokens);
        if path.exists() {
            return;
        }
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
        for t in tokens {
            bytes.extend_from_slice(&t.to_le_bytes());
        }
        bytes.extend_from_slice(&kv.to_bytes());
        // Written aside, then renamed: a reader (another shard) sees all or nothing.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{write}", std::process::id()));
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&tmp, &bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!("prefix store {}: {e}", self.dir.display());
            return;
        }
        self.prune();
    }

    /// Removes the oldest files past [`STORE_LIMIT`].
    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "kv"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        files.sort();
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        for (_, len, path) in files {
            if total <= STORE_LIMIT {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }
}

fn hash(tokens: &[u32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tokens.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::synthetic::TinyGguf;
    use candle_core::quantized::GgmlDType;

    #[test]
    fn a_stored_head_is_the_computed_one_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyGguf::llama_dims(256, 4, 2, 256, 2)
            .weights(GgmlDType::Q4K)
            .write(&path)
            .unwrap();
        let model = Model::load_path("tiny".into(), path).unwrap();
        let store = PrefixStore::in_dir(dir.path().join("prefixes"), &model).unwrap();
        let head: Vec<u32> = (0..70).map(|j| 3 + j % 20).collect();
        let mut kv = model.weights.new_cache(head.len()).unwrap();
        model.weights.forward(&head, &mut kv).unwrap();
        let config = &model.weights.config;
        assert!(store.load(&head, config).is_none());
        store.save(&head, &kv);
        let loaded = store.load(&head, config).expect("stored");
        assert_eq!(loaded.len(), head.len());
        assert_eq!(loaded.to_bytes(), kv.to_bytes());
        // Another prompt, or a damaged file, is no hit.
        assert!(store.load(&head[..69], config).is_none());
        let file = store.path(&head);
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 1]).unwrap();
        assert!(store.load(&head, config).is_none());
        assert!(
            !file.exists(),
            "a damaged file is removed, to be written again"
        );
    }
}
