//! `manifest.jsonl`: one JSON object per input, for scripts and for resuming a run.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::check::{SentenceSupport, TranslationChecks};
use crate::error::{Error, Result};

/// What became of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Processed in this run.
    Ok,
    /// Up to date from an earlier run (same input and settings).
    Skipped,
    Failed,
}

/// One line of the manifest. Fields other than `input`, `id` and `status` default when
/// missing, so manifests from older versions still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The input as the user gave it.
    pub input: String,
    pub id: String,
    pub status: Status,
    #[serde(default)]
    pub error: Option<String>,
    /// Article file name, relative to the output directory.
    #[serde(default, deserialize_with = "file_name_in_folder")]
    pub output: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Where and when the article was published, by whom, in what language.
    #[serde(flatten)]
    pub about: crate::article::About,
    #[serde(default)]
    pub summary: Option<String>,
    /// Language code -> translated summary, only for translations that passed the
    /// language check.
    #[serde(default)]
    pub translations: BTreeMap<String, String>,
    /// Each summary sentence with the article sentences supporting it.
    #[serde(default)]
    pub support: Vec<SentenceSupport>,
    /// Language code -> the language, number and name checks of its translation
    /// (passed or not).
    #[serde(default)]
    pub checks: BTreeMap<String, TranslationChecks>,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub tokens_in: u64,
    #[serde(default)]
    pub tokens_out: u64,
    // NaN is written as `null`: read it back as 0 rather than losing the line.
    #[serde(default, deserialize_with = "null_as_zero")]
    pub seconds: f64,
    /// Settings key, for resuming.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub input_sha256: Option<String>,
    /// The article text's sketch, for `abridge brief` (absent in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<crate::brief::Fingerprint>,
}

impl ManifestEntry {
    /// The line of an input that failed (or was refused when read) for `reason`.
    pub fn failed(input: &str, id: &str, reason: String, warnings: Vec<String>) -> Self {
        ManifestEntry {
            input: input.to_string(),
            id: id.to_string(),
            status: Status::Failed,
            error: Some(reason),
            output: None,
            title: None,
            about: Default::default(),
            summary: None,
            translations: Default::default(),
            support: Vec::new(),
            checks: Default::default(),
            warnings,
            tokens_in: 0,
            tokens_out: 0,
            seconds: 0.0,
            key: None,
            input_sha256: None,
            fingerprint: None,
        }
    }
}

impl ManifestEntry {
    /// Why it failed, naming the input once (readers' reasons usually name it).
    pub fn failure(&self) -> String {
        let reason = self.error.as_deref().unwrap_or("unknown error");
        if reason.contains(&self.input) {
            reason.to_string()
        } else {
            format!("{}: {reason}", self.input)
        }
    }
}

fn null_as_zero<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(0.0))
}

/// An article file name as the digest gives them: one `.md` file in the output
/// folder itself. Anything else (`../x.md`, `/etc/x.md`, `a/b.md`) comes from an
/// edited manifest; resume and merge would read or link it outside the folder.
fn file_name_in_folder<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let name = Option::<String>::deserialize(deserializer)?;
    if let Some(n) = &name {
        let plain = n.ends_with(".md")
            && !n.starts_with('.')
            && !n.contains(['/', '\\'])
            && !n.contains(char::is_control)
            && Path::new(n).file_name() == Some(std::ffi::OsStr::new(n));
        if !plain {
            return Err(serde::de::Error::custom(format!(
                "output {n:?} is not a markdown file name in the output folder"
            )));
        }
    }
    Ok(name)
}

/// The manifest: one JSON object per line, newline-terminated.
pub fn render_manifest(entries: &[ManifestEntry]) -> String {
    entries
        .iter()
        .map(|entry| {
            let line = serde_json::to_string(entry).expect("a manifest entry serializes");
            line + "\n"
        })
        .collect()
}

/// Entries of manifest text, skipping lines that do not parse (a line torn by a killed
/// run, a hand edit): the manifest is a cache, losing a line costs a redo, not a failure.
pub fn parse_manifest(text: &str) -> Vec<ManifestEntry> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .filter_map(|(i, line)| match serde_json::from_str(line) {
            Ok(entry) => Some(entry),
            Err(e) => {
                tracing::warn!("manifest line {}: {e}; ignoring it", i + 1);
                None
            }
        })
        .collect()
}

/// Entries of the manifest at `path`; none if it does not exist yet.
pub fn read_manifest(path: &Path) -> Result<Vec<ManifestEntry>> {
    match std::fs::read(path) {
        // Lossy: a multi-byte character cut by a torn write only spoils its own line.
        Ok(bytes) => Ok(parse_manifest(&String::from_utf8_lossy(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(input: &str, status: Status) -> ManifestEntry {
        ManifestEntry {
            input: input.into(),
            id: input.replace('/', "_"),
            status,
            error: (status == Status::Failed).then(|| "not UTF-8".into()),
            output: (status != Status::Failed).then(|| "rates-rise.md".into()),
            title: Some("Rates \"rise\"\nagain".into()),
            about: crate::article::About {
                url: Some("https://news.example/rates".into()),
                published: Some("2019-11-19".into()),
                site: Some("The Example".into()),
                ..Default::default()
            },
            summary: Some("Rates rose.".into()),
            translations: BTreeMap::from([("fr".into(), "Les taux ont augmenté.".into())]),
            support: vec![],
            checks: Default::default(),
            warnings: vec!["truncated".into()],
            tokens_in: 10,
            tokens_out: 5,
            seconds: 1.5,
            key: Some("k1".into()),
            input_sha256: Some("00ff".into()),
            fingerprint: Some(crate::brief::Fingerprint::of("Rates rose again.")),
        }
    }

    #[test]
    fn one_line_per_entry_and_round_trip() {
        let entries = vec![
            entry("a.html", Status::Ok),
            entry("b.txt", Status::Skipped),
            entry("c.pdf", Status::Failed),
        ];
        let text = render_manifest(&entries);
        assert_eq!(text.lines().count(), 3);
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\"status\":\"skipped\""));
        assert!(text.contains("\"error\":null"));
        assert_eq!(parse_manifest(&text), entries);
        assert_eq!(render_manifest(&[]), "");
    }

    #[test]
    fn torn_and_garbage_lines_are_skipped() {
        let entries = vec![entry("a", Status::Ok), entry("b", Status::Ok)];
        let text = render_manifest(&entries);
        let torn = &text[..text.len() - 20];
        assert_eq!(parse_manifest(torn), entries[..1]);
        let junk = format!("not json\n\n{{\"input\":\"x\"}}\n{text}");
        assert_eq!(parse_manifest(&junk), entries);
    }

    #[test]
    fn missing_fields_default_and_null_seconds_read_as_zero() {
        let line = r#"{"input":"a","id":"a","status":"failed","seconds":null,"later":1}"#;
        let [e] = &parse_manifest(line)[..] else {
            panic!("one entry expected")
        };
        assert_eq!(e.status, Status::Failed);
        assert_eq!(e.seconds, 0.0);
        assert!(e.translations.is_empty() && e.output.is_none());

        let mut nan = entry("n", Status::Ok);
        nan.seconds = f64::NAN;
        assert_eq!(parse_manifest(&render_manifest(&[nan]))[0].seconds, 0.0);
    }

    #[test]
    fn outputs_outside_the_folder_are_edits_and_skipped() {
        let mut ok = entry("a", Status::Ok);
        ok.output = Some("a-2.md".into());
        let good = render_manifest(&[ok.clone()]);
        for bad in [
            "../x.md",
            "/etc/x.md",
            "a/b.md",
            "a\\b.md",
            r"a\\b.md",
            ".md",
            "..md",
            "x.txt",
            "",
        ] {
            let line = good.replace("a-2.md", bad);
            assert!(parse_manifest(&line).is_empty(), "{bad:?} was accepted");
        }
        assert_eq!(parse_manifest(&good), [ok]);
    }

    #[test]
    fn read_tolerates_missing_file_and_torn_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.jsonl");
        assert!(read_manifest(&path).unwrap().is_empty());

        let entries = vec![entry("é.html", Status::Ok)];
        let mut bytes = render_manifest(&entries).into_bytes();
        bytes.extend_from_slice("{\"input\":\"é".as_bytes());
        bytes.pop(); // half of `é`
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(read_manifest(&path).unwrap(), entries);

        let err = read_manifest(dir.path()).unwrap_err();
        assert!(err.to_string().contains(&dir.path().display().to_string()));
    }
}
