//! Everything `abridge digest` writes into its output directory: one markdown file per
//! article, `index.md`, `manifest.jsonl`, and the atomic-write layer they go through.
//!
//! Rendering is pure (types in, strings out) so it can be tested without a model; only
//! [`write_atomic`], [`remove_stale_temps`] and [`read_manifest`] touch the disk.

mod article;
mod atomic;
mod index;
mod manifest;
mod markdown;
mod slug;

pub use article::{
    grounded_summary, marked_translation, parse_front_matter, plain_summary, reference,
    render_article, render_results, ArticleDoc, ArticleMeta, TranslationDoc,
};
pub use atomic::{remove_stale_temps, remove_stale_temps_of, write_atomic};
pub(crate) use index::{link_target, plural};
pub use index::{render_index, IndexInfo};
pub use manifest::{parse_manifest, read_manifest, render_manifest, ManifestEntry, Status};
pub(crate) use markdown::{escape_inline, paragraph_start};
pub use slug::{slugify, Slugs};

/// File name of the digest index inside the output directory.
pub const INDEX_FILE: &str = "index.md";
/// File name of the manifest inside the output directory.
pub const MANIFEST_FILE: &str = "manifest.jsonl";
