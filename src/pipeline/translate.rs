//! Checked translations, sentence by sentence. Small models translate a sentence
//! better than a paragraph (they drop and invent less), so a text is cut into its
//! sentences and each is translated with the known forms of its names
//! (quality-aware decoding):
//!
//! 1. every sentence of every language is translated greedily, all at once (one
//!    batch in the scheduler);
//! 2. each translation is checked: numbers, names, no English left, and its meaning,
//!    from a translation back into English ([`crate::check::meaning`]);
//! 3. a sentence that fails gets more candidates, one a round until one passes (at
//!    most two), sampled at rising temperatures with fixed seeds (the output stays
//!    deterministic), checked the same way; the best is kept.
//!
//! A language is published when every sentence passed, or when one sentence of
//! two or more is doubtful only on a name or its meaning: that sentence is marked.
//! A missing number (or one written at another magnitude), a sentence left in English or in the wrong language, or more
//! doubtful sentences fail the language rather than publish it wrong.

use super::runner::{Answer, Ask, Runner, Sample, Writes};
use crate::check::magnitude::amounts_written;
use crate::check::meaning::{compare_with_names, Meaning};
use crate::check::translation::{
    check_translation_language, english_sentences, glossary, names_written, NumberFaults,
};
use crate::check::{check_names_read_back, Check, SentenceCheck, TranslationChecks};
use crate::chunk::{chunk, chunk_budget, ChunkOptions};
use crate::error::{Error, Result};
use crate::lang::{language_name, LanguageCheck};
use crate::prompts::{unfence, Prompt, UnitAsk};
use crate::sentence::sentences;

/// A translation into one language: the text, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// ISO 639-1 code.
    pub lang: String,
    pub outcome: std::result::Result<String, String>,
    /// Worth knowing but not a failure (a language no identifier covers, a sentence
    /// published marked as doubtful).
    pub warning: Option<String>,
    pub checks: TranslationChecks,
}

impl Translation {
    /// `text` as its own translation into `lang`, the language it is written in.
    pub fn original(lang: &str, text: &str) -> Self {
        let language = language_name(lang).unwrap_or(lang);
        Translation {
            lang: lang.to_string(),
            outcome: Ok(text.to_string()),
            warning: None,
            checks: TranslationChecks {
                language: Some(Check::noted(format!(
                    "the article is in {language}: its own text, not translated"
                ))),
                ..TranslationChecks::default()
            },
        }
    }

    /// Why it was not published, as a warning names it (`None`: published).
    pub fn failure(&self) -> Option<String> {
        let reason = self.outcome.as_ref().err()?;
        Some(format!("{} translation failed: {reason}", self.lang))
    }
}

/// Candidates per sentence at most: the greedy one and this many less one samples.
/// Five (samples at 0.3, 0.5, 0.7, 0.9) marked 9.7% of published sentences against
/// 11.9% for three, and published 56 of 60 against 57, but took 2.30x the time of
/// whole-text translation against 1.93x (the bound is 2x; `scripts/bench-translate.sh`,
/// 20 articles, fr/de/es, Intel Xeon family 6 model 167): three it is, each sample
/// only while no candidate passed. A repair as the first retry (the model shown
/// what the checks found, a lost term or number, and asked again; then one sample
/// at 0.3) did not win: on 34 translations side by side it published 26 against 28
/// and marked 10.1% of sentences against 8.0%, in the same time (family 6 model 207).
const CANDIDATES: usize = 3;

/// The samples' temperatures: low, so a candidate stays a translation.
const TEMPERATURES: [f64; CANDIDATES - 1] = [0.3, 0.6];

/// Translates `text` into `lang` (a code), keeping its paragraph breaks.
pub fn translate(runner: &Runner, text: &str, lang: &str) -> Translation {
    translate_all(runner, text, &[lang.to_string()])
        .pop()
        .expect("one translation per language")
}

/// Translates `text` into every language of `langs` at once, sentence by sentence.
pub fn translate_all(runner: &Runner, text: &str, langs: &[String]) -> Vec<Translation> {
    match Work::plan(runner, text, langs).and_then(|w| w.run(runner)) {
        Ok(done) => done,
        Err(e) => langs
            .iter()
            .map(|lang| failed(lang, e.to_string(), TranslationChecks::default()))
            .collect(),
    }
}

/// Translates `text`, written in `written_in` when known, into every language of
/// `langs`: into its own language it is its own text, not a model call.
pub fn translate_from(
    runner: &Runner,
    text: &str,
    written_in: Option<&str>,
    langs: &[String],
) -> Vec<Translation> {
    let own = |lang: &String| written_in == Some(lang.as_str());
    let asked: Vec<String> = langs.iter().filter(|l| !own(l)).cloned().collect();
    let mut translated = translate_all(runner, text, &asked).into_iter();
    langs
        .iter()
        .map(|lang| match own(lang) {
            true => Translation::original(lang, text),
            false => translated
                .next()
                .expect("one translation per language asked"),
        })
        .collect()
}

/// A piece of the text translated on its own: a sentence (cut to fit if it is
/// over the budget), with its paragraph.
#[derive(Debug, Clone)]
struct Unit {
    paragraph: usize,
    text: String,
    tokens: usize,
}

/// One candidate translation of a unit, and how it checks.
#[derive(Debug, Clone)]
struct Candidate {
    text: String,
    back: String,
    cut: bool,
    meaning: Meaning,
    /// Numbers of the English it lost or resized.
    numbers: NumberFaults,
    /// A sentence of it in English.
    english: Option<String>,
    names: Check,
}

impl Candidate {
    /// `text`, a translation of `english` into `lang` that read `back` into English,
    /// checked.
    /// `surprisal` is the model's at `english` as the translation back of `text`
    /// ([`Meaning::surprisal`]), where it was scored.
    fn checked(
        english: &str,
        text: String,
        back: String,
        lang: &str,
        cut: bool,
        surprisal: Option<f32>,
    ) -> Self {
        // What the tables verified in the translation need not survive the round trip.
        let mut verified = names_written(english, &text, lang);
        verified.extend(amounts_written(english, &text, lang));
        Candidate {
            meaning: match surprisal {
                Some(s) => compare_with_names(english, &back, &verified).with_surprisal(s),
                None => compare_with_names(english, &back, &verified),
            },
            names: check_names_read_back(english, &text, &back, lang),
            back,
            numbers: NumberFaults::of(english, &text, lang),
            english: english_sentences(english, &text, lang).into_iter().next(),
            cut,
            text,
        }
    }

    /// What rules it out of publication: an empty or cut answer, a lost number, a
    /// sentence left in English.
    fn fatal(&self) -> Option<String> {
        if self.text.trim().is_empty() {
            Some("the answer is empty".into())
        } else if self.cut {
            Some("the answer stopped at the token limit".into())
        } else if !self.numbers.is_empty() {
            Some(self.numbers.to_string())
        } else {
            self.english
                .as_ref()
                .map(|s| format!("a sentence was left in English: \"{s}\""))
        }
    }

    /// Why it is doubtful (a name or its meaning), if it is.
    fn doubt(&self) -> Option<String> {
        let mut why = Vec::new();
        if let Some(detail) = self.names.detail.as_ref().filter(|_| !self.names.passed) {
            why.push(detail.clone());
        }
        if self.meaning.doubtful() {
            why.push(self.meaning.describe());
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Best first: nothing fatal, then no doubt, then the lower surprisal (the
    /// higher meaning score where there is none); the earlier candidate (greedy
    /// first) on a tie.
    fn rank(&self) -> (bool, bool, bool, u32) {
        let unlikely = match self.meaning.surprisal {
            Some(s) => (s.max(0.0) * 100.0) as u32,
            None => ((1.0 - self.meaning.score) * 1000.0) as u32,
        };
        (
            self.fatal().is_some(),
            !self.names.passed,
            self.meaning.doubtful(),
            unlikely,
        )
    }
}

/// One unit in one language, with its candidates so far.
struct Job {
    lang: usize,
    unit: usize,
    glossary: Vec<(String, String)>,
    candidates: Vec<Candidate>,
}

/// Everything one call translates: the units, and a job per unit and language.
struct Work<'a> {
    langs: &'a [String],
    units: Vec<Unit>,
    paragraphs: usize,
    separator: &'static str,
    chat: bool,
    jobs: Vec<Job>,
}

/// Room for an answer: a translation can run to twice its source's tokens.
fn answer_tokens(source_tokens: usize) -> usize {
    2 * source_tokens + 32
}

impl<'a> Work<'a> {
    fn plan(runner: &Runner, text: &str, langs: &'a [String]) -> Result<Self> {
        let chat = runner.model.is_chat();
        // Base models take a line of parallel text: a paragraph is a line.
        let separator = if chat { "\n\n" } else { "\n" };
        // Room for a unit: the longest prompt (a language's examples) and twice the unit as answer, with a margin.
        let probe = |lang: &str| {
            Prompt::translation_unit(
                &UnitAsk {
                    text: "",
                    lang,
                    glossary: &[],
                },
                chat,
            )
        };
        let mut overhead = 0;
        for lang in langs {
            overhead = overhead.max(runner.overhead(&probe(lang))?);
        }
        let budget = chunk_budget(runner.window, overhead, 64)
            .map(|room| room / 3)
            .filter(|&b| b >= 16)
            .ok_or_else(|| {
                Error::Context(format!(
                    "a {}-token window leaves no room to translate",
                    runner.window
                ))
            })?;
        let options = ChunkOptions { budget, overlap: 0 };
        let mut units = Vec::new();
        let paragraphs: Vec<&str> = text
            .split(separator)
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        for (paragraph, p) in paragraphs.iter().enumerate() {
            for s in sentences(p) {
                let s = s.text(p).trim();
                if s.is_empty() {
                    continue;
                }
                // A sentence over the budget is still cut to fit.
                for piece in chunk(s, &*runner.model.tokenizer, &options)? {
                    let tokens = runner.count(&piece.text)?;
                    units.push(Unit {
                        paragraph,
                        text: piece.text,
                        tokens,
                    });
                }
            }
        }
        let mut jobs = Vec::new();
        for (l, lang) in langs.iter().enumerate() {
            for (u, unit) in units.iter().enumerate() {
                jobs.push(Job {
                    lang: l,
                    unit: u,
                    glossary: if chat {
                        glossary(&unit.text, lang)
                    } else {
                        Vec::new()
                    },
                    candidates: Vec::new(),
                });
            }
        }
        Ok(Work {
            langs,
            units,
            paragraphs: paragraphs.len(),
            separator,
            chat,
            jobs,
        })
    }

    fn run(mut self, runner: &Runner) -> Result<Vec<Translation>> {
        // Greedy for every job, then one sample a round for the jobs with no
        // passing candidate yet: a job stops at its first that passes.
        let all: Vec<usize> = (0..self.jobs.len()).collect();
        self.candidates(runner, &all, None)?;
        let passes = |c: &Candidate| c.fatal().is_none() && c.doubt().is_none();
        for (k, temperature) in TEMPERATURES.iter().enumerate() {
            let failing: Vec<usize> = (0..self.jobs.len())
                .filter(|&j| !self.jobs[j].candidates.iter().any(passes))
                .collect();
            if failing.is_empty() {
                break;
            }
            let sample = Sample {
                temperature: *temperature,
                seed: 1 + k as u64,
            };
            self.candidates(runner, &failing, Some(sample))?;
        }
        Ok((0..self.langs.len()).map(|l| self.assemble(l)).collect())
    }

    /// One more candidate for each of `jobs` (greedy, or sampled), translated and
    /// translated back in two batches, and checked.
    fn candidates(
        &mut self,
        runner: &Runner,
        jobs: &[usize],
        sample: Option<Sample>,
    ) -> Result<()> {
        let asks: Vec<Ask> = jobs
            .iter()
            .map(|&j| {
                let job = &self.jobs[j];
                let unit = &self.units[job.unit];
                let ask = UnitAsk {
                    text: &unit.text,
                    lang: &self.langs[job.lang],
                    glossary: &job.glossary,
                };
                let writes = Writes::Translation(self.langs[job.lang].clone());
                let prompt = Prompt::translation_unit(&ask, self.chat);
                Ask::new(prompt, answer_tokens(unit.tokens), writes).sampled(sample)
            })
            .collect();
        let answers: Vec<Answer> = runner.answer_all(&asks)?;
        let texts: Vec<String> = jobs
            .iter()
            .zip(&answers)
            .map(|(&j, a)| rejoin_decimals(&clean(&a.text), &self.units[self.jobs[j].unit].text))
            .collect();
        // Each translated back (for the terms, names and numbers the round trip
        // keeps) and its English scored as the answer to the same prompt (the
        // surprisal), all in one batch.
        let mut back_asks = Vec::new();
        let mut taught = Vec::new();
        for (&j, text) in jobs.iter().zip(&texts) {
            let tokens = runner.count(text)?;
            let lang = &self.langs[self.jobs[j].lang];
            let prompt = Prompt::back_translation(text, lang, self.chat);
            let english = &self.units[self.jobs[j].unit].text;
            let writes = Writes::RoundTrip(lang.clone());
            taught.push(Ask::taught(prompt.clone(), english, writes.clone()));
            back_asks.push(Ask::new(prompt, answer_tokens(tokens), writes));
        }
        back_asks.extend(taught);
        let mut backs = runner.answer_all(&back_asks)?;
        let scores = backs.split_off(jobs.len());
        let done = jobs
            .iter()
            .zip(answers.iter().zip(texts))
            .zip(backs.iter().zip(&scores));
        for ((&j, (answer, text)), (back, score)) in done {
            let job = &self.jobs[j];
            let lang = self.langs[job.lang].as_str();
            let english = &self.units[job.unit].text;
            let surprisal = Some(score.surprisal());
            let candidate = Candidate::checked(
                english,
                text,
                clean(&back.text),
                lang,
                answer.cut,
                surprisal,
            );
            self.jobs[j].candidates.push(candidate);
        }
        Ok(())
    }

    /// One language's translation from its units' best candidates.
    fn assemble(&self, l: usize) -> Translation {
        let lang = self.langs[l].as_str();
        let language = language_name(lang).unwrap_or(lang);
        let mut paragraphs: Vec<Vec<&str>> = vec![Vec::new(); self.paragraphs];
        let mut sentences = Vec::new();
        let mut fatal = Vec::new();
        for job in self.jobs.iter().filter(|j| j.lang == l) {
            let (_, best) = job
                .candidates
                .iter()
                .enumerate()
                .min_by_key(|(i, c)| (c.rank(), *i))
                .expect("every job has a candidate");
            paragraphs[self.units[job.unit].paragraph].push(&best.text);
            let failed = best.fatal();
            if let Some(why) = &failed {
                fatal.push(format!("sentence {}: {why}", job.unit + 1));
            }
            sentences.push(SentenceCheck {
                text: best.text.clone(),
                source: self.units[job.unit].text.clone(),
                back: best.back.clone(),
                meaning: best.meaning.score,
                surprisal: best.meaning.surprisal.map(|s| (s * 10.0).round() / 10.0),
                candidates: job.candidates.len() as u32,
                doubt: best.doubt(),
                failed,
            });
        }
        let text = paragraphs
            .iter()
            .map(|p| p.join(" "))
            .collect::<Vec<_>>()
            .join(self.separator);
        let english: String = self
            .units
            .iter()
            .map(|u| u.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let doubtful: Vec<(usize, String)> = sentences
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.doubt.clone()?)))
            .collect();
        let language_check = if text.trim().is_empty() {
            Check::failed("the answer is empty")
        } else {
            match check_translation_language(&english, &text, lang) {
                LanguageCheck::Match => Check::passed(),
                LanguageCheck::Unknown => {
                    Check::noted(format!("{language} translation not language-checked"))
                }
                LanguageCheck::Mismatch(other) => {
                    Check::failed(format!("the model answered in {other}, not {language}"))
                }
            }
        };
        let numbers = NumberFaults::of(&english, &text, lang);
        let names_doubts: Vec<&str> = doubtful
            .iter()
            .map(|(_, d)| d.as_str())
            .filter(|d| d.starts_with("names"))
            .collect();
        let meaning_doubts: Vec<String> = doubtful
            .iter()
            .filter(|(_, d)| d.contains("meaning"))
            .map(|(i, _)| format!("sentence {}", i + 1))
            .collect();
        let mean = sentences.iter().map(|s| s.meaning).sum::<f32>() / sentences.len().max(1) as f32;
        let checks = TranslationChecks {
            language: Some(language_check.clone()),
            numbers: Some(if numbers.is_empty() {
                Check::passed()
            } else {
                Check::failed(numbers.to_string())
            }),
            names: Some(if names_doubts.is_empty() {
                Check::passed()
            } else {
                Check::failed(names_doubts.join("; "))
            }),
            meaning: Some(if meaning_doubts.is_empty() {
                Check::passed()
            } else {
                Check::failed(format!("doubtful meaning: {}", meaning_doubts.join(", ")))
            }),
            meaning_score: Some((mean * 1000.0).round() / 1000.0),
            // This language's own: the other languages' rounds are not its.
            attempts: self
                .jobs
                .iter()
                .filter(|j| j.lang == l)
                .map(|j| j.candidates.len() as u32)
                .max()
                .unwrap_or(1),
            sentences,
        };
        // What fails the language outright.
        let mut reasons: Vec<String> = fatal;
        if !language_check.passed {
            reasons.extend(language_check.detail.clone());
        }
        if !numbers.is_empty() && reasons.is_empty() {
            reasons.push(numbers.to_string());
        }
        let units = checks.sentences.len();
        if doubts_withhold(doubtful.len(), units) {
            let which: Vec<String> = doubtful
                .iter()
                .map(|(i, d)| format!("sentence {} ({d})", i + 1))
                .collect();
            reasons.push(format!(
                "{} of {units} sentences failed their checks: {}",
                doubtful.len(),
                which.join("; ")
            ));
        }
        if !reasons.is_empty() {
            return failed(lang, reasons.join("; "), checks);
        }
        let mut warnings: Vec<String> = Vec::new();
        if let Some(note) = language_check.detail.filter(|_| language_check.passed) {
            warnings.push(note);
        }
        for (i, d) in &doubtful {
            warnings.push(format!(
                "{language} translation, sentence {} is published marked as doubtful: {d}",
                i + 1
            ));
        }
        Translation {
            lang: lang.to_string(),
            outcome: Ok(text),
            warning: (!warnings.is_empty()).then(|| warnings.join("; ")),
            checks,
        }
    }
}

/// Whether a language's doubtful sentences withhold it: more than one, or its only
/// sentence. One doubtful sentence beside others that passed is published marked:
/// the editor gets the checked sentences and a flag on the one to read (a
/// two-sentence summary was withheld whole for one doubtful sentence before).
fn doubts_withhold(doubtful: usize, units: usize) -> bool {
    doubtful > 1 || (doubtful == 1 && units < 2)
}

/// An answer without copied markers, on one line (a sentence's translation).
fn clean(answer: &str) -> String {
    unfence(answer)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text`, a translation of `english`, with the decimals it spaced after their
/// comma written whole ("12, 9 milliards" for "$12.9bn" as "12,9 milliards"):
/// the default model writes French and Spanish decimals so, and readers and the
/// number check would take them for two numbers. Only where `english` has that
/// decimal: "articles 12, 9 et 3" stays a list.
fn rejoin_decimals(text: &str, english: &str) -> String {
    static SPACED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SPACED.get_or_init(|| {
        regex::Regex::new(r"\b(\d+), (\d+)\b").expect("the spaced decimal pattern compiles")
    });
    re.replace_all(text, |c: &regex::Captures| {
        let decimal = format!("{}.{}", &c[1], &c[2]);
        let written = english.match_indices(&decimal).any(|(at, _)| {
            let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
            !digit(english[..at].chars().next_back())
                && !digit(english[at + decimal.len()..].chars().next())
        });
        if written {
            format!("{},{}", &c[1], &c[2])
        } else {
            c[0].to_string()
        }
    })
    .into_owned()
}

fn failed(lang: &str, reason: String, checks: TranslationChecks) -> Translation {
    Translation {
        lang: lang.to_string(),
        outcome: Err(reason),
        warning: None,
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_spaced_after_their_comma_are_rejoined() {
        let english = "It could raise $12.9bn, at a 2.8 per cent discount, on 12 May.";
        assert_eq!(
            rejoin_decimals(
                "jusqu'à 12, 9 milliards, une réduction de 2, 8 pour cent",
                english
            ),
            "jusqu'à 12,9 milliards, une réduction de 2,8 pour cent"
        );
        // Not a decimal of the English: a list, or another number.
        assert_eq!(rejoin_decimals("le 12, 5 et 9", english), "le 12, 5 et 9");
        assert_eq!(rejoin_decimals("2, 85", english), "2, 85");
    }

    /// The checked sentences go back into their paragraphs: a full text keeps its
    /// layout (the end-to-end digest test runs the tiny model, whose French never
    /// passes).
    #[test]
    fn sentences_are_assembled_into_their_paragraphs() {
        let pairs = [
            (
                0,
                "Council approves new cycle lanes",
                "Le conseil approuve de nouvelles pistes cyclables",
            ),
            (
                1,
                "The council voted on Tuesday evening.",
                "Le conseil a voté mardi soir.",
            ),
            (
                1,
                "Residents welcomed the decision.",
                "Les habitants ont salué la décision.",
            ),
            (
                2,
                "Shops on the road are worried about parking.",
                "Les commerces de la rue s'inquiètent du stationnement.",
            ),
        ];
        let langs = ["fr".to_string()];
        let units: Vec<Unit> = pairs
            .iter()
            .map(|&(paragraph, english, _)| Unit {
                paragraph,
                text: english.to_string(),
                tokens: 8,
            })
            .collect();
        let jobs = pairs
            .iter()
            .enumerate()
            .map(|(unit, &(_, english, french))| Job {
                lang: 0,
                unit,
                glossary: Vec::new(),
                candidates: vec![Candidate::checked(
                    english,
                    french.to_string(),
                    english.to_string(),
                    "fr",
                    false,
                    None,
                )],
            })
            .collect();
        let work = Work {
            langs: &langs,
            units,
            paragraphs: 3,
            separator: "\n\n",
            chat: true,
            jobs,
        };
        let done = work.assemble(0);
        let text = done
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("{e}: {done:?}"));
        assert_eq!(
            text.split("\n\n").collect::<Vec<_>>(),
            [
                pairs[0].2,
                &format!("{} {}", pairs[1].2, pairs[2].2),
                pairs[3].2
            ],
        );
        assert_eq!(done.checks.sentences.len(), 4);
    }

    #[test]
    fn one_doubtful_sentence_is_marked_beside_others_more_withhold() {
        assert!(!doubts_withhold(0, 1));
        assert!(
            doubts_withhold(1, 1),
            "a one-sentence text that is doubtful"
        );
        assert!(!doubts_withhold(1, 2));
        assert!(!doubts_withhold(1, 5));
        assert!(doubts_withhold(2, 5));
    }
}
