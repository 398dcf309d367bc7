//! The KV cache: the keys and values of every position a sequence has run,
//! per layer, held as f16 as llama.cpp holds them.

use super::transformer::Config;
use crate::error::Result;
use crate::kernels::f16::f32_to_f16;

/// Positions 0..capacity-1 of one layer, rounded to f16 as in llama.cpp's
/// default cache: keys (kv_head, position, hd), values transposed
/// (kv_head, hd, position) so the probability-weighted sum runs along a row,
/// as llama.cpp stores them without flash attention.
pub(super) struct LayerCache {
    /// f16 bit patterns, as llama.cpp's cache holds them (half of f32's memory).
    k: Vec<u16>,
    v: Vec<u16>,
    pub(super) n_kv_head: usize,
    pub(super) head_dim: usize,
    /// A multiple of 64: `ggml::attention` reads whole 64-position chunks.
    capacity: usize,
}

impl LayerCache {
    pub(super) fn new(n_kv_head: usize, head_dim: usize, capacity: usize) -> Self {
        let capacity = capacity.max(1).next_multiple_of(64);
        let n = n_kv_head * capacity * head_dim;
        Self {
            k: vec![0; n],
            v: vec![0; n],
            n_kv_head,
            head_dim,
            capacity,
        }
    }

    /// The keys of positions from..to, one after the other (`head_dim` each).
    pub(super) fn keys(&self, kv_head: usize, from: usize, to: usize) -> &[u16] {
        let at = kv_head * self.capacity;
        &self.k[(at + from) * self.head_dim..(at + to) * self.head_dim]
    }

    /// The values of positions from..to as `head_dim` rows (one per
    /// dimension), each `stride` after the previous one: (values, stride).
    pub(super) fn value_rows(&self, kv_head: usize, from: usize, to: usize) -> (&[u16], usize) {
        let first = kv_head * self.head_dim * self.capacity;
        let last = first + (self.head_dim - 1) * self.capacity;
        (&self.v[first + from..last + to], self.capacity)
    }

    /// Stores `t` positions from `pos`; `k`, `v` are (t, kv_head, hd) rows.
    pub(super) fn append(&mut self, k: &[f32], v: &[f32], pos: usize, t: usize) {
        let (nkv, hd, cap) = (self.n_kv_head, self.head_dim, self.capacity);
        for i in 0..t {
            for h in 0..nkv {
                let src = (i * nkv + h) * hd;
                let dst = (h * cap + pos + i) * hd;
                for d in 0..hd {
                    self.k[dst + d] = f32_to_f16(k[src + d]);
                    self.v[(h * hd + d) * cap + pos + i] = f32_to_f16(v[src + d]);
                }
            }
        }
    }

    /// Zeroes positions from..to, as a new cache holds them.
    fn zero(&mut self, from: usize, to: usize) {
        let (hd, cap) = (self.head_dim, self.capacity);
        for h in 0..self.n_kv_head {
            self.k[(h * cap + from) * hd..(h * cap + to) * hd].fill(0);
            for d in 0..hd {
                let row = (h * hd + d) * cap;
                self.v[row + from..row + to].fill(0);
            }
        }
    }

    /// The same positions 0..len in a cache of (at least) `capacity`.
    fn resized(&self, capacity: usize, len: usize) -> Self {
        let mut new = Self::new(self.n_kv_head, self.head_dim, capacity);
        let hd = self.head_dim;
        for h in 0..self.n_kv_head {
            let (old, at) = (h * self.capacity * hd, h * new.capacity * hd);
            new.k[at..at + len * hd].copy_from_slice(&self.k[old..old + len * hd]);
            for d in 0..hd {
                let (old, at) = ((h * hd + d) * self.capacity, (h * hd + d) * new.capacity);
                new.v[at..at + len].copy_from_slice(&self.v[old..old + len]);
            }
        }
        new
    }
}

/// Preallocated keys and values of one sequence: appending a token writes in
/// place instead of re-concatenating the whole cache.
pub struct KvCache {
    pub(super) layers: Vec<LayerCache>,
    pub(super) len: usize,
    pub(super) capacity: usize,
}

impl KvCache {
    pub(super) fn new(c: &Config, capacity: usize) -> Result<Self> {
        let capacity = capacity.max(1).next_multiple_of(64);
        let layers = (0..c.n_layer)
            .map(|_| LayerCache::new(c.n_kv_head, c.head_dim, capacity))
            .collect();
        Ok(Self {
            layers,
            len: 0,
            capacity,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps positions 0..len (drafted tokens past them were not kept). The
    /// dropped positions are zeroed: attention reads whole 64-position chunks,
    /// and the padding must be what a cache that never held them holds.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            for l in &mut self.layers {
                l.zero(len, self.len);
            }
            self.len = len;
        }
    }

    /// The positions held, in a cache of their own size: a prompt prefix to reuse.
    pub fn snapshot(&self) -> KvCache {
        self.extended(self.len)
    }

    /// A copy of the positions held, able to hold `capacity` positions.
    pub fn extended(&self, capacity: usize) -> KvCache {
        let capacity = capacity.max(self.len).max(1).next_multiple_of(64);
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|l| l.resized(capacity, self.len))
                .collect(),
            len: self.len,
            capacity,
        }
    }

    /// Memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| 2 * (l.k.len() + l.v.len()))
            .sum()
    }

    /// The positions held, as bytes: a header (layers, kv heads, head size,
    /// positions), then each layer's keys and values, little-endian f16 bits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let snap = self.snapshot();
        let mut out = Vec::with_capacity(16 + snap.bytes());
        let (nkv, hd) = snap
            .layers
            .first()
            .map_or((0, 0), |l| (l.n_kv_head, l.head_dim));
        for n in [snap.layers.len(), nkv, hd, snap.len] {
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        for l in &snap.layers {
            for x in l.k.iter().chain(&l.v) {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    /// The cache `to_bytes` wrote, if `bytes` is one for a model of config `c`.
    pub(super) fn from_bytes(bytes: &[u8], c: &Config) -> Option<KvCache> {
        let word = |i: usize| -> Option<usize> {
            let b = bytes.get(4 * i..4 * i + 4)?;
            Some(u32::from_le_bytes(b.try_into().ok()?) as usize)
        };
        let (layers, nkv, hd, len) = (word(0)?, word(1)?, word(2)?, word(3)?);
        if (layers, nkv, hd) != (c.n_layer, c.n_kv_head, c.head_dim) || len == 0 {
            return None;
        }
        // The size first: a damaged length must not allocate.
        let per_layer = 2 * 2 * nkv * hd * len.next_multiple_of(64);
        if bytes.len() != 16 + layers * per_layer {
            return None;
        }
        let mut kv = KvCache::new(c, len).ok()?;
        let mut at = 16;
        for l in &mut kv.layers {
            for x in l.k.iter_mut().chain(l.v.iter_mut()) {
                *x = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
                at += 2;
            }
        }
        kv.len = len;
        Some(kv)
    }

    /// Rare (only when a caller underestimates): double, copying what is there.
    pub(super) fn grow(&mut self, needed: usize) -> Result<()> {
        let capacity = needed.max(self.capacity * 2);
        for l in &mut self.layers {
            *l = l.resized(capacity, self.len);
            self.capacity = l.capacity;
        }
        Ok(())
    }
}
