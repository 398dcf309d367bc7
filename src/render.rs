//! Rendering outputs: per-article markdown, the digest index, the manifest.
