//! File names for articles: short, readable, and safe to join to the output directory.

use std::collections::HashSet;

/// Longest slug in bytes, before the `.md` extension.
const MAX_LEN: usize = 60;
/// Slug of a title with nothing usable in it (emoji, a script without ASCII folding).
const FALLBACK: &str = "article";
/// Names the digest itself uses for `index.md` and `manifest.jsonl`.
const RESERVED: &[&str] = &["index", "manifest"];

/// The slug of `text`, or `None` when nothing of it survives.
fn slug_of(text: &str) -> Option<String> {
    let mut slug = String::new();
    // A separator is only written before the next kept character: no leading, trailing
    // or doubled `-`.
    let mut pending_dash = false;
    for c in text.chars() {
        // Letters of any script in ASCII, as a reader would type them ("é" -> "e",
        // "ß" -> "ss", "Москва" -> "Moskva", "北京" -> "Bei Jing "); emoji and other
        // symbols separate words.
        let ascii = match c {
            _ if c.is_ascii() => None,
            // Combining marks (decomposed accents) belong to their letter.
            '\u{300}'..='\u{36f}' => continue,
            _ if c.is_alphanumeric() => deunicode::deunicode_char(c),
            _ => None,
        };
        let mut buf = [0u8; 4];
        for a in ascii.unwrap_or_else(|| c.encode_utf8(&mut buf)).chars() {
            match a.to_ascii_lowercase() {
                a @ ('a'..='z' | '0'..='9') => {
                    if pending_dash && !slug.is_empty() {
                        slug.push('-');
                    }
                    pending_dash = false;
                    slug.push(a);
                }
                // Apostrophes belong to the word: "don't" -> "dont", not "don-t".
                '\'' | '’' | 'ʼ' => {}
                _ => pending_dash = true,
            }
        }
        if slug.len() > MAX_LEN {
            break;
        }
    }
    let slug = truncate(&slug, MAX_LEN);
    if slug.is_empty() {
        return None;
    }
    Some(if is_windows_device(slug) {
        format!("{slug}-{FALLBACK}")
    } else {
        slug.to_string()
    })
}

/// `slug` cut to `max` bytes, at a `-` when that keeps at least half of it.
fn truncate(slug: &str, max: usize) -> &str {
    if slug.len() <= max {
        return slug;
    }
    // Slugs are ASCII, so any byte index is a char boundary.
    let cut = &slug[..max];
    if slug.as_bytes()[max] == b'-' {
        return cut;
    }
    let cut = match cut.rfind('-') {
        Some(dash) if dash >= max / 2 => &cut[..dash],
        _ => cut,
    };
    cut.trim_end_matches('-')
}

/// Device names Windows opens instead of a file, whatever the extension (`con.md`).
fn is_windows_device(slug: &str) -> bool {
    match slug.as_bytes() {
        b"con" | b"prn" | b"aux" | b"nul" => true,
        [b'c', b'o', b'm', d] | [b'l', b'p', b't', d] => d.is_ascii_digit(),
        _ => false,
    }
}

/// File-name stem for an article title: lowercase ASCII letters, digits and single `-`,
/// at most 60 bytes, never empty (`article`), never a path or a Windows device name.
pub fn slugify(title: &str) -> String {
    slug_of(title).unwrap_or_else(|| FALLBACK.to_string())
}

/// Unique slugs for one digest run, allocated in input order so that the same inputs
/// always get the same file names (which resuming relies on).
#[derive(Debug, Default, Clone)]
pub struct Slugs {
    // Slugs are lowercase by construction, so this set is case-insensitive, as file
    // names are on macOS and Windows.
    taken: HashSet<String>,
}

impl Slugs {
    pub fn new() -> Self {
        Self::default()
    }

    /// A slug for `title` not handed out before; `id` (e.g. the input's file name) names
    /// the article when its title has nothing sluggable. Repeats get `-2`, `-3`, ...
    pub fn allocate(&mut self, title: &str, id: &str) -> String {
        let base = slug_of(title)
            .or_else(|| slug_of(id))
            .unwrap_or_else(|| FALLBACK.to_string());
        let slug = std::iter::once(base.clone())
            .chain((2u64..).map(|n| {
                let suffix = format!("-{n}");
                format!("{}{suffix}", truncate(&base, MAX_LEN - suffix.len()))
            }))
            .find(|s| !RESERVED.contains(&s.as_str()) && !self.taken.contains(s))
            .expect("an unbounded suffix sequence has a free slug");
        self.taken.insert(slug.clone());
        slug
    }

    /// Marks a slug already in use (an earlier run's output that is kept), so
    /// [`allocate`](Self::allocate) never hands it out again.
    pub fn reserve(&mut self, slug: &str) {
        self.taken.insert(slug.to_ascii_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Component, Path};

    fn assert_safe(slug: &str) {
        assert!(!slug.is_empty());
        assert!(slug.len() <= MAX_LEN, "{slug:?} is {} bytes", slug.len());
        assert!(
            slug.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{slug:?}"
        );
        assert!(!slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"));
        assert!(!is_windows_device(slug), "{slug:?}");
        let dir = Path::new("/tmp/digest-out");
        let file = dir.join(format!("{slug}.md"));
        assert_eq!(file.parent(), Some(dir), "{slug:?} escapes the directory");
        assert!(matches!(
            Path::new(slug).components().collect::<Vec<_>>()[..],
            [Component::Normal(_)]
        ));
    }

    #[test]
    fn reserved_slugs_are_not_handed_out() {
        let mut slugs = Slugs::new();
        slugs.reserve("budget-vote");
        assert_eq!(slugs.allocate("Budget vote", "a"), "budget-vote-2");
    }

    fn hostile_titles() -> Vec<String> {
        vec![
            "../../etc/passwd".into(),
            "/abs/path".into(),
            "..".into(),
            ".".into(),
            "CON".into(),
            "com1".into(),
            "Lpt9".into(),
            "a\0b".into(),
            "😀🎉🔥".into(),
            "x".repeat(10_000),
            "word ".repeat(2_000),
            "مرحبا بالعالم".into(),
            "שלום עולם".into(),
            "line one\nline two\r\n".into(),
            "C:\\Windows\\system32".into(),
            "index".into(),
            "manifest".into(),
            String::new(),
            "   ".into(),
            "---".into(),
            "\u{202e}evil\u{202c}".into(),
        ]
    }

    #[test]
    fn folds_latin_letters_and_drops_punctuation() {
        assert_eq!(slugify("Héllo, Wörld!"), "hello-world");
        assert_eq!(slugify("Straße in Łódź"), "strasse-in-lodz");
        assert_eq!(slugify("Œuvre & Æsir"), "oeuvre-aesir");
        assert_eq!(slugify("Ține-te bine, Ștefan"), "tine-te-bine-stefan");
        assert_eq!(slugify("Cafe\u{301} crème"), "cafe-creme");
        assert_eq!(slugify("Don't panic"), "dont-panic");
        assert_eq!(slugify("  --Rates  rise -- again--  "), "rates-rise-again");
        assert_eq!(slugify("ẞ"), "ss");
    }

    /// Titles in other scripts get readable names, not the fallback.
    #[test]
    fn other_scripts_are_transliterated() {
        assert_eq!(
            slugify("Москва объявила о новых санкциях"),
            "moskva-obiavila-o-novykh-sanktsiiakh"
        );
        assert_eq!(slugify("北京欢迎你"), "bei-jing-huan-ying-ni");
        assert_eq!(slugify("Hello مرحبا world"), "hello-mrhb-world");
        assert_eq!(slugify("Αθήνα 2004"), "athena-2004");
        assert_eq!(slugify("😀 Rates rise 🎉"), "rates-rise");
    }

    #[test]
    fn hostile_titles_give_safe_slugs() {
        for title in hostile_titles() {
            assert_safe(&slugify(&title));
        }
        assert_eq!(slugify("../../etc/passwd"), "etc-passwd");
        assert_eq!(slugify("/abs/path"), "abs-path");
        assert_eq!(slugify(".."), "article");
        assert_eq!(slugify("😀🎉🔥"), "article");
        assert_eq!(slugify("a\0b"), "a-b");
        assert_eq!(slugify("CON"), "con-article");
        assert_eq!(slugify("line one\nline two"), "line-one-line-two");
    }

    #[test]
    fn long_titles_are_cut_at_a_word() {
        let title = "The central bank raised interest rates again on Thursday, \
                     citing persistent inflation in services";
        let slug = slugify(title);
        assert_safe(&slug);
        assert_eq!(
            slug,
            "the-central-bank-raised-interest-rates-again-on-thursday"
        );
        // No dash in reach: a hard cut.
        assert_eq!(slugify(&"x".repeat(10_000)), "x".repeat(MAX_LEN));
    }

    #[test]
    fn allocation_is_unique_deterministic_and_avoids_reserved_names() {
        let titles = [
            "Rates rise",
            "RATES RISE",
            "rates-rise",
            "Rates rise 2",
            "Index",
        ];
        let run = || {
            let mut slugs = Slugs::new();
            titles.map(|t| slugs.allocate(t, "id"))
        };
        let first = run();
        assert_eq!(
            first,
            [
                "rates-rise",
                "rates-rise-2",
                "rates-rise-3",
                "rates-rise-2-2",
                "index-2"
            ]
        );
        assert_eq!(first, run());

        let mut slugs = Slugs::new();
        assert_eq!(slugs.allocate("manifest", "m"), "manifest-2");
        assert_eq!(slugs.allocate("😀", "Report 2024.html"), "report-2024-html");
        assert_eq!(slugs.allocate("😀", "😀"), "article");
        assert_eq!(slugs.allocate("", ""), "article-2");
    }

    #[test]
    fn allocated_hostile_slugs_are_safe_and_distinct() {
        let mut slugs = Slugs::new();
        let mut seen = HashSet::new();
        for title in hostile_titles().iter().chain(&hostile_titles()) {
            let slug = slugs.allocate(title, "../id");
            assert_safe(&slug);
            assert!(!RESERVED.contains(&slug.as_str()));
            assert!(seen.insert(slug));
        }
    }
}
