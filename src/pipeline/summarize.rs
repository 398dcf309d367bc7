//! Summarization with checks. An article longer than the window is read from its
//! excerpts ([`crate::excerpt`]), summarized stretch by stretch; or, with
//! [`LongArticles::MapReduce`], cut into chunks, each chunk summarized, and the
//! partial summaries combined (in rounds, while they are still too long). The summary is then
//! checked: an answer that is not about the article (or obeyed orders written in it)
//! is asked again with those orders withheld, and one with sentences the article does
//! not support is asked again to stick to the article; what still fails is flagged.

use std::sync::Arc;

use rayon::prelude::*;

use super::runner::{Ask, Runner, Writes};
use super::warning::{Warning, WarningKind};
use crate::check::{ground, off_article, SentenceSupport, SourceIndex};
use crate::chunk::{chunk, chunk_budget, ChunkOptions};
use crate::error::{Error, Result};
use crate::excerpt::excerpts;
use crate::model::{Enough, Model};
use crate::prompts::{LongArticles, Prompt, Retry, Source, Style, SummaryAsk};
use crate::sentence::sentences;

#[derive(Debug, Clone)]
pub struct SummarySpec {
    pub sentences: usize,
    pub style: Style,
    pub long: LongArticles,
    /// Tokens of context repeated from one chunk into the next.
    pub overlap: usize,
    /// The model checks each grounded sentence against its sources.
    pub verify: bool,
}

impl SummarySpec {
    /// Room for the answer: a news sentence is rarely over 50 tokens.
    pub fn answer_tokens(&self) -> usize {
        64 + 64 * self.sentences
    }
}

/// Tokens of article one chunk may hold in a `window`-token context, room left for
/// the longest prompt (combining, with a retry's words) and the answer: one budget
/// for every step. An error when the window is too small for `spec`.
pub fn chunk_room(model: &Model, window: usize, spec: &SummarySpec) -> Result<usize> {
    let answer = spec.answer_tokens();
    let summaries = SummaryAsk {
        source: Source::Summaries,
        sentences: spec.sentences,
        style: spec.style,
        retry: Retry::OnTopic,
    };
    let prompt = Prompt::summary_of("", &summaries, model.is_chat());
    let overhead = Runner::prompt_overhead(model, &prompt)?;
    chunk_budget(window, overhead, answer)
        .filter(|&b| b >= 2 * answer + 16)
        .ok_or_else(|| {
            Error::Context(format!(
                "a {window}-token window leaves no room to summarize in chunks of \
                 {answer}-token answers: use a larger --context or fewer --sentences"
            ))
        })
}

/// The most sentences, up to `cap`, a summary in `style` may ask for in a
/// `window`-token context (0 if not even one).
pub fn most_sentences(model: &Model, window: usize, style: Style, cap: usize) -> usize {
    (1..=cap)
        .rev()
        .find(|&sentences| {
            let spec = SummarySpec {
                sentences,
                style,
                long: LongArticles::default(),
                overlap: 0,
                verify: false,
            };
            chunk_room(model, window, &spec).is_ok()
        })
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub text: String,
    /// Each sentence (or bullet point) with the article sentences supporting it.
    pub support: Vec<SentenceSupport>,
    /// Chunks the article was cut into (1 when it fit the window whole, or was
    /// read from its excerpts).
    pub chunks: usize,
    /// Sentences the article has (the sources cite `S1` to this).
    pub article_sentences: usize,
    /// Combination rounds after the first pass (0 when it fit whole).
    pub rounds: usize,
    pub warnings: Vec<Warning>,
}

/// Most tokens of a long article's excerpts: about 30 s of prefill for the
/// default model on a 2-core Zen 2 (66 tokens/s), and a text short enough for a
/// small model to keep in view.
const EXCERPT_TOKENS: usize = 2048;

/// Never more rounds than this: each round at least halves the text.
const MAX_ROUNDS: usize = 16;

pub fn summarize(runner: &Runner, text: &str, spec: &SummarySpec) -> Result<Summary> {
    let index = Arc::new(SourceIndex::new(text));
    let mut warnings = Vec::new();
    // Sentences that give the model orders never reach it: a story that quotes one
    // loses that quote, which is cheaper than a summary that obeys it.
    let orders = index.order_numbers();
    let shown = if orders.is_empty() {
        text.to_string()
    } else {
        let cited: Vec<String> = orders.iter().map(|n| format!("S{n}")).collect();
        warnings.push(Warning::new(
            WarningKind::WithheldOrders,
            format!(
                "{} sentence(s) read as orders to the model and were withheld from it: {}",
                orders.len(),
                cited.join(", ")
            ),
        ));
        index.without_orders()
    };
    let available = index.sentences.len() - orders.len();
    let plan = Plan::new(runner, &shown, spec)?;
    let mut draft = plan.finish(runner, spec, Retry::First, available, &index)?;

    if let Some(reason) = off_article(&draft.units, &index) {
        tracing::info!("summary is off the article ({reason}); asking again");
        draft = plan.finish(runner, spec, Retry::OnTopic, available, &index)?;
        if let Some(reason) = off_article(&draft.units, &index) {
            warnings.push(Warning::new(
                WarningKind::OffArticle,
                format!(
                    "the summary may not be about the article, even when asked again: {reason}"
                ),
            ));
        }
    }

    let mut support = ground(&draft.units, &index);
    if support.iter().any(|s| !s.supported) {
        tracing::info!("summary has unsupported sentences; asking again");
        let again = plan.finish(runner, spec, Retry::Faithful, available, &index)?;
        let again_support = ground(&again.units, &index);
        let unsupported = |s: &[SentenceSupport]| s.iter().filter(|x| !x.supported).count();
        // The retry wins unless it is worse, or it wandered off the article.
        if unsupported(&again_support) <= unsupported(&support)
            && off_article(&again.units, &index).is_none()
        {
            draft = again;
            support = again_support;
        }
    }
    let (draft, mut support) = hold_count(draft, support, spec, available, &mut warnings);
    if spec.verify {
        super::verify::verify(runner, &mut support)?;
    }
    for (i, s) in support.iter().enumerate() {
        if let Some(problem) = s.problem() {
            warnings.push(
                Warning::new(
                    WarningKind::Unsupported,
                    format!("summary sentence {} is unsupported: {problem}", i + 1),
                )
                .about_sentence(i + 1),
            );
        }
    }
    warnings.extend(plan.warnings.iter().cloned());
    warnings.extend(draft.warnings);
    Ok(Summary {
        text: draft.text,
        support,
        chunks: plan.chunks,
        article_sentences: index.sentences.len(),
        rounds: plan.rounds,
        warnings,
    })
}

/// One answer for the final step of a summary.
struct Draft {
    text: String,
    units: Vec<String>,
    warnings: Vec<Warning>,
    /// The answer stopped at its token limit.
    cut_off: bool,
}

/// Everything up to the final summary step, done once and reused by its retries:
/// the text the last prompt summarizes (the article, or its parts' summaries), or
/// a long article's excerpts in stretches.
struct Plan {
    input: String,
    source: Source,
    chunks: usize,
    rounds: usize,
    /// About the partial summaries (some stopped at their token limit).
    warnings: Vec<Warning>,
    /// A long article's excerpts as consecutive stretches of it, each summarized on
    /// its own by the final step ([`LongArticles::Excerpts`]); empty otherwise.
    stretches: Vec<String>,
}

impl Plan {
    fn new(runner: &Runner, text: &str, spec: &SummarySpec) -> Result<Self> {
        let answer = spec.answer_tokens();
        let budget = chunk_room(runner.model, runner.window, spec)?;
        let options = ChunkOptions {
            budget,
            overlap: spec.overlap,
        };
        let tokenizer = &*runner.model.tokenizer;
        let chunks = chunk(text, tokenizer, &options)?;
        if chunks.len() <= 1 {
            return Ok(Plan {
                input: text.to_string(),
                source: Source::Article,
                chunks: 1,
                rounds: 0,
                warnings: Vec::new(),
                stretches: Vec::new(),
            });
        }
        let groups = spec.sentences.clamp(1, crate::excerpt::PARTS);
        let e = match spec.long {
            LongArticles::Excerpts => Some(excerpts(
                text,
                None,
                budget.min(EXCERPT_TOKENS),
                groups,
                tokenizer,
            )?),
            LongArticles::MapReduce => None,
        };
        // No sentence fits the budget (a text without sentence ends): map-reduce.
        if let Some(e) = e.filter(|e| !e.kept.is_empty()) {
            let note = format!(
                "the article is longer than one window ({} parts): the summary was written \
                 from {} of its {} sentences ({} tokens), chosen over all of it, in {} \
                 stretches",
                chunks.len(),
                e.kept.len(),
                e.of,
                e.tokens,
                e.parts.len()
            );
            return Ok(Plan {
                input: e.text,
                source: Source::Excerpts,
                chunks: 1,
                rounds: 0,
                warnings: vec![Warning::new(WarningKind::Excerpted, note)],
                stretches: e.parts,
            });
        }
        // Map: chunks are independent jobs on the pool. Partial summaries are plain
        // paragraphs whatever the final style; only the last step lays it out.
        let partial = SummarySpec {
            style: Style::Paragraph,
            ..spec.clone()
        };
        // A partial summary cut at its limit may have lost what the final one needed.
        let cut_parts = std::sync::atomic::AtomicUsize::new(0);
        let summarize_all = |texts: Vec<&str>, source| -> Result<Vec<String>> {
            texts
                .into_par_iter()
                .map(|t| {
                    let draft = summary(runner, t, source, &partial, Retry::First, None, None)?;
                    if draft.cut_off {
                        cut_parts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(draft.text)
                })
                .collect()
        };
        let warnings = || match cut_parts.load(std::sync::atomic::Ordering::Relaxed) {
            0 => Vec::new(),
            n => vec![Warning::new(
                WarningKind::PartsCut,
                format!(
                    "{n} partial summaries (map-reduce) stopped at the {}-token limit",
                    runner.limit(answer)
                ),
            )],
        };
        let mut parts = summarize_all(
            chunks.iter().map(|c| c.text.as_str()).collect(),
            Source::Part,
        )?;

        // Reduce: combine the parts once they fit, else summarize groups of them.
        let no_overlap = ChunkOptions { budget, overlap: 0 };
        for round in 1..=MAX_ROUNDS {
            let joined = parts.join("\n\n");
            if runner.count(&joined)? <= budget {
                return Ok(Plan {
                    input: joined,
                    source: Source::Summaries,
                    chunks: chunks.len(),
                    rounds: round,
                    warnings: warnings(),
                    stretches: Vec::new(),
                });
            }
            let groups = chunk(&joined, tokenizer, &no_overlap)?;
            if groups.len() >= parts.len() {
                return Err(Error::Context(format!(
                    "partial summaries do not shrink ({} parts, {} groups): the window is \
                     too small for this article",
                    parts.len(),
                    groups.len()
                )));
            }
            parts = summarize_all(
                groups.iter().map(|g| g.text.as_str()).collect(),
                Source::Summaries,
            )?;
        }
        Err(Error::Context(format!(
            "the summary did not converge in {MAX_ROUNDS} rounds"
        )))
    }

    /// The final summary; `available` is how many sentences the article has to say.
    fn finish(
        &self,
        runner: &Runner,
        spec: &SummarySpec,
        retry: Retry,
        available: usize,
        index: &Arc<SourceIndex>,
    ) -> Result<Draft> {
        if !self.stretches.is_empty() {
            return self.finish_stretches(runner, spec, retry, index);
        }
        summary(
            runner,
            &self.input,
            self.source,
            spec,
            retry,
            Some(available),
            Some(index),
        )
    }
}

impl Plan {
    /// The final summary of a long article's excerpts: each stretch in its share
    /// of the sentences, in the article's order. Read whole, excerpts were
    /// summarized by their opening (the lead of a 20k-token biography, a debate's
    /// welcome); combined from five stretch summaries, the first two or three were
    /// kept. A stretch that answers with more keeps its first (the model writes
    /// the most important first), and `hold_count` holds the total to the count.
    fn finish_stretches(
        &self,
        runner: &Runner,
        spec: &SummarySpec,
        retry: Retry,
        index: &Arc<SourceIndex>,
    ) -> Result<Draft> {
        // The sentences shared out, the earlier stretches taking any remainder.
        let (n, k) = (spec.sentences, self.stretches.len());
        let share = |i: usize| n / k + usize::from(i < n % k);
        let drafts = self
            .stretches
            .par_iter()
            .enumerate()
            .filter(|(i, _)| share(*i) > 0)
            .map(|(i, t)| {
                let each = SummarySpec {
                    sentences: share(i),
                    style: Style::Paragraph,
                    ..spec.clone()
                };
                let draft = summary(runner, t, Source::Excerpts, &each, retry, None, Some(index))?;
                Ok((share(i), draft))
            })
            .collect::<Result<Vec<(usize, Draft)>>>()?;
        let mut units = Vec::new();
        let mut warnings = Vec::new();
        let mut cut_off = false;
        for (share, d) in drafts {
            units.extend(d.units.into_iter().take(share));
            warnings.extend(d.warnings);
            cut_off |= d.cut_off;
        }
        Ok(Draft {
            text: layout(&units, spec.style),
            units,
            warnings,
            cut_off,
        })
    }
}

/// Holds the final summary to the sentences asked for. One too many (segmenters
/// and models disagree on what a sentence is) costs no model call: unsupported
/// sentences go first, then the last ones; the rest keep their order. Too few, where the
/// article has enough to say, was asked again in [`summary`]; what is still short
/// is said in a warning.
fn hold_count(
    mut draft: Draft,
    support: Vec<SentenceSupport>,
    spec: &SummarySpec,
    available: usize,
    warnings: &mut Vec<Warning>,
) -> (Draft, Vec<SentenceSupport>) {
    let (n, have) = (spec.sentences, support.len());
    let noun = |k: usize| match (spec.style, k) {
        (Style::Paragraph, 1) => "sentence",
        (Style::Paragraph, _) => "sentences",
        (Style::Bullets, 1) => "point",
        (Style::Bullets, _) => "points",
    };
    if have < n {
        let message = if available < n {
            format!(
                "the summary has {have} {} instead of {n}: the article has only {available} to say",
                noun(have)
            )
        } else {
            format!(
                "the summary has {have} {} instead of {n}: the model wrote no more, even when asked again",
                noun(have)
            )
        };
        warnings.push(Warning::new(WarningKind::TooFew, message));
        return (draft, support);
    }
    if have == n {
        return (draft, support);
    }
    // Unsupported sentences go first, then the last ones: the model writes the
    // most important first. (Ranking by coverage would keep copied sentences over
    // the model's own lead.)
    let mut rank: Vec<usize> = (0..have).collect();
    rank.sort_by_key(|&i| (!support[i].supported, i));
    let mut keep = rank[..n].to_vec();
    keep.sort_unstable();
    warnings.push(Warning::new(
        WarningKind::Dropped,
        format!(
            "the model wrote {have} {} for {n}; the last or unsupported {} {} left out",
            noun(have),
            noun(have - n),
            if have - n == 1 { "was" } else { "were" }
        ),
    ));
    draft.units = keep.iter().map(|&i| draft.units[i].clone()).collect();
    draft.text = layout(&draft.units, spec.style);
    let support = keep.iter().map(|&i| support[i].clone()).collect();
    (draft, support)
}

/// Summary units laid out in `style`: a paragraph, or one `- ` line per point.
fn layout(units: &[String], style: Style) -> String {
    match style {
        Style::Paragraph => units.join(" "),
        Style::Bullets => units
            .iter()
            .map(|item| format!("- {item}"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// One summary of the requested length. An answer that runs long (small models
/// sometimes copy the article), or short where the article (`available`
/// sentences, known for the final step) has enough to say, is asked again with
/// the length wording; one still long is condensed (bullets: a paragraph's
/// answer stops one sentence over the count, which is not too long). Partial summaries (no
/// `available`) are cut to length with a warning; the final one is held to its
/// count by [`hold_count`], which knows the grounding. Given the article's `index`,
/// an answer whose first sentences up to the count are all grounded ends there.
fn summary(
    runner: &Runner,
    text: &str,
    source: Source,
    spec: &SummarySpec,
    retry: Retry,
    available: Option<usize>,
    index: Option<&Arc<SourceIndex>>,
) -> Result<Draft> {
    let chat = runner.model.is_chat();
    let mut ask = SummaryAsk {
        source,
        sentences: spec.sentences,
        style: spec.style,
        retry,
    };
    // Decoding stops one sentence over the count: `hold_count` then drops the
    // unsupported or last sentence without a model call. Stopping two over made a
    // long answer "too long" and asked again (the seed: a second answer, 26.0 s cold
    // against 17.6 s, farm-bench 3 pairs on an Intel Xeon family 6 model 167); an
    // answer that copies the article no longer decodes to its 256-token limit.
    // The spare sentence is only decoded where one of those before it is not
    // grounded: when all are, `hold_count` would drop the spare, and the answer is
    // the same without decoding it (the seed: 72 of 97 tokens).
    let paragraph = spec.style == Style::Paragraph;
    let max_sentences = paragraph.then_some(spec.sentences + 1);
    let enough = index
        .filter(|_| paragraph)
        .map(|index| grounded(index, text, spec.sentences));
    let ask_model = |ask: &SummaryAsk| -> Result<(String, bool)> {
        let prompt = Prompt::summary_of(text, ask, chat);
        let ask = Ask::new(prompt, spec.answer_tokens(), Writes::Text)
            .sentences(max_sentences)
            .enough(enough.clone());
        let answer = runner.answer_one(&ask)?;
        let answer_text = rejoin_initials(&crate::prompts::unfence(&answer.text), text);
        Ok((answer_text, answer.cut))
    };
    let (mut answer, mut cut_off) = ask_model(&ask)?;
    let n = spec.sentences;
    let count = |a: &str| units(a, spec.style).len();
    // One sentence too many is left to `hold_count`, which drops it without a model
    // call (bullets have no sentence stop, so theirs may run longer and are asked
    // again); too few is asked again only where the article has enough to say.
    let short = |a: &str| available.is_some_and(|k| k >= n) && count(a) < n;
    if (count(&answer) > n + 1 || short(&answer)) && chat && retry == Retry::First {
        ask.retry = Retry::Length;
        let (again, again_cut) = ask_model(&ask)?;
        if count(&again).abs_diff(n) <= count(&answer).abs_diff(n) {
            (answer, cut_off) = (again, again_cut);
        }
    }
    // Still long: condense the model's own answer (short, so cheap) rather than
    // keep its first sentences, which are usually the article's lead, copied.
    if units(&answer, spec.style).len() > spec.sentences + 1 && chat && retry == Retry::First {
        let condense = SummaryAsk {
            source: Source::Summaries,
            retry: Retry::Length,
            ..ask
        };
        let prompt = Prompt::summary_of(&answer, &condense, chat);
        let shorter = runner.answer(&prompt, spec.answer_tokens())?;
        let shorter_text = rejoin_initials(&crate::prompts::unfence(&shorter.text), text);
        if !shorter_text.is_empty()
            && units(&shorter_text, spec.style).len() < units(&answer, spec.style).len()
        {
            (answer, cut_off) = (shorter_text, shorter.cut);
        }
    }
    let mut warnings = Vec::new();
    if cut_off {
        warnings.push(Warning::new(
            WarningKind::AnswerCut,
            format!(
                "the summary's answer stopped at the {}-token limit",
                runner.limit(spec.answer_tokens())
            ),
        ));
    }
    let mut items = units(&answer, spec.style);
    let cut = available.is_none() && items.len() > spec.sentences + 1;
    if cut {
        warnings.push(Warning::new(
            WarningKind::Shortened,
            format!(
                "the summary ran to {} {}; cut to {}",
                items.len(),
                match spec.style {
                    Style::Paragraph => "sentences",
                    Style::Bullets => "points",
                },
                spec.sentences
            ),
        ));
        items.truncate(spec.sentences);
    }
    let summary = match spec.style {
        Style::Paragraph if !cut => answer,
        // Bullets are always re-laid out: the model may answer in prose or number its points.
        _ => layout(&items, spec.style),
    };
    if summary.trim().is_empty() {
        return Err(Error::Model("the model gave an empty summary".into()));
    }
    Ok(Draft {
        units: units(&summary, spec.style),
        text: summary,
        warnings,
        cut_off,
    })
}

/// Takes an answer's first `n` sentences when each is grounded in the article
/// (`index`): read as [`summary`] reads the whole answer, from `source`.
fn grounded(index: &Arc<SourceIndex>, source: &str, n: usize) -> Enough {
    let (index, source) = (Arc::clone(index), Arc::<str>::from(source));
    Enough {
        sentences: n,
        accept: Arc::new(move |text| {
            let answer = rejoin_initials(&crate::prompts::unfence(text), &source);
            let units = units(&answer, Style::Paragraph);
            units.len() == n && ground(&units, &index).iter().all(|s| s.supported)
        }),
    }
}

/// `answer` with initials the model spaced out ("U. S.", "U. K.") written as its
/// `source` writes them ("U.S."). The default model copies "U.S." as "U. S." (it
/// picks " S" after "U." where the tokenizer reads ".S"); where the source spaces
/// them ("J. R. R. Tolkien") they stay spaced.
pub fn rejoin_initials(answer: &str, source: &str) -> String {
    static SPACED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SPACED.get_or_init(|| {
        regex::Regex::new(r"\b\p{Lu}\.(?: \p{Lu}\.)+").expect("the initials pattern compiles")
    });
    re.replace_all(answer, |c: &regex::Captures| {
        let joined = c[0].replace(' ', "");
        if source.contains(&joined) {
            joined
        } else {
            c[0].to_string()
        }
    })
    .into_owned()
}

/// The sentences of an answer, or for bullets its points: the marked lines
/// (markers removed), or its sentences when it answered in prose.
fn units(answer: &str, style: Style) -> Vec<String> {
    let sentences = || {
        sentences(answer)
            .iter()
            .map(|s| s.text(answer).to_string())
            .collect()
    };
    match style {
        Style::Paragraph => sentences(),
        Style::Bullets => {
            let points: Vec<String> = answer
                .lines()
                .filter_map(|l| strip_marker(l.trim()))
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            if points.is_empty() {
                sentences()
            } else {
                points
            }
        }
    }
}

/// The text of a list item (`- `, `* `, `• `, `1. `, `1) `), or None.
fn strip_marker(line: &str) -> Option<&str> {
    if let Some(rest) = ["- ", "* ", "• "].iter().find_map(|m| line.strip_prefix(m)) {
        return Some(rest.trim());
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = &line[digits..];
    (digits > 0 && (rest.starts_with(". ") || rest.starts_with(") "))).then(|| rest[2..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaced_initials_are_written_as_the_article_writes_them() {
        let source = "The U.S. and the U.K. met J. R. R. Tolkien's heirs.";
        assert_eq!(
            rejoin_initials("The U. S. and U. K. talks. J. R. R. Tolkien wrote.", source),
            "The U.S. and U.K. talks. J. R. R. Tolkien wrote."
        );
        assert_eq!(rejoin_initials("A. B. said", "No initials."), "A. B. said");
    }

    /// The most sentences a window allows is the last count whose chunks still fit.
    #[test]
    fn most_sentences_is_where_the_window_runs_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        crate::model::synthetic::TinyGguf::llama()
            .write(&path)
            .unwrap();
        let model = Model::load_path("tiny".into(), path).unwrap();
        let spec = |sentences| SummarySpec {
            sentences,
            style: Style::Paragraph,
            long: LongArticles::default(),
            overlap: 0,
            verify: false,
        };
        let most = most_sentences(&model, 2048, Style::Paragraph, 20);
        assert!((3..20).contains(&most), "{most}");
        assert!(chunk_room(&model, 2048, &spec(most)).is_ok());
        let err = chunk_room(&model, 2048, &spec(most + 1)).unwrap_err();
        assert!(err.to_string().contains("--sentences"), "{err}");
        assert_eq!(most_sentences(&model, 8192, Style::Paragraph, 20), 20);
        assert_eq!(most_sentences(&model, 200, Style::Paragraph, 20), 0);
    }

    #[test]
    fn the_count_is_held_by_dropping_the_least_supported() {
        let index = crate::check::SourceIndex::new(
            "The council approved a $2 million budget on Tuesday. The mayor, Jane Smith, \
             praised the vote. Residents will pay lower fees next year.",
        );
        let units: Vec<String> = [
            "The council approved a $2 million budget.",
            "Jane Smith praised the vote.",
            "The football season opened in Madrid.",
            "Residents will pay lower fees next year.",
        ]
        .map(String::from)
        .to_vec();
        let draft = Draft {
            text: units.join(" "),
            units: units.clone(),
            warnings: Vec::new(),
            cut_off: false,
        };
        let support = crate::check::ground(&units, &index);
        let spec = |sentences| SummarySpec {
            sentences,
            style: Style::Paragraph,
            long: LongArticles::default(),
            overlap: 0,
            verify: false,
        };
        let mut warnings = Vec::new();
        let (held, support) = hold_count(draft, support, &spec(3), 3, &mut warnings);
        assert_eq!(
            held.text,
            "The council approved a $2 million budget. Jane Smith praised the vote. \
             Residents will pay lower fees next year."
        );
        assert_eq!(support.len(), 3);
        assert!(
            warnings[0].message.contains("wrote 4 sentences for 3"),
            "{warnings:?}"
        );
        assert_eq!(warnings[0].kind, WarningKind::Dropped);

        // Too few: said, and why.
        for (available, why) in [(2, "the article has only 2"), (5, "wrote no more")] {
            let mut warnings = Vec::new();
            let one = Draft {
                text: units[0].clone(),
                units: units[..1].to_vec(),
                warnings: Vec::new(),
                cut_off: false,
            };
            let support = crate::check::ground(&units[..1], &index);
            let (held, _) = hold_count(one, support, &spec(3), available, &mut warnings);
            assert_eq!(held.units.len(), 1);
            assert!(
                warnings[0].message.contains("1 sentence instead of 3"),
                "{warnings:?}"
            );
            assert!(warnings[0].message.contains(why), "{warnings:?}");
            assert_eq!(warnings[0].kind, WarningKind::TooFew);
        }
    }

    #[test]
    fn points_of_a_bulleted_answer() {
        let answer = "Here are the points:\n- One.\n* Two.\n3) Three.\n4. Four.";
        assert_eq!(
            units(answer, Style::Bullets),
            ["One.", "Two.", "Three.", "Four."]
        );
        // Prose where bullets were asked for: its sentences become the points.
        assert_eq!(
            units("A happened. B followed.", Style::Bullets),
            ["A happened.", "B followed."]
        );
        assert_eq!(units("A happened. B followed.", Style::Paragraph).len(), 2);
        assert_eq!(strip_marker("2024 was a year."), None);
    }
}
