//! Packed copies of weights, made once and kept: the packed kernels repack a
//! column group's weights on every call, which a prompt's many rows pay for
//! but a decode batch of a few rows does not (on model 207, a 16-row Q4_K
//! decode step spent 40% of its time repacking). While [`keep`] is on (a
//! scheduler that batches sequences turns it on), each tensor's groups are
//! packed on first use and kept beside it, as llama.cpp's CPU repack does at
//! load time: about 1.3x the Q4_K tensors' bytes more memory, only in
//! processes that batch. The kernels and their results are the same; only
//! where the packed bytes come from changes.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static KEEP: AtomicBool = AtomicBool::new(false);

/// Keep packed copies from now on (`true`), or pack on every call (`false`).
/// `ABRIDGE_KEEP_PACKED=0` keeps none whatever is asked (comparisons, or a
/// machine short of memory).
pub fn keep(on: bool) {
    let refused = std::env::var("ABRIDGE_KEEP_PACKED").as_deref() == Ok("0");
    KEEP.store(on && !refused, Ordering::Relaxed);
}

/// Whether packed copies are kept.
pub fn keeping() -> bool {
    KEEP.load(Ordering::Relaxed)
}

/// One column group's packed entries (a `Vec` of the kernel's packed type).
type Group = OnceLock<Box<dyn Any + Send + Sync>>;

/// One weight tensor's kept packed column groups, each made on first use.
#[derive(Default)]
pub struct Kept {
    groups: OnceLock<Box<[Group]>>,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let made = self
            .groups
            .get()
            .map_or(0, |g| g.iter().filter(|g| g.get().is_some()).count());
        write!(f, "Kept({made} groups)")
    }
}

impl Kept {
    /// Group `index` (of `count` in the tensor) packed as `P`, made by `pack`
    /// the first time. A tensor is packed in one layout only (one ISA per
    /// process); a group kept in another type is made again, not reused.
    pub(crate) fn group<P: Send + Sync + 'static>(
        &self,
        index: usize,
        count: usize,
        pack: impl FnOnce() -> Vec<P>,
    ) -> Option<&[P]> {
        let groups = self
            .groups
            .get_or_init(|| (0..count).map(|_| OnceLock::new()).collect());
        let slot = groups.get(index)?;
        let made = slot.get_or_init(|| Box::new(pack()));
        made.downcast_ref::<Vec<P>>().map(Vec::as_slice)
    }
}
