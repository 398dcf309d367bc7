//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod server;

/// The seed article, in the repository's `seeds/`.
pub const SEED: &str = "seeds/000_57a6ad3420af089a.txt";

pub fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(SEED)
}

/// The folder `scripts/fetch-models.sh` fills (`$ABRIDGE_MODELS`, default
/// `~/.cache/abridge/models`).
pub fn models_dir() -> PathBuf {
    match std::env::var_os("ABRIDGE_MODELS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/abridge/models"),
    }
}

/// The default model (`--model default`).
pub const QWEN15: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";
/// `--model fast`.
pub const QWEN: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";

/// Path of a provisioned model; panics with the fix when it is missing.
pub fn model_path(file: &str) -> PathBuf {
    let p = models_dir().join(file);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fetch-models.sh",
        p.display()
    );
    p
}

pub fn fixture(name: &str) -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// Names of the llama.cpp greedy-generation fixtures, sorted.
pub fn greedy_fixtures() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("greedy-") && n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no greedy fixtures in {}", dir.display());
    names
}

/// The binary with a hermetic environment: models only from the models folder,
/// an empty hf-hub cache, no network.
pub fn abridge(hf_home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_abridge"));
    cmd.env("ABRIDGE_MODELS", models_dir())
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("ABRIDGE_MODEL")
        .env_remove("ABRIDGE_LOG")
        // Inside a job array these would make every digest a shard.
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_STEP")
        .env_remove("JOB_COMPLETION_INDEX");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("abridge runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes the brief fixture's articles `ids` (of `tests/fixtures/brief`) into `dir`
/// as `<id>.txt`, creating it.
pub fn write_brief_articles(dir: &Path, ids: &[&str]) {
    let set = abridge::brief::eval::Labelled::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/brief"),
    )
    .unwrap();
    std::fs::create_dir_all(dir).unwrap();
    for id in ids {
        let i = set.ids.iter().position(|x| x == id).unwrap();
        std::fs::write(dir.join(format!("{id}.txt")), &set.texts[i]).unwrap();
    }
}

/// The entries of a digest folder's `manifest.jsonl`, one per line.
pub fn manifest(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("manifest.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `abridge --threads 2 digest --model MODEL --sentences N EXTRA.. INPUTS --out OUT`,
/// which must succeed.
pub fn digest(
    hf_home: &Path,
    model: &str,
    sentences: &str,
    extra: &[&str],
    inputs: &Path,
    out: &Path,
) {
    let o = run(abridge(hf_home)
        .args([
            "--threads",
            "2",
            "digest",
            "--model",
            model,
            "--sentences",
            sentences,
        ])
        .args(extra)
        .arg(inputs)
        .arg("--out")
        .arg(out));
    assert!(o.status.success(), "{}", stderr(&o));
}
