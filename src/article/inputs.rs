//! The digest's INPUT arguments expanded into the files to read, and the articles
//! in them read one at a time.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{
    display_name, read_bytes, read_source, read_source_bytes, text, Article, Rejected,
    SourceArticles, MAX_ARTICLE_BYTES,
};
use crate::error::{Error, Result};

/// How a source is parsed, from its file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Html,
    /// One JSON object per line, one article per object.
    Jsonl,
}

impl Format {
    /// How `abridge read` names it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Jsonl => "jsonl",
        }
    }

    /// The format an extension names; `None` for files a directory walk skips.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" => Self::Text,
            "md" | "markdown" => Self::Markdown,
            "html" | "htm" => Self::Html,
            "jsonl" => Self::Jsonl,
            _ => return None,
        })
    }
}

/// One file (or stdin, as the path `-`) to read articles from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub format: Format,
}

impl Source {
    /// A file named explicitly (or `-`): read whatever its extension, as plain
    /// text if the extension is unknown.
    pub fn named(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            format: Format::from_path(path).unwrap_or(Format::Text),
        }
    }

    /// How the digest names it: the path as given, or `-`.
    pub fn input(&self) -> String {
        super::lossless_name(&self.path)
    }

    /// How messages name it: the path, or `<stdin>`.
    pub(super) fn name(&self) -> String {
        display_name(&self.path)
    }

    /// The article id derived from the file stem.
    pub(super) fn id(&self) -> String {
        text::slug(Path::new(&self.name()))
    }
}

/// Expands files, directories (walked recursively in path order, hidden entries
/// and unknown extensions skipped) and `-` (stdin, read as plain text) into
/// sources, each once. A file named explicitly is read whatever its extension,
/// as plain text if the extension is unknown. A missing input, a directory that
/// cannot be listed (see `walk_failure`) or `out` itself is an error for the
/// whole run. Walks skip the folder `out` (the digest's own output, when it lies
/// inside an input directory: its markdown would come back as articles on the
/// next run).
pub fn expand_inputs(inputs: &[PathBuf], out: Option<&Path>) -> Result<Vec<Source>> {
    let out = out.and_then(|o| o.canonicalize().ok());
    let is_out = |dir: &Path| {
        out.as_ref()
            .is_some_and(|o| dir.canonicalize().is_ok_and(|d| d == *o))
    };
    let mut sources = Vec::new();
    for input in inputs {
        if input == Path::new("-") {
            sources.push(Source::named(input));
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|e| Error::io(input, e))?;
        if !meta.is_dir() {
            sources.push(Source::named(input));
            continue;
        }
        if is_out(input) {
            return Err(Error::Input(format!(
                "{} is also the --out folder: the digest would overwrite articles with their \
                 summaries and read its own outputs back; give another --out (a folder inside \
                 it is fine: walks skip it)",
                input.display()
            )));
        }
        let walk = WalkDir::new(input)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_name().to_string_lossy().starts_with('.')
                        || e.file_type().is_dir() && is_out(e.path()))
            });
        for entry in walk {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    if let Some(src) = walk_failure(e, input)? {
                        sources.push(src);
                    }
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            if let Some(format) = Format::from_path(entry.path()) {
                sources.push(Source {
                    path: entry.into_path(),
                    format,
                });
            }
        }
    }
    // `dir dir/a.txt` or `- -` must not read an article twice.
    let mut seen = HashSet::new();
    sources.retain(|s| seen.insert(s.path.clone()));
    Ok(sources)
}

/// What a walk does with an entry it could not follow: a symbolic link to an
/// ancestor is skipped (its files are read through the ancestor); a dangling
/// link to an article file is that article, which then fails to read and is
/// recorded as failed, so one bad link does not stop a nightly run; other
/// dangling links are skipped like any unknown file. A directory that cannot be
/// listed is an error for the whole run: its articles would silently go missing.
fn walk_failure(e: walkdir::Error, input: &Path) -> Result<Option<Source>> {
    let Some(path) = e.path().map(Path::to_path_buf) else {
        return Err(Error::io(input, e.into()));
    };
    if let Some(ancestor) = e.loop_ancestor() {
        tracing::warn!(
            "skipping {}: a link back to {}, whose files are read already",
            path.display(),
            ancestor.display()
        );
        return Ok(None);
    }
    let dangling = e.depth() > 0
        && path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        && !path.exists();
    if !dangling {
        return Err(Error::io(path, e.into()));
    }
    Ok(Format::from_path(&path).map(|format| Source { path, format }))
}

/// The digest's inputs, expanded. Articles are read from them as they are asked
/// for, so that a run holds the texts of the articles in flight, not of all of them.
/// Standard input, which cannot be read twice, is held (one article, at most
/// [`MAX_ARTICLE_BYTES`]).
#[derive(Debug)]
pub struct Inputs {
    sources: Vec<Source>,
    /// Standard input's bytes, or why they could not be read; read once, at open.
    stdin: Option<std::result::Result<Vec<u8>, String>>,
}

impl Inputs {
    /// [`expand_inputs`], then standard input read if it is one of them.
    pub fn open(inputs: &[PathBuf], out: Option<&Path>) -> Result<Self> {
        let sources = expand_inputs(inputs, out)?;
        let stdin = sources.iter().any(is_stdin).then(|| {
            read_bytes(Path::new("-"), MAX_ARTICLE_BYTES, "articles").map_err(|e| e.to_string())
        });
        Ok(Self { sources, stdin })
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    /// Every article of every source, in input order, read as the iterator
    /// advances: one file, or one JSON Lines record, in memory at a time. Each call
    /// reads the files again.
    pub fn articles(&self) -> Articles<'_> {
        Articles {
            inputs: self,
            next: 0,
            current: None,
        }
    }
}

fn is_stdin(src: &Source) -> bool {
    src.path == Path::new("-")
}

/// The articles of [`Inputs`], in order (see [`Inputs::articles`]).
pub struct Articles<'a> {
    inputs: &'a Inputs,
    /// The next source to open.
    next: usize,
    current: Option<SourceArticles<'a>>,
}

impl Iterator for Articles<'_> {
    type Item = std::result::Result<Article, Rejected>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.current.as_mut().and_then(Iterator::next) {
                return Some(item);
            }
            let src = self.inputs.sources.get(self.next)?;
            self.next += 1;
            self.current = Some(match (&self.inputs.stdin, is_stdin(src)) {
                (Some(Ok(bytes)), true) => read_source_bytes(src, bytes),
                (Some(Err(reason)), true) => SourceArticles::rejected(Rejected {
                    input: src.input(),
                    id: src.id(),
                    reason: reason.clone(),
                }),
                _ => read_source(src),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::dir_with;
    use super::*;

    #[test]
    fn walks_directories_sorted_skipping_hidden_and_unknown() {
        let dir = dir_with(&[
            ("b.txt", b"b"),
            ("a/z.md", b"z"),
            ("a/y.HTML", b"y"),
            ("a.txt", b"a"),
            ("c/feed.jsonl", b"{}"),
            ("c/page.htm", b"p"),
            ("c/notes.markdown", b"n"),
            ("c/image.png", b"png"),
            ("c/README", b"r"),
            (".hidden.txt", b"h"),
            (".git/config.txt", b"g"),
            ("empty/.keep.txt", b""),
        ]);
        let sources = expand_inputs(&[dir.path().to_path_buf()], None).unwrap();
        let got: Vec<(String, Format)> = sources
            .iter()
            .map(|s| {
                let rel = s.path.strip_prefix(dir.path()).unwrap();
                (rel.display().to_string(), s.format)
            })
            .collect();
        let want = [
            ("a/y.HTML", Format::Html),
            ("a/z.md", Format::Markdown),
            ("a.txt", Format::Text),
            ("b.txt", Format::Text),
            ("c/feed.jsonl", Format::Jsonl),
            ("c/notes.markdown", Format::Markdown),
            ("c/page.htm", Format::Html),
        ];
        let want: Vec<(String, Format)> = want.iter().map(|(p, f)| (p.to_string(), *f)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn explicit_files_stdin_duplicates_and_empty_dirs() {
        let dir = dir_with(&[("notes.rst", b"x"), ("a.md", b"y"), (".secret.txt", b"s")]);
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let p = |name: &str| dir.path().join(name);
        let inputs = [
            p("notes.rst"),
            PathBuf::from("-"),
            p("empty"),
            p(".secret.txt"),
            p("a.md"),
            dir.path().to_path_buf(),
            PathBuf::from("-"),
        ];
        let sources = expand_inputs(&inputs, None).unwrap();
        let got: Vec<(String, Format)> = sources.iter().map(|s| (s.input(), s.format)).collect();
        let input = |name: &str| p(name).display().to_string();
        assert_eq!(
            got,
            [
                (input("notes.rst"), Format::Text),
                ("-".to_string(), Format::Text),
                (input(".secret.txt"), Format::Text),
                (input("a.md"), Format::Markdown),
            ]
        );
        assert_eq!(
            (sources[1].name(), sources[1].id()),
            ("<stdin>".to_string(), "stdin".to_string())
        );
        assert!(expand_inputs(&[p("empty")], None).unwrap().is_empty());
    }

    /// `digest in --out in/out`: the second run must not read the first one's
    /// markdown back as articles.
    #[test]
    fn the_output_folder_inside_an_input_is_skipped() {
        let dir = dir_with(&[("a.txt", b"a"), ("out/index.md", b"i"), ("out/a.md", b"o")]);
        let out = dir.path().join("out");
        let got = expand_inputs(&[dir.path().to_path_buf()], Some(&out)).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].path.ends_with("a.txt"));
        // Named as `in/./out` or not yet created, the same.
        let dotted = dir.path().join(".").join("out");
        assert_eq!(
            expand_inputs(&[dir.path().to_path_buf()], Some(&dotted)).unwrap(),
            got
        );
        let fresh = dir.path().join("new-out");
        assert_eq!(
            expand_inputs(&[dir.path().to_path_buf()], Some(&fresh))
                .unwrap()
                .len(),
            3
        );
        // The output folder itself as an input: refused, naming it.
        let err = expand_inputs(std::slice::from_ref(&out), Some(&dotted)).unwrap_err();
        assert!(err.to_string().contains("also the --out folder"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn dangling_links_are_failed_articles_and_loops_are_skipped() {
        use std::os::unix::fs::symlink;
        let dir = dir_with(&[("a.txt", b"a"), ("sub/b.txt", b"b")]);
        symlink(dir.path().join("gone.txt"), dir.path().join("link.txt")).unwrap();
        symlink(dir.path().join("gone.png"), dir.path().join("pic.png")).unwrap();
        symlink(dir.path(), dir.path().join("sub/up")).unwrap();
        let inputs = Inputs::open(&[dir.path().to_path_buf()], None).unwrap();
        let rel = |p: &Path| p.strip_prefix(dir.path()).unwrap().display().to_string();
        let got: Vec<String> = inputs.sources().iter().map(|s| rel(&s.path)).collect();
        assert_eq!(got, ["a.txt", "link.txt", "sub/b.txt"]);
        let read: Vec<std::result::Result<String, String>> = inputs
            .articles()
            .map(|a| a.map(|a| a.text).map_err(|r| r.reason))
            .collect();
        assert_eq!(read[0], Ok("a".to_string()));
        let reason = read[1].as_ref().unwrap_err();
        assert!(reason.contains("link.txt"), "{reason}");
        assert_eq!(read[2], Ok("b".to_string()));
    }

    #[test]
    fn missing_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.txt");
        let err = expand_inputs(&[dir.path().to_path_buf(), missing], None).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("nope.txt"), "{err}");
    }
}
