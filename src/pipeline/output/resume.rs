//! What an earlier run left in the output folder that this one can reuse, must
//! keep listing, or must not overwrite.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::article::Article;
use crate::error::{Error, Result};
use crate::render::{self, ManifestEntry, Status};

/// The stems of the markdown files in `dir` that are not the digest's: named by no
/// earlier manifest entry and without its front matter (a file written just
/// before a kill has it). Their names are never handed out, so a user's notes in
/// the output folder are not overwritten by an article of the same title.
pub(crate) fn foreign_stems(
    dir: &Path,
    previous: &HashMap<(String, String), ManifestEntry>,
) -> Result<Vec<String>> {
    let owned: std::collections::HashSet<&str> = previous
        .values()
        .filter_map(|e| e.output.as_deref())
        .collect();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(".md") else {
            continue;
        };
        if owned.contains(name) || name == render::INDEX_FILE {
            continue;
        }
        let mut head = Vec::new();
        let ours = std::fs::File::open(entry.path())
            .and_then(|f| std::io::Read::read_to_end(&mut f.take(64 << 10), &mut head))
            .is_ok_and(|_| render::parse_front_matter(&String::from_utf8_lossy(&head)).is_some());
        if !ours {
            stems.push(stem.to_string());
        }
    }
    Ok(stems)
}

/// The earlier entry for `article`, as skipped, if it was done with the same key
/// and its file is still there and still says so.
pub(crate) fn reusable(
    previous: &HashMap<(String, String), ManifestEntry>,
    article: &Article,
    key: &str,
    dir: &Path,
) -> Option<ManifestEntry> {
    let old = previous.get(&(article.input.clone(), article.id.clone()))?;
    let done = matches!(old.status, Status::Ok | Status::Skipped);
    if !done || old.key.as_deref() != Some(key) {
        return None;
    }
    let md = std::fs::read_to_string(dir.join(old.output.as_deref()?)).ok()?;
    let front = render::parse_front_matter(&md)?;
    (front.key == key).then(|| ManifestEntry {
        status: Status::Skipped,
        // a manifest from before fingerprints gets one now
        fingerprint: (old.fingerprint.clone())
            .or_else(|| Some(crate::brief::Fingerprint::of(&article.text))),
        ..old.clone()
    })
}

/// What an earlier run recorded for `article`, to list until this run redoes it:
/// a failure, or an output whose file is still there.
pub(crate) fn earlier(
    previous: &HashMap<(String, String), ManifestEntry>,
    article: &Article,
    dir: &Path,
) -> Option<ManifestEntry> {
    let old = previous.get(&(article.input.clone(), article.id.clone()))?;
    let present = |name: &String| dir.join(name).is_file();
    old.output.as_ref().is_none_or(present).then(|| old.clone())
}

#[cfg(test)]
mod tests {
    use super::super::read_previous;
    use super::*;
    use crate::pipeline::testing::{article, entry};
    use crate::render::{ArticleDoc, INDEX_FILE};

    #[test]
    fn only_files_the_digest_did_not_write_are_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("notes.md", "# My notes\n\nNot an article.\n");
        write("a.md", "listed in the manifest");
        let doc = ArticleDoc {
            meta: crate::render::ArticleMeta {
                title: "B".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        write("b.md", &render::render_article(&doc)); // written, then killed
        write(INDEX_FILE, "# Digest");
        write("c.txt", "not markdown");
        let previous = read_previous(Path::new("/nonexistent"))
            .unwrap()
            .into_iter()
            .chain([(("a".into(), "a".into()), entry("a", Status::Ok, "k"))])
            .collect();
        assert_eq!(foreign_stems(dir.path(), &previous).unwrap(), ["notes"]);
    }
    #[test]
    fn only_an_earlier_output_still_there_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let article = article("T", "00ff");
        let key = |e: &ManifestEntry| (e.input.clone(), e.id.clone());
        let mut old = entry(&article.input, Status::Ok, "k0");
        old.id = article.id.clone();
        let previous = HashMap::from([(key(&old), old.clone())]);
        assert_eq!(earlier(&previous, &article, dir.path()), None, "file gone");
        std::fs::write(dir.path().join(old.output.as_ref().unwrap()), "x").unwrap();
        assert_eq!(earlier(&previous, &article, dir.path()), Some(old.clone()));
        let mut failed = entry(&article.input, Status::Failed, "k0");
        failed.id = article.id.clone();
        let previous = HashMap::from([(key(&failed), failed.clone())]);
        assert_eq!(earlier(&previous, &article, dir.path()), Some(failed));
    }
}
