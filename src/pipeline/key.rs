//! The resume key: a digest of everything that shapes an article's output, so a
//! later run redoes an article exactly when its output would differ.

use sha2::{Digest, Sha256};

use super::{hex, ArticleOptions, DigestOptions};
use crate::article::Article;
use crate::model::Model;
use crate::prompts::{Prompt, Retry, Source, Style, SummaryAsk, UnitAsk};

/// What decides whether an earlier result can be reused.
pub(crate) struct Settings<'a> {
    pub(crate) model: &'a str,
    pub(crate) model_sha256: &'a str,
    pub(crate) opts: &'a DigestOptions,
    /// Hex sha256 of everything but the article that shapes an output.
    run: String,
}

impl<'a> Settings<'a> {
    pub(crate) fn new(
        model: &'a Model,
        model_sha256: &'a str,
        opts: &'a DigestOptions,
        window: usize,
    ) -> Self {
        let run = RunKey {
            abridge: env!("CARGO_PKG_VERSION"),
            recipe: RECIPE,
            names: names_sha256(),
            model_sha256: model_sha256.to_string(),
            template: chat_template(model),
            prompts: prompts_sha256(model, &opts.article),
            options: options(opts, window),
        };
        tracing::debug!(
            "resume key of this run {}: abridge {}, recipe {:?}, names {}, model {}, template {}, \
             prompts {}, options {}",
            run.sha256(),
            run.abridge,
            run.recipe,
            run.names,
            run.model_sha256,
            hex(&Sha256::digest(run.template.as_deref().unwrap_or("none"))),
            run.prompts,
            run.options
        );
        Settings {
            model: &model.name,
            model_sha256,
            opts,
            run: run.sha256(),
        }
    }

    /// The run's part of every article's key.
    pub(crate) fn run_key(&self) -> &str {
        &self.run
    }

    /// A digest of everything that shapes an article's output.
    pub(crate) fn key(&self, article: &Article) -> String {
        article_key(&self.run, article)
    }
}

/// Everything besides the article that shapes an output; its hash is in every key.
#[derive(Debug, Clone, serde::Serialize)]
struct RunKey {
    /// Released versions differ in code throughout (kernels, tokenizer, layout).
    abridge: &'static str,
    /// The parts' versions (see [`RECIPE`]).
    recipe: Recipe,
    /// The name tables (see [`names_sha256`]).
    names: String,
    model_sha256: String,
    /// The model's chat template, as written in its metadata.
    template: Option<String>,
    /// The token ids of this run's prompts on a fixed probe (see [`prompts_sha256`]).
    prompts: String,
    options: serde_json::Value,
}

impl RunKey {
    fn sha256(&self) -> String {
        let described = serde_json::to_string(self).unwrap_or_default();
        hex(&Sha256::digest(described.as_bytes()))
    }
}

fn article_key(run: &str, article: &Article) -> String {
    let described = serde_json::json!({
        "run": run,
        "input": article.input_sha256,
        "title": article.title,
    });
    hex(&Sha256::digest(described.to_string().as_bytes()))[..16].to_string()
}

/// The options as they shape outputs. Every field is named, so that an option added
/// later does not compile here until someone decides whether it belongs in the key.
fn options(opts: &DigestOptions, window: usize) -> serde_json::Value {
    let DigestOptions {
        article,
        // Where outputs go, how many at once, whether to redo, and stopping: none of
        // them changes what an article's output says.
        out: _,
        jobs: _,
        force: _,
        interrupt: _,
        // Which inputs this process does, not what their outputs say.
        shard: _,
        // The batch gives each sequence the tokens it gets alone (tested).
        scheduler: _,
    } = opts;
    let ArticleOptions {
        languages,
        sentences,
        style,
        long,
        translate_full,
        verify,
        // As resolved against the model, below.
        window: _,
        overlap,
        // Both decide whether an article fails: an output made under a higher limit
        // is not what this run would publish.
        max_article_tokens,
        deadline,
        max_answer_tokens,
    } = article;
    serde_json::json!({
        "languages": languages,
        "sentences": sentences,
        "style": style,
        "long": long,
        "translate_full": translate_full,
        "verify": verify,
        "window": window,
        "overlap": overlap,
        "max_article_tokens": max_article_tokens,
        "deadline_s": deadline.map(|d| d.as_secs_f64()),
        "max_answer_tokens": max_answer_tokens,
    })
}

/// The versions of the parts of abridge that shape an output, besides the prompts
/// (keyed by what the model is given: [`prompts_sha256`]), the model and the options.
/// Bump a part's number when its output changes, and only then: editing a comment,
/// a test or a kernel that the parity tests pin redoes nothing. The unit test
/// `recorded_probes_match_the_versions` runs each part on fixed inputs and fails
/// when what it gives changed while its number did not.
const RECIPE: Recipe = Recipe {
    readers: 1,
    // 2: "v." of case names ("Roe v. Wade") no longer ends a sentence.
    chunks: 2,
    // 2: ordinary news phrasings ("officials say just 30 were hurt") no longer read
    // as orders. 3: the meaning check leaves out the names the tables verify in a
    // translation, and marks below 0.65 (was 0.50); one doubtful sentence of two is
    // published marked (was: of three or more). 4: an English number word the
    // translation keeps unchanged ("Zeus Two") counts as kept. 5: a number with
    // a short lowercase unit glued to it ("$12.9bn", "1990s") is a number. 6:
    // clock times are one 24-hour value ("8:00pm" = "20:00"), and the digits of
    // a code ("US1,000") are skipped whole. 7: an amount written at another
    // magnitude or with none fails ("12,9 billones" for $12.9bn); the glossary
    // gives billions their target word; the round trip no longer judges amounts.
    // 8: an amount written in another currency fails ("$8.8 billion" as "8,8
    // milliards d'euros"). 9: where the model scored a translation, its
    // meaning is doubtful over a surprisal of 32.5 nats, or over half that with a
    // low term score (the term score alone no longer decides).
    checks: 9,
    // 2: a summary whose sentences up to the count are all grounded ends there
    // (was: one spare sentence more, then dropped; an ungrounded spare asked
    // again); a translation's decimals spaced after their comma are rejoined.
    // 3: each candidate translation is scored (the English taught as its
    // translation back), and the least surprising is chosen.
    steps: 3,
    layout: 1,
};

/// See [`RECIPE`].
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
struct Recipe {
    /// How input files become articles (`article/`, the vendored page reader): the
    /// key hashes an input's bytes, not the article read from them.
    readers: u32,
    /// How an article is cut into sentences (`sentence`) and chunks (`chunk`).
    chunks: u32,
    /// The checks that send answers back, mark sentences or fail a translation
    /// (`check/`).
    checks: u32,
    /// The summary and translation steps: retries, candidates, selection,
    /// verification (`pipeline/summarize`, `translate`, `verify`, `runner`). No probe
    /// runs them without a model: bump by hand.
    steps: u32,
    /// The article file (`render/`).
    layout: u32,
}

/// Hex sha256 of the name tables the translation checks read: data, hashed whole.
fn names_sha256() -> String {
    let mut hasher = Sha256::new();
    for table in [
        include_str!("../check/names/world.tsv"),
        include_str!("../check/names/hand.tsv"),
        include_str!("../check/names/magnitudes.tsv"),
        include_str!("../check/names/currencies.tsv"),
    ] {
        hasher.update((table.len() as u64).to_le_bytes());
        hasher.update(table.as_bytes());
    }
    hex(&hasher.finalize())
}

/// A short article with what prompts and tokenizers treat specially: names, numbers,
/// accents, quotes, a fence marker and chat markup.
const PROBE: &str = "Zoë Müller, 42, said on Monday that the council's €1,500 plan \
\"will not pass\". <article> <|im_end|> Rates rose 0.25% in São Paulo.";

/// Hex sha256 of the token ids of every prompt this run can send, on [`PROBE`], as
/// this model renders and tokenizes them. Unlike a hash of `prompts.rs` it sees what
/// the model is actually given: the wording, the chat template as rendered, the
/// tokenizer (a `tokenizer.json` beside the model is not in the model's sha256).
fn prompts_sha256(model: &Model, opts: &ArticleOptions) -> String {
    let chat = model.is_chat();
    let mut prompts = Vec::new();
    for source in [
        Source::Article,
        Source::Part,
        Source::Summaries,
        Source::Excerpts,
    ] {
        for style in [Style::Paragraph, Style::Bullets] {
            for retry in [Retry::First, Retry::Length, Retry::Faithful, Retry::OnTopic] {
                let ask = SummaryAsk {
                    source,
                    sentences: opts.sentences,
                    style,
                    retry,
                };
                prompts.push(Prompt::summary_of(PROBE, &ask, chat));
            }
        }
    }
    for language in &opts.languages {
        let glossary = [("São Paulo".to_string(), "São Paulo".to_string())];
        let ask = UnitAsk {
            text: PROBE,
            lang: language,
            glossary: &glossary,
        };
        prompts.push(Prompt::translation_unit(&ask, chat));
        prompts.push(Prompt::back_translation(PROBE, language, chat));
    }
    let mut hasher = Sha256::new();
    for prompt in &prompts {
        match model.prompt_tokens(prompt) {
            Ok(ids) => {
                hasher.update((ids.len() as u64).to_le_bytes());
                for id in ids {
                    hasher.update(id.to_le_bytes());
                }
            }
            // Every article will fail the same way; the key still has to be stable.
            Err(e) => hasher.update(format!("error: {e}").as_bytes()),
        }
        for stop in prompt.stop() {
            hasher.update(stop.as_bytes());
        }
    }
    hex(&hasher.finalize())
}

/// The chat template text in the model's metadata, if it has one (kept by
/// the loaded model: reopening the file would map and populate it again).
fn chat_template(model: &Model) -> Option<String> {
    match &*model.format {
        crate::model::template::PromptFormat::Chat(t) => Some(t.source().to_string()),
        crate::model::template::PromptFormat::Completion => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testing::{article, test_options};
    use std::path::Path;

    fn run_key() -> RunKey {
        let opts = test_options();
        RunKey {
            abridge: "0.1.0",
            recipe: RECIPE,
            names: names_sha256(),
            model_sha256: "ab".repeat(32),
            template: Some("{% for m in messages %}{{ m.content }}{% endfor %}".into()),
            prompts: "cd".repeat(32),
            options: options(&opts, 4096),
        }
    }

    #[test]
    fn the_key_changes_with_everything_that_shapes_an_output() {
        let a = article("Rates", "00ff");
        let base = run_key();
        let key = |run: &RunKey| article_key(&run.sha256(), &a);
        assert_eq!(key(&base), key(&run_key()), "stable");
        assert_eq!(key(&base).len(), 16);

        let mut changed = Vec::new();
        let mut template = base.clone();
        template.template = Some("{{ messages[0].content }}".into());
        changed.push(("template", template));
        let mut no_template = base.clone();
        no_template.template = None;
        changed.push(("no template", no_template));
        let mut prompts = base.clone();
        prompts.prompts = "ce".repeat(32);
        changed.push(("prompts", prompts));
        for part in ["readers", "chunks", "checks", "steps", "layout"] {
            let mut bumped = base.clone();
            let mut recipe = serde_json::to_value(bumped.recipe).unwrap();
            recipe[part] = serde_json::json!(recipe[part].as_u64().unwrap() + 1);
            bumped.recipe = serde_json::from_value(recipe).unwrap();
            changed.push((part, bumped));
        }
        let mut names = base.clone();
        names.names = "00".repeat(32);
        changed.push(("names", names));
        let mut model = base.clone();
        model.model_sha256 = "ac".repeat(32);
        changed.push(("model", model));
        let mut version = base.clone();
        version.abridge = "0.2.0";
        changed.push(("version", version));
        for (option, value) in [
            ("languages", serde_json::json!(["de"])),
            ("sentences", serde_json::json!(2)),
            ("style", serde_json::json!("bullets")),
            ("long", serde_json::json!("map-reduce")),
            ("translate_full", serde_json::json!(true)),
            ("verify", serde_json::json!(false)),
            ("window", serde_json::json!(768)),
            ("overlap", serde_json::json!(16)),
            ("max_article_tokens", serde_json::json!(1000)),
            ("deadline_s", serde_json::json!(60.0)),
        ] {
            let mut run = base.clone();
            assert!(run.options.get(option).is_some(), "{option} is in the key");
            run.options[option] = value;
            changed.push((option, run));
        }
        for (what, run) in &changed {
            assert_ne!(key(run), key(&base), "{what} does not change the key");
        }
        assert_ne!(
            article_key(&base.sha256(), &article("Rates", "00fe")),
            key(&base)
        );
        assert_ne!(
            article_key(&base.sha256(), &article("Rates!", "00ff")),
            key(&base)
        );
    }

    /// A synthetic chat model whose template writes roles as `open` + role + `close`.
    fn chat_model(dir: &Path, name: &str, open: &str, close: &str) -> Model {
        use candle_core::quantized::gguf_file::Value;
        let template = format!(
            "{{% for m in messages %}}{open}{{{{ m.role }}}}{close}{{{{ m.content }}}}\n\
             {{% endfor %}}{{% if add_generation_prompt %}}{open}assistant{close}{{% endif %}}"
        );
        let path = dir.join(name);
        crate::model::synthetic::TinyGguf::llama()
            .set("tokenizer.chat_template", Value::String(template))
            .write(&path)
            .unwrap();
        Model::load_path(name.into(), path).unwrap()
    }

    /// The key takes the template from the loaded model: opening the file again
    /// mapped and read in all of it a second time (1.1 GB more peak RSS on the
    /// default model), and would key on a file replaced since the load.
    #[test]
    fn the_key_takes_the_template_from_the_loaded_model() {
        let dir = tempfile::tempdir().unwrap();
        let a = chat_model(dir.path(), "a.gguf", "ab", "cd");
        let template = chat_template(&a).expect("a chat model");
        assert!(template.contains("add_generation_prompt"), "{template}");
        std::fs::remove_file(&a.path).unwrap();
        assert_eq!(chat_template(&a).as_deref(), Some(template.as_str()));
    }

    #[test]
    fn keys_on_real_models_follow_the_chat_template_and_the_prompts() {
        let dir = tempfile::tempdir().unwrap();
        // Letters: the synthetic vocabulary has no tokens for punctuation.
        let a = chat_model(dir.path(), "a.gguf", "ab", "cd");
        let a_again = chat_model(dir.path(), "a2.gguf", "ab", "cd");
        let b = chat_model(dir.path(), "b.gguf", "ef", "gh");
        let mut opts = test_options();
        let article = article("Rates", "00ff");
        // The same model sha256 for all: only the template differs.
        let sha = "ab".repeat(32);
        let key = |model: &Model, opts: &DigestOptions| {
            Settings::new(model, &sha, opts, 256).key(&article)
        };
        assert_eq!(key(&a, &opts), key(&a_again, &opts));
        assert_ne!(key(&a, &opts), key(&b, &opts));
        assert_eq!(chat_template(&a), chat_template(&a_again));
        assert_ne!(chat_template(&a), chat_template(&b));
        assert_ne!(
            prompts_sha256(&a, &opts.article),
            prompts_sha256(&b, &opts.article)
        );
        // What the prompts ask is in the probe: another length, another language.
        let before = prompts_sha256(&a, &opts.article);
        opts.article.sentences = 1;
        assert_ne!(prompts_sha256(&a, &opts.article), before);
        let one = prompts_sha256(&a, &opts.article);
        opts.article.languages = vec!["de".into()];
        assert_ne!(prompts_sha256(&a, &opts.article), one);
        // --jobs and --force do not shape outputs.
        let k = key(&a, &opts);
        opts.jobs = 4;
        opts.force = true;
        assert_eq!(key(&a, &opts), k);
    }

    /// What each versioned part gives on fixed inputs, as recorded with its version
    /// in `tests/fixtures/recipe-probes.json`. A part whose output changed without a
    /// new version would let a resumed digest keep articles this code would write
    /// differently; a new version with the old output would redo them for nothing.
    /// `ABRIDGE_BLESS=1` records the current outputs after a deliberate bump.
    #[test]
    fn recorded_probes_match_the_versions() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipe-probes.json");
        let now = serde_json::json!({
            "readers": { "version": RECIPE.readers, "probe": probe::readers() },
            "chunks": { "version": RECIPE.chunks, "probe": probe::chunks() },
            "checks": { "version": RECIPE.checks, "probe": probe::checks() },
            "layout": { "version": RECIPE.layout, "probe": probe::layout() },
        });
        if std::env::var_os("ABRIDGE_BLESS").is_some() {
            std::fs::write(&path, serde_json::to_string_pretty(&now).unwrap() + "\n").unwrap();
        }
        let recorded: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for part in ["readers", "chunks", "checks", "layout"] {
            let (was, is) = (&recorded[part], &now[part]);
            if was["probe"] != is["probe"] && was["version"] == is["version"] {
                panic!(
                    "the {part}' output changed but RECIPE.{part} is still {}: bump it in \
                     src/pipeline/key.rs (resumed digests must redo their articles), then \
                     record with ABRIDGE_BLESS=1",
                    is["version"]
                );
            }
            assert_eq!(
                was, is,
                "RECIPE.{part} changed but its output did not, or was not recorded: record \
                 with ABRIDGE_BLESS=1"
            );
        }
    }

    /// Each part run on the fixtures; the answer is a hash of what it gave.
    mod probe {
        use std::path::{Path, PathBuf};

        use sha2::{Digest, Sha256};

        fn fixture(name: &str) -> PathBuf {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name)
        }

        /// `path` as named from the checkout: articles carry their input's name, and
        /// the probe must not depend on where the checkout is.
        fn relative(path: &Path) -> PathBuf {
            path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap()
                .to_path_buf()
        }

        fn digest(described: &[String]) -> String {
            crate::pipeline::hex(&Sha256::digest(described.join("\n").as_bytes()))
        }

        fn articles() -> Vec<crate::article::Article> {
            let mut out = Vec::new();
            for name in ["page.html", "story.md", "story.txt", "feed.jsonl"] {
                let path = fixture("articles").join(name);
                let bytes = std::fs::read(&path).unwrap();
                let src = crate::article::Source::named(&relative(&path));
                out.extend(crate::article::read_source_bytes(&src, &bytes).flatten());
            }
            assert!(out.len() >= 4, "the article fixtures read");
            out
        }

        fn meaning_labels() -> Vec<serde_json::Value> {
            let text = std::fs::read_to_string(fixture("meaning-labels.jsonl")).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }

        pub(super) fn readers() -> String {
            let mut described: Vec<String> = articles().iter().map(|a| format!("{a:?}")).collect();
            let pages = fixture("reader/pages");
            let mut names: Vec<_> = std::fs::read_dir(&pages).unwrap().flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for entry in names.iter().take(5) {
                let src = crate::article::Source::named(&relative(&entry.path()));
                let bytes = std::fs::read(entry.path()).unwrap();
                for read in crate::article::read_source_bytes(&src, &bytes) {
                    described.push(format!("{:?}", read.map_err(|r| r.reason)));
                }
            }
            digest(&described)
        }

        pub(super) fn chunks() -> String {
            let words = |text: &str| text.split_whitespace().count();
            let mut described = Vec::new();
            for article in articles() {
                described.push(format!("{:?}", crate::sentence::sentences(&article.text)));
                for (budget, overlap) in [(40, 0), (120, 16)] {
                    let opts = crate::chunk::ChunkOptions { budget, overlap };
                    let chunks = crate::chunk::chunk(&article.text, &words, &opts);
                    described.push(format!("{:?}", chunks.map_err(|e| e.to_string())));
                }
            }
            digest(&described)
        }

        pub(super) fn checks() -> String {
            use crate::check::{self, translation as t};
            let mut described = Vec::new();
            for label in meaning_labels() {
                let field = |k: &str| label[k].as_str().unwrap_or_default().to_string();
                let (en, tr, back, lang) = (
                    field("source"),
                    field("translation"),
                    field("back"),
                    field("lang"),
                );
                described.push(format!(
                    "{:?} {:?} {:?} {:?} {:?}",
                    t::check_numbers(&en, &tr, &lang),
                    t::check_names(&en, &tr, &lang),
                    t::check_names_read_back(&en, &tr, &back, &lang),
                    t::english_sentences(&en, &tr, &lang),
                    check::meaning::compare_with_names(
                        &en,
                        &back,
                        &t::names_written(&en, &tr, &lang)
                    ),
                ));
            }
            let labels = std::fs::read_to_string(fixture("grounding/labels.jsonl")).unwrap();
            for line in labels.lines() {
                let label: serde_json::Value = serde_json::from_str(line).unwrap();
                let sources: Vec<&str> = (label["sources"].as_array().into_iter().flatten())
                    .filter_map(|s| s.as_str())
                    .collect();
                let index = check::SourceIndex::new(&sources.join(" "));
                let units = [label["sentence"].as_str().unwrap_or_default().to_string()];
                described.push(format!("{:?}", check::ground(&units, &index)));
                described.push(format!("{:?}", check::off_article(&units, &index)));
            }
            // Real news: every article fixture, the reader's pages, the brief's feed.
            let mut news: Vec<String> = articles().into_iter().map(|a| a.text).collect();
            let mut pages: Vec<_> = std::fs::read_dir(fixture("reader/pages"))
                .unwrap()
                .flatten()
                .collect();
            pages.sort_by_key(|e| e.file_name());
            let feed = fixture("brief/articles.jsonl");
            for path in pages.iter().map(|e| e.path()).chain([feed]) {
                let src = crate::article::Source::named(&path);
                let bytes = std::fs::read(&path).unwrap();
                news.extend(
                    crate::article::read_source_bytes(&src, &bytes)
                        .flatten()
                        .map(|a| a.text),
                );
            }
            assert!(news.len() > 80, "the news fixtures read");
            for text in &news {
                for sentence in crate::sentence::sentences(text) {
                    described.push(format!("{}", check::reads_as_orders(sentence.text(text))));
                }
            }
            let injections = fixture("injection");
            let mut names: Vec<_> = std::fs::read_dir(&injections).unwrap().flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for entry in names {
                let text = std::fs::read_to_string(entry.path()).unwrap();
                for sentence in crate::sentence::sentences(&text) {
                    described.push(format!("{}", check::reads_as_orders(sentence.text(&text))));
                }
            }
            digest(&described)
        }

        pub(super) fn layout() -> String {
            let doc: crate::render::ArticleDoc = serde_json::from_value(serde_json::json!({
                "meta": {
                    "title": "Rates rise: \"a first\"", "source": "a.txt",
                    "input_sha256": "00ff", "model": "m", "model_sha256": "ab",
                    "languages": ["fr", "de"], "chunks": 2, "tokens_in": 10,
                    "tokens_out": 5, "seconds": 1.25, "key": "k",
                    "warnings": ["one sentence is unsupported"],
                },
                "summary": "Rates rose. Markets fell.",
                "translations": [
                    {"lang": "fr", "text": "Les taux ont augmenté. Les marchés ont baissé."},
                    {"lang": "de", "error": "numbers missing: 5"},
                ],
                "full_translations": [],
            }))
            .unwrap();
            let entry = crate::pipeline::testing::entry("a", crate::render::Status::Ok, "k");
            let failed = crate::pipeline::testing::entry("b", crate::render::Status::Failed, "k");
            let info = crate::render::IndexInfo {
                date: "2026-01-01".into(),
                model: "m".into(),
                ..Default::default()
            };
            digest(&[
                crate::render::render_article(&doc),
                crate::render::render_manifest(&[entry.clone(), failed.clone()]),
                crate::render::render_index(&info, &[entry, failed]),
            ])
        }
    }
}
