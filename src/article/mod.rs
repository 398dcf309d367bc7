//! Reading articles, checked before any model time is spent on them.
//!
//! Two ways in:
//! - [`Article::read`] for the single-article commands: one file or standard
//!   input, one article, read as the digest reads it.
//! - [`Inputs`] for the digest: files, directories and stdin; plain text,
//!   markdown, HTML and JSON Lines; legacy encodings decoded with a warning;
//!   whitespace normalized. Articles are read as they are asked for, one file or
//!   one JSON Lines record at a time. Each unusable article becomes a [`Rejected`]
//!   naming the input and the reason, and the batch goes on.

mod html;
mod inputs;
mod jsonl;
mod markdown;
mod page;
mod text;

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, UTF_8};

use crate::error::{Error, Result};

pub use inputs::{expand_inputs, Articles, Format, Inputs, Source};

/// Anything larger is not a news article (and would take hours to summarize).
pub const MAX_ARTICLE_BYTES: usize = 8 * 1024 * 1024;

/// How messages name standard input.
const STDIN_NAME: &str = "<stdin>";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Names it in messages: a path, `path:LINE` for a JSON Lines record, or
    /// `<stdin>`.
    pub source: String,
    /// Names it in the digest, as given on the command line: a path, `path:LINE`
    /// (1-based) for a JSON Lines record, or `-` for standard input.
    pub input: String,
    /// Stable identifier: the record's `id` in JSON Lines, else derived from the
    /// file stem (`stem-LINE` for a JSON Lines record, `stdin` for stdin).
    pub id: String,
    pub title: String,
    pub text: String,
    /// Where, when, by whom and in what language; `about.lang` is identified from
    /// the text when the identifier is sure of it, else as the input declares it
    /// (JSON Lines `lang`, the page's `<html lang>` or metadata, front matter).
    pub about: About,
    /// How it was read.
    pub format: Format,
    /// The encoding its bytes were decoded from ("UTF-8", "windows-1252").
    pub encoding: &'static str,
    /// Hex SHA-256 of the raw bytes this article came from: the whole file, or the
    /// JSON Lines record (without its line terminator).
    pub input_sha256: String,
    /// Things the reader should know, e.g. that the input was not UTF-8.
    pub warnings: Vec<String>,
}

/// An article the digest cannot use; recorded, and the batch moves on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub input: String,
    pub id: String,
    /// One line that names the input.
    pub reason: String,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl Article {
    /// Reads `path`, or standard input when it is `-`, with the digest's readers
    /// (format from the extension, plain text if unknown; legacy encodings decoded
    /// with a warning). A JSON Lines file must hold exactly one article.
    pub fn read(path: &Path) -> Result<Self> {
        let src = Source::named(path);
        let bytes = read_bytes(path, MAX_ARTICLE_BYTES, "articles")?;
        let mut articles = read_source_bytes(&src, &bytes);
        let first = articles
            .next()
            .ok_or_else(|| Error::Input(format!("{} holds no article", src.name())))?;
        if articles.next().is_some() {
            return Err(Error::Input(format!(
                "{} holds more than one article: summarize and translate take one; \
                 use `abridge digest` for a feed",
                src.name()
            )));
        }
        first.map_err(|r| Error::Input(r.reason))
    }
}

#[cfg(test)]
impl Article {
    /// A plain-text article read from `input`, named after it, for tests.
    pub fn plain(input: &str, text: &str, sha: &str) -> Self {
        Article {
            source: input.into(),
            input: input.into(),
            id: input.into(),
            title: input.into(),
            text: text.into(),
            about: About::default(),
            format: Format::Text,
            encoding: "UTF-8",
            input_sha256: sha.into(),
            warnings: Vec::new(),
        }
    }
}

/// What an input says about its article beyond the text: where and when it was
/// published, by whom, in what language. The front matter and the manifest carry
/// it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct About {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// ISO 639-1 code of the article's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// RFC 3339, or as the input wrote it (a web page's date is RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The outlet's name, as the page gives it ("The Guardian").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// What the readers made of one input, as one JSON object (`abridge read`): the
/// article's fields and text, or the rejection and its reason.
pub fn report(read: &std::result::Result<Article, Rejected>) -> serde_json::Value {
    match read {
        Ok(a) => serde_json::json!({
            "input": a.input,
            "id": a.id,
            "title": a.title,
            "url": a.about.url,
            "lang": a.about.lang,
            "date": a.about.published,
            "author": a.about.author,
            "site": a.about.site,
            "format": a.format.name(),
            "encoding": a.encoding,
            "words": a.text.split_whitespace().count(),
            "input_sha256": a.input_sha256,
            "warnings": a.warnings,
            "text": a.text,
        }),
        Err(r) => serde_json::json!({
            "input": r.input,
            "id": r.id,
            "rejected": r.reason,
        }),
    }
}

/// The articles of one source of the digest, read as they are asked for: one, or
/// one per record for JSON Lines. Never fails as a whole: every problem is a
/// [`Rejected`].
pub fn read_source(src: &Source) -> SourceArticles<'static> {
    let reject = |reason: String| Rejected {
        input: src.input(),
        id: src.id(),
        reason,
    };
    let inner = match src.format {
        Format::Jsonl => match open_file(&src.path) {
            Ok(file) => Inner::File(jsonl::Records::new(src, std::io::BufReader::new(file))),
            Err(e) => Inner::One(Err(reject(e.to_string()))),
        },
        _ => Inner::One(
            read_bytes(&src.path, MAX_ARTICLE_BYTES, "articles")
                .map_err(|e| reject(e.to_string()))
                .and_then(|bytes| read_document(src, &bytes).map_err(reject)),
        ),
    };
    SourceArticles { inner }
}

/// [`read_source`] on bytes already read (standard input, tests, fuzzing): `src`
/// gives the format and the names.
pub fn read_source_bytes<'a>(src: &Source, bytes: &'a [u8]) -> SourceArticles<'a> {
    let inner = match src.format {
        Format::Jsonl => Inner::Bytes(jsonl::Records::new(src, bytes)),
        _ => Inner::One(read_document(src, bytes).map_err(|reason| Rejected {
            input: src.input(),
            id: src.id(),
            reason,
        })),
    };
    SourceArticles { inner }
}

/// The JSON Lines records of any reader, as [`read_source`] reads a `.jsonl` file
/// (tests, fuzzing: a reader that hands out a few bytes at a time splits lines
/// where a file's buffer rarely does).
pub fn read_jsonl<R: std::io::BufRead>(
    src: &Source,
    reader: R,
) -> impl Iterator<Item = std::result::Result<Article, Rejected>> {
    jsonl::Records::new(src, reader)
}

/// The articles of one source (see [`read_source`]).
pub struct SourceArticles<'a> {
    inner: Inner<'a>,
}

impl SourceArticles<'_> {
    fn rejected(rejected: Rejected) -> Self {
        Self {
            inner: Inner::One(Err(rejected)),
        }
    }
}

enum Inner<'a> {
    Done,
    One(std::result::Result<Article, Rejected>),
    File(jsonl::Records<std::io::BufReader<std::fs::File>>),
    Bytes(jsonl::Records<&'a [u8]>),
}

impl Iterator for SourceArticles<'_> {
    type Item = std::result::Result<Article, Rejected>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Done => None,
            Inner::File(records) => records.next(),
            Inner::Bytes(records) => records.next(),
            Inner::One(_) => match std::mem::replace(&mut self.inner, Inner::Done) {
                Inner::One(one) => Some(one),
                _ => unreachable!("matched above"),
            },
        }
    }
}

/// What a format reader found; `text` is normalized afterwards.
#[derive(Debug, Default)]
struct Doc {
    title: Option<String>,
    text: String,
    /// As the input declares it (`lang` before identification).
    about: About,
}

/// The article's language: as identified from the start of its text when the
/// identifier is sure (pages declare their site's language, not the article's: an
/// English article on a German site says `lang="de"`), else as the input declares
/// it (its primary tag, "en-US" -> "en").
fn language(declared: Option<String>, text: &str) -> Option<String> {
    let start = &text[..text.floor_char_boundary(4000)];
    crate::lang::detect_language(start)
        .map(String::from)
        .or_else(|| declared.and_then(|tag| crate::lang::primary_language(&tag)))
}

/// One text, markdown or HTML article; the error is the rejection reason.
fn read_document(src: &Source, bytes: &[u8]) -> std::result::Result<Article, String> {
    let name = src.name();
    let declared = match src.format {
        Format::Html => html::declared_encoding(bytes),
        _ => None,
    };
    let (raw, encoding, mut warnings) = decode(&name, bytes, declared)?;
    let depth = if matches!(src.format, Format::Html | Format::Markdown) {
        html::check_depth(&raw).map_err(|e| format!("{name}: {e}"))?
    } else {
        0
    };
    let doc = match src.format {
        Format::Markdown => markdown::parse(&raw),
        Format::Html => {
            let (doc, warning) = page::read(&raw, depth);
            warnings.extend(warning.map(|w| format!("{name}: {w}")));
            doc
        }
        // Plain text is normalized straight from `raw`, not copied first.
        Format::Text | Format::Jsonl => Doc::default(),
    };
    let text = match src.format {
        Format::Markdown | Format::Html => text::normalize(&doc.text),
        Format::Text | Format::Jsonl => text::normalize(&raw),
    };
    if text.is_empty() {
        return Err(match src.format {
            Format::Html => format!("{name}: no article text found in the HTML"),
            _ => empty(&name),
        });
    }
    let about = About {
        lang: language(doc.about.lang, &text),
        ..doc.about
    };
    Ok(Article {
        source: name,
        input: src.input(),
        id: src.id(),
        title: doc.title.unwrap_or_else(|| text::title(&text)),
        text,
        about,
        format: src.format,
        encoding: encoding.name(),
        input_sha256: text::sha256_hex(bytes),
        warnings,
    })
}

/// Text from bytes in whatever encoding they are, and which, with a warning when
/// that was a guess; the error is the rejection reason. UTF-8 is borrowed, not copied: a
/// feed line may be megabytes.
fn decode<'a>(
    name: &str,
    bytes: &'a [u8],
    declared: Option<&'static Encoding>,
) -> std::result::Result<(Cow<'a, str>, &'static Encoding, Vec<String>), String> {
    // UTF-16 is full of NUL bytes: its BOM must be seen before looks_binary.
    if let Some((enc, bom)) = Encoding::for_bom(bytes).filter(|(enc, _)| *enc != UTF_8) {
        return enc
            .decode_without_bom_handling_and_without_replacement(&bytes[bom..])
            .map(|text| (text, enc, Vec::new()))
            .ok_or_else(|| {
                format!(
                    "{name} starts with a {} BOM but is not valid {0}",
                    enc.name()
                )
            });
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if looks_binary(bytes) {
        return Err(binary(name));
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok((Cow::Borrowed(text), UTF_8, Vec::new()));
    }
    let (enc, mut warnings) = match declared {
        Some(enc) if enc != UTF_8 => (enc, Vec::new()),
        _ => {
            let enc = detect_legacy(bytes);
            let warning = format!(
                "{name}: not valid UTF-8; decoded as {} (detected)",
                enc.name()
            );
            (enc, vec![warning])
        }
    };
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    if had_errors {
        warnings.push(format!(
            "{name}: bytes that are not valid {} were replaced with \u{fffd}",
            enc.name()
        ));
    }
    Ok((text, enc, warnings))
}

/// The legacy encoding of text that is not UTF-8, guessed from its byte
/// statistics (chardetng, Firefox's detector): Windows-1252 for Latin-1 French,
/// Windows-1251 for Russian, Shift_JIS for Japanese...
fn detect_legacy(bytes: &[u8]) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    detector.feed(bytes, true);
    detector.guess(None, Utf8Detection::Deny)
}

/// The bytes of `path` (or stdin for `-`), refused past `limit`.
fn read_bytes(path: &Path, limit: usize, noun: &str) -> Result<Vec<u8>> {
    let name = display_name(path);
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(STDIN_NAME, e))?;
        if bytes.len() > limit {
            return Err(too_large(&name, bytes.len(), limit, noun));
        }
        return Ok(bytes);
    }
    let mut file = open_file(path)?;
    // Checked before reading so that a huge file is not loaded only to be refused.
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.len() > limit as u64 {
        return Err(too_large(&name, meta.len() as usize, limit, noun));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded all the same: a file can grow while it is read.
    (&mut file)
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() > limit {
        return Err(too_large(&name, bytes.len(), limit, noun));
    }
    Ok(bytes)
}

/// `path` opened for reading. Only regular files: a directory is refused by name,
/// and so are pipes, FIFOs and devices, before opening (a FIFO would block the
/// run; `/dev/zero` never ends; a pipe read by the planning pass would be empty
/// for the second).
fn open_file(path: &Path) -> Result<std::fs::File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::Input(format!(
            "{} is a directory, not an article file",
            display_name(path)
        )));
    }
    if !meta.is_file() {
        return Err(Error::Input(format!(
            "{} is not a regular file (a pipe, FIFO, socket or device): articles are read \
             twice, so give a file, or pipe a single article to `-` (standard input)",
            display_name(path)
        )));
    }
    std::fs::File::open(path).map_err(|e| Error::io(path, e))
}

fn display_name(path: &Path) -> String {
    if path == Path::new("-") {
        STDIN_NAME.to_string()
    } else {
        lossless_name(path)
    }
}

/// `path` as text, bytes that are not UTF-8 written `\xFF`: unlike `display`, two
/// different names never read the same (they key the manifest).
pub(crate) fn lossless_name(path: &Path) -> String {
    if let Some(s) = path.to_str() {
        return s.to_string();
    }
    let mut out = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

fn too_large(source: &str, len: usize, limit: usize, noun: &str) -> Error {
    Error::Input(format!(
        "{source} is {} MiB; {noun} over {} MiB are refused: split it first",
        len / (1024 * 1024),
        limit / (1024 * 1024)
    ))
}

fn binary(source: &str) -> String {
    format!("{source} looks like a binary file, not article text")
}

fn empty(source: &str) -> String {
    format!("{source} is empty: no text to summarize")
}

/// A NUL byte, or many control characters, in the first 8 KiB: text files have
/// neither.
fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return true;
    }
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    controls * 20 > head.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` into a fresh directory.
    pub(super) fn dir_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        dir
    }

    /// Reads one file of `format`: its input string and results.
    pub(super) fn read_all(
        name: &str,
        format: Format,
        bytes: &[u8],
    ) -> (String, Vec<std::result::Result<Article, Rejected>>) {
        let dir = dir_with(&[(name, bytes)]);
        let src = Source {
            path: dir.path().join(name),
            format,
        };
        (src.input(), read_source(&src).collect())
    }

    /// Reads one file of `format` and returns its only result.
    pub(super) fn read_one(
        name: &str,
        format: Format,
        bytes: &[u8],
    ) -> std::result::Result<Article, Rejected> {
        let (_, mut results) = read_all(name, format, bytes);
        assert_eq!(results.len(), 1, "{results:?}");
        results.pop().unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_stay_apart() {
        use std::os::unix::ffi::OsStrExt;
        let a = Path::new(std::ffi::OsStr::from_bytes(b"in/a\xff.txt"));
        let b = Path::new(std::ffi::OsStr::from_bytes(b"in/a\xfe.txt"));
        assert_eq!(Source::named(a).input(), "in/a\\xFF.txt");
        assert_ne!(Source::named(a).input(), Source::named(b).input());
        assert_eq!(Source::named(Path::new("in/é.txt")).input(), "in/é.txt");
    }

    /// A FIFO (which would block), a device (which never ends) and a pipe are
    /// failed articles with a reason, found without opening them.
    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_pipes_are_refused_unopened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("feed.txt");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        for path in [fifo.as_path(), Path::new("/dev/zero")] {
            let src = Source::named(path);
            let got: Vec<_> = read_source(&src).collect();
            let [Err(r)] = &got[..] else {
                panic!("{got:?}")
            };
            assert!(r.reason.contains("not a regular file"), "{}", r.reason);
            assert!(
                r.reason.contains(&path.display().to_string()),
                "{}",
                r.reason
            );
        }
    }

    /// The editor commands' reader is the digest's: trimmed and normalized, legacy
    /// encodings decoded with a warning, HTML parsed, one JSON Lines record.
    #[test]
    fn single_article_read_uses_the_digest_readers() {
        let dir = dir_with(&[
            (
                "Big News.txt",
                b"\xef\xbb\xbf# Big  News\r\n\r\n\r\nBody\ttext.\r\n",
            ),
            ("latin1.txt", b"Caf\xe9 cr\xe8me in Z\xfcrich."),
            (
                "page.html",
                b"<html><head><title>Floods</title><script>alert(1)</script></head>\
                  <body><p>Rivers rose.</p></body></html>",
            ),
            (
                "one.jsonl",
                b"{\"id\": \"x\", \"text\": \"Rivers rose.\"}\n",
            ),
            ("two.jsonl", b"{\"text\": \"A.\"}\n{\"text\": \"B.\"}\n"),
        ]);
        let read = |name: &str| Article::read(&dir.path().join(name));
        let a = read("Big News.txt").unwrap();
        assert_eq!(a.text, "# Big News\n\nBody text.");
        assert_eq!((a.id.as_str(), a.title.as_str()), ("big-news", "Big News"));
        assert_eq!(a.input, a.source);
        let a = read("latin1.txt").unwrap();
        assert_eq!(a.text, "Café crème in Zürich.");
        assert!(
            a.warnings[0].contains("not valid UTF-8"),
            "{:?}",
            a.warnings
        );
        let a = read("page.html").unwrap();
        assert_eq!(
            (a.text.as_str(), a.title.as_str()),
            ("Rivers rose.", "Floods")
        );
        assert_eq!(read("one.jsonl").unwrap().id, "x");
        let err = read("two.jsonl").unwrap_err().to_string();
        assert!(
            err.contains("more than one article") && err.contains("digest"),
            "{err}"
        );
        assert!(Article::read(dir.path()).is_err(), "a directory");
    }

    #[test]
    fn single_article_read_refuses_bad_input_with_reason() {
        let big = vec![b'a'; MAX_ARTICLE_BYTES + 1];
        let cases: [(&[u8], &str); 4] = [
            (b"", "is empty"),
            (b" \n\t \n", "is empty"),
            (b"PK\x03\x04\x00\x00binary", "binary"),
            (&big, "refused"),
        ];
        for (bytes, want) in cases {
            let dir = dir_with(&[("x.txt", bytes)]);
            let err = Article::read(&dir.path().join("x.txt"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(want) && err.contains("x.txt"), "{err}");
        }
    }

    #[test]
    fn text_file_is_normalized_with_title_and_hash() {
        let bytes = b"\xef\xbb\xbf\r\n  Storm  hits\tcoast \r\n\r\n\r\n\r\nWinds  rose.\r\nRain fell.\r\n\r\nPower is back.";
        let a = read_one("storm.txt", Format::Text, bytes).unwrap();
        assert_eq!(
            a.text,
            "Storm hits coast\n\nWinds rose.\nRain fell.\n\nPower is back."
        );
        assert_eq!(
            (a.id.as_str(), a.title.as_str()),
            ("storm", "Storm hits coast")
        );
        assert!(a.input.ends_with("storm.txt") && a.warnings.is_empty());
        assert_eq!(a.input_sha256, text::sha256_hex(bytes));
        assert_eq!(a.input_sha256.len(), 64);
    }

    #[test]
    fn latin1_is_decoded_with_a_warning() {
        let a = read_one(
            "cafe.txt",
            Format::Text,
            b"Le caf\xe9 du coin\n\nOuvert \xe0 midi.",
        )
        .unwrap();
        assert_eq!(a.text, "Le café du coin\n\nOuvert à midi.");
        assert_eq!(a.warnings.len(), 1);
        let w = &a.warnings[0];
        assert!(w.contains("cafe.txt") && w.contains("windows-1252"), "{w}");
    }

    /// Legacy encodings are detected, not assumed: each text comes back as it
    /// was written, with a warning naming the encoding found.
    #[test]
    fn legacy_encodings_are_detected() {
        for (name, text, encoding) in [
            (
                "fr.txt",
                "Le président a annoncé mercredi une réforme des retraites très contestée. \
                 Les syndicats dénoncent un projet « injuste » et prévoient une grève générale à Noël.",
                encoding_rs::WINDOWS_1252,
            ),
            (
                "ru.txt",
                "Правительство объявило в среду о новой реформе пенсионной системы. \
                 Профсоюзы назвали проект несправедливым и готовят всеобщую забастовку.",
                encoding_rs::WINDOWS_1251,
            ),
            (
                "ja.txt",
                "政府は水曜日、年金制度の新たな改革を発表した。労働組合はこの計画を不公平だと批判し、\
                 全国的なストライキを準備している。",
                encoding_rs::SHIFT_JIS,
            ),
        ] {
            let (bytes, _, unmappable) = encoding.encode(text);
            assert!(!unmappable && std::str::from_utf8(&bytes).is_err(), "{name}");
            let a = read_one(name, Format::Text, &bytes).unwrap();
            assert_eq!(a.text, text, "{name}");
            assert_eq!(a.warnings.len(), 1, "{name}: {:?}", a.warnings);
            let w = &a.warnings[0];
            assert!(w.contains(name) && w.contains(encoding.name()), "{w}");
        }
    }

    #[test]
    fn utf16_with_bom_is_decoded() {
        let mut bytes = vec![0xff, 0xfe];
        bytes.extend("Été\n\nChaud.".encode_utf16().flat_map(u16::to_le_bytes));
        let a = read_one("ete.txt", Format::Text, &bytes).unwrap();
        assert_eq!(a.text, "Été\n\nChaud.");
        assert!(a.warnings.is_empty());
    }

    #[test]
    fn refusals_name_the_input_and_the_reason() {
        let png: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10";
        let cases: [(&str, Format, &[u8], &str); 5] = [
            ("image.txt", Format::Text, png, "binary"),
            ("empty.txt", Format::Text, b"", "is empty"),
            ("blank.md", Format::Markdown, b" \r\n\t\n", "is empty"),
            (
                "bad16.txt",
                Format::Text,
                b"\xff\xfeA",
                "not valid UTF-16LE",
            ),
            (
                "menu.html",
                Format::Html,
                b"<html><body><nav>Home | World</nav><script>x()</script></body></html>",
                "no article text found in the HTML",
            ),
        ];
        for (name, format, bytes, want) in cases {
            let r = read_one(name, format, bytes).unwrap_err();
            assert!(r.reason.contains(want) && r.reason.contains(name), "{r:?}");
            assert!(r.input.ends_with(name), "{r:?}");
            assert_eq!(r.id, text::slug(Path::new(name)));
        }
    }

    #[test]
    fn fixture_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/articles");
        let sources = expand_inputs(&[dir], None).unwrap();
        let results: Vec<_> = sources.iter().flat_map(read_source).collect();
        let summary: Vec<(String, &str)> = results
            .iter()
            .map(|r| match r {
                Ok(a) => (a.id.clone(), a.title.as_str()),
                Err(r) => (r.id.clone(), "rejected"),
            })
            .collect();
        let want = [
            ("empty", "rejected"),
            (
                "port-strike",
                "Dock workers end four-day strike at Eastport",
            ),
            (
                "velo-lyon",
                "Lyon ouvre une nouvelle piste cyclable le long du Rhône",
            ),
            (
                "feed-3",
                "Scientists at a mountain observatory have recorded the clearest images yet of a…",
            ),
            ("image", "rejected"),
            ("page", "Heatwave brings hosepipe ban to the Vale"),
            ("story", "Library to stay open until 9pm on weekdays"),
            ("story", "Harbourside council approves new cycle lanes"),
        ];
        let want: Vec<(String, &str)> = want.iter().map(|&(id, t)| (id.to_string(), t)).collect();
        assert_eq!(summary, want);
        for a in results.iter().flatten() {
            assert!(a.warnings.is_empty() && a.text.contains("\n\n"), "{a:?}");
            assert!(a.text.split_whitespace().count() < 400, "{}", a.input);
            for junk in [
                "Subscribe",
                "Most read",
                "Advertisement",
                "Share",
                "©",
                "**",
                "](",
                // "Topics: ..." is the article's own <footer>, which the content
                // reader keeps (as trafilatura does: attribution lives there).
            ] {
                assert!(!a.text.contains(junk), "{junk} in {}", a.input);
            }
        }
    }

    #[test]
    fn refuses_oversized_and_unreadable_files() {
        let big = vec![b'a'; MAX_ARTICLE_BYTES + 1];
        let r = read_one("big.txt", Format::Text, &big).unwrap_err();
        assert!(
            r.reason.contains("big.txt") && r.reason.contains("refused"),
            "{r}"
        );

        let dir = tempfile::tempdir().unwrap();
        let src = Source {
            path: dir.path().join("gone.txt"),
            format: Format::Text,
        };
        let results: Vec<_> = read_source(&src).collect();
        let r = results[0].as_ref().unwrap_err();
        assert!(r.reason.contains("gone.txt"), "{r}");
        assert_eq!(r.id, "gone");
    }
}
