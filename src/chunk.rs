//! Chunking article text into pieces that fit a token budget.
//!
//! A long article does not fit a small model's context: it is summarized map-reduce
//! (a summary per chunk, then one of the summaries) and translated chunk by chunk.
//! Chunks are whole consecutive sentences counted with the model's own tokenizer; only a
//! sentence longer than the budget is cut, between words, and a word longer than the
//! budget into pieces sized by its bytes per token (not one tokenizer call per character).

use std::ops::Range;

use crate::error::{Error, Result};
use crate::model::tokenizer::TextTokenizer;
use crate::sentence::sentences;

/// Counts the tokens of a text: the model's tokenizer, or any `Fn(&str) -> usize`
/// (tests, estimates).
pub trait TokenCount {
    fn count(&self, text: &str) -> Result<usize>;

    /// Bytes of the longest token, if known: a text this many times the budget long
    /// is over it without being counted.
    fn max_token_bytes(&self) -> Option<usize> {
        None
    }
}

impl TokenCount for TextTokenizer {
    /// As plain text: an article that spells `<|im_start|>` does not get a control token.
    fn count(&self, text: &str) -> Result<usize> {
        Ok(self.encode(text, false)?.len())
    }

    fn max_token_bytes(&self) -> Option<usize> {
        Some(self.longest_token_bytes())
    }
}

impl<F: Fn(&str) -> usize> TokenCount for F {
    fn count(&self, text: &str) -> Result<usize> {
        Ok(self(text))
    }
}

/// Tokens of article text one chunk may hold, or `None` when nothing is left.
///
/// The model sees the chunk inside the prompt (template, instructions, chat markup:
/// `prompt_overhead_tokens`) and must still have room for its answer (`output_tokens`),
/// all within its `context_length`.
pub fn chunk_budget(
    context_length: usize,
    prompt_overhead_tokens: usize,
    output_tokens: usize,
) -> Option<usize> {
    context_length
        .checked_sub(prompt_overhead_tokens)?
        .checked_sub(output_tokens)
        .filter(|&budget| budget > 0)
}

/// How [`chunk`] cuts; see [`chunk_budget`] for the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Most tokens in one chunk's text; at least 1.
    pub budget: usize,
    /// Tokens of trailing context repeated from the previous chunk, 0 for none. At most
    /// half the budget is used: more would make the chunks advance by a sentence or so.
    pub overlap: usize,
}

/// A piece of the text for one model call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The text given to the model: `span` of the source, overlap first.
    pub text: String,
    /// Byte range of `text` in the source.
    pub span: Range<usize>,
    /// Bytes at the start of `text` that repeat the end of the previous chunk.
    pub overlap_len: usize,
    /// Tokens of `text` by the counter, at most the budget.
    pub tokens: usize,
    /// Indices into [`sentences`] of the sentences the new (non-overlap) part covers. A
    /// sentence longer than the budget is cut, and is in each chunk holding a piece of it.
    pub sentences: Range<usize>,
}

impl Chunk {
    /// The leading context repeated from the previous chunk (with the whitespace after it).
    pub fn overlap(&self) -> &str {
        &self.text[..self.overlap_len]
    }

    /// The text no earlier chunk holds.
    pub fn new_text(&self) -> &str {
        &self.text[self.overlap_len..]
    }
}

/// Greedy packs of whole consecutive sentences of `text`, each counted as assembled
/// (separators included, since BPE counts do not add up) to at most `opts.budget`
/// tokens. Empty or blank text gives no chunks.
///
/// Errors: a budget of 0, a single character over the budget, a counter error.
pub fn chunk(text: &str, counter: &dyn TokenCount, opts: &ChunkOptions) -> Result<Vec<Chunk>> {
    if opts.budget == 0 {
        return Err(Error::Context(
            "the chunk budget is 0 tokens: the prompt and answer leave no room for text".into(),
        ));
    }
    let chunker = Chunker {
        text,
        counter,
        budget: opts.budget,
    };
    let mut units = Vec::new();
    for (i, sentence) in sentences(text).into_iter().enumerate() {
        chunker.split(sentence.range, i, Level::Sentence, &mut units)?;
    }
    chunker.pack(&units, opts.overlap.min(opts.budget / 2))
}

/// What the packer never cuts: a sentence, or a word or piece of a word of one over budget.
struct Unit {
    range: Range<usize>,
    sentence: usize,
    /// Tokens of the unit alone, at most the budget.
    tokens: usize,
}

#[derive(Clone, Copy)]
enum Level {
    Sentence,
    Word,
}

struct Chunker<'a> {
    text: &'a str,
    counter: &'a dyn TokenCount,
    budget: usize,
}

impl Chunker<'_> {
    fn count(&self, range: Range<usize>) -> Result<usize> {
        self.counter.count(&self.text[range])
    }

    /// Appends `range` as one unit if it fits the budget, else its words, or pieces of
    /// a word. Each level counts its pieces once: linear in the text.
    fn split(
        &self,
        range: Range<usize>,
        sentence: usize,
        level: Level,
        out: &mut Vec<Unit>,
    ) -> Result<()> {
        let tokens = match self.surely_over(range.len()) {
            true => None,
            false => Some(self.count(range.clone())?),
        };
        if let Some(tokens) = tokens.filter(|&t| t <= self.budget) {
            out.push(Unit {
                range,
                sentence,
                tokens,
            });
            return Ok(());
        }
        if let Level::Word = level {
            return self.split_unbroken(range, tokens, sentence, out);
        }
        let piece = &self.text[range.clone()];
        for p in words(piece) {
            self.split(
                range.start + p.start..range.start + p.end,
                sentence,
                Level::Word,
                out,
            )?;
        }
        Ok(())
    }

    /// Whether `bytes` of text are sure to be over the budget without counting them:
    /// counting megabytes only to learn that they must be cut costs more than cutting.
    /// (Four times the budget in the counter's longest tokens: slack for normalizers.)
    fn surely_over(&self, bytes: usize) -> bool {
        self.counter
            .max_token_bytes()
            .is_some_and(|max| bytes / 4 / max.max(1) > self.budget)
    }

    /// A word over the budget (a URL, a line without spaces), of `tokens` tokens if
    /// counted: cut into pieces of about a quarter of the budget at its bytes per token
    /// (measured on its start when not counted), each counted once, and a piece still
    /// over the budget cut the same way. Linear in the word: cutting between characters
    /// would call the tokenizer once per character, and on gemma each call scans
    /// thousands of special tokens.
    fn split_unbroken(
        &self,
        range: Range<usize>,
        tokens: Option<usize>,
        sentence: usize,
        out: &mut Vec<Unit>,
    ) -> Result<()> {
        let word = &self.text[range.clone()];
        if word.chars().nth(1).is_none() {
            return Err(Error::Context(format!(
                "a chunk budget of {} tokens is too small: `{word}` alone is {} tokens",
                self.budget,
                tokens.unwrap_or(usize::MAX)
            )));
        }
        let (bytes, tokens) = match tokens {
            Some(t) => (range.len(), t),
            None => {
                let sample = self.char_end(range.start + range.len() / 64, range.end);
                let sample = sample.max(self.char_end(range.start + 1, range.end));
                (sample - range.start, self.count(range.start..sample)?)
            }
        };
        // at least one byte, and at most half the word so that every round cuts it
        let estimate = bytes as u128 * self.budget as u128 / (4 * tokens.max(1) as u128);
        let step = (estimate as usize).clamp(1, range.len() / 2);
        let mut start = range.start;
        while start < range.end {
            let end = self.char_end(start + step, range.end);
            let tokens = self.count(start..end)?;
            if tokens <= self.budget {
                out.push(Unit {
                    range: start..end,
                    sentence,
                    tokens,
                });
            } else {
                self.split_unbroken(start..end, Some(tokens), sentence, out)?;
            }
            start = end;
        }
        Ok(())
    }

    /// The first character boundary at or after `at`, at most `limit`.
    fn char_end(&self, at: usize, limit: usize) -> usize {
        let mut end = at.min(limit);
        while !self.text.is_char_boundary(end) {
            end += 1;
        }
        end
    }

    /// Greedy packing on the units' own counts, then the assembled text is counted
    /// and units are dropped from the end until it fits: a few tokenizer calls per chunk.
    fn pack(&self, units: &[Unit], overlap: usize) -> Result<Vec<Chunk>> {
        let mut chunks = Vec::new();
        // Units of the previous chunk start at `prev_start`; `next` is the first unit not
        // in any chunk yet.
        let (mut prev_start, mut next) = (0, 0);
        while next < units.len() {
            let (mut first, overlap_tokens) =
                self.overlap_start(units, prev_start, next, overlap)?;
            let mut end = next + 1;
            let mut estimate = overlap_tokens + units[next].tokens;
            while end < units.len() && estimate + units[end].tokens <= self.budget {
                estimate += units[end].tokens;
                end += 1;
            }
            let tokens = loop {
                let tokens = self.count(units[first].range.start..units[end - 1].range.end)?;
                if tokens <= self.budget {
                    break tokens;
                }
                let excess = tokens - self.budget;
                // New units go first, the overlap only when one is left; at least one unit
                // is dropped, so this ends.
                let dropped = if end - next > 1 {
                    drop_back(units, next + 1, &mut end, excess)
                } else {
                    drop_front(units, &mut first, next, excess)
                };
                if !dropped {
                    return Err(Error::Tokenizer(format!(
                        "inconsistent token counts: a text counted {} tokens alone and {tokens} \
                         at another time",
                        units[next].tokens
                    )));
                }
            };
            let span = units[first].range.start..units[end - 1].range.end;
            chunks.push(Chunk {
                text: self.text[span.clone()].to_owned(),
                overlap_len: units[next].range.start - span.start,
                span,
                tokens,
                sentences: units[next].sentence..units[end - 1].sentence + 1,
            });
            (prev_start, next) = (first, end);
        }
        Ok(chunks)
    }

    /// First unit of the overlap for the chunk starting at unit `next`, and its tokens:
    /// the longest run of units of the previous chunk (from `prev_start`) ending at `next`
    /// whose text has at most `overlap` tokens.
    fn overlap_start(
        &self,
        units: &[Unit],
        prev_start: usize,
        next: usize,
        overlap: usize,
    ) -> Result<(usize, usize)> {
        let mut first = next;
        let mut estimate = 0;
        while first > prev_start && estimate + units[first - 1].tokens <= overlap {
            first -= 1;
            estimate += units[first].tokens;
        }
        while first < next {
            let tokens = self.count(units[first].range.start..units[next - 1].range.end)?;
            if tokens <= overlap {
                return Ok((first, tokens));
            }
            drop_front(units, &mut first, next, tokens - overlap);
        }
        Ok((next, 0))
    }
}

/// Moves `end` back, not below `min_end`, over units worth at least `excess` tokens (or
/// all it can); false if it could not move.
fn drop_back(units: &[Unit], min_end: usize, end: &mut usize, excess: usize) -> bool {
    let before = *end;
    let mut dropped = 0;
    while *end > min_end && dropped < excess {
        *end -= 1;
        dropped += units[*end].tokens;
    }
    *end < before
}

/// Moves `first` forward, not past `max_first`, over units worth at least `excess` tokens
/// (or all it can); false if it could not move.
fn drop_front(units: &[Unit], first: &mut usize, max_first: usize, excess: usize) -> bool {
    let before = *first;
    let mut dropped = 0;
    while *first < max_first && dropped < excess {
        dropped += units[*first].tokens;
        *first += 1;
    }
    *first > before
}

/// Byte ranges of the whitespace-separated words of `s`.
fn words(s: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    s.split_whitespace().map(move |w| {
        let start = w.as_ptr() as usize - s.as_ptr() as usize;
        start..start + w.len()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentence::tests::article;
    use proptest::prelude::*;

    /// One token per 4 characters of a word, per ASCII punctuation character and per line
    /// break: deterministic, additive over words, but the line breaks between units are
    /// in no unit's count, so packing has to count the assembled text and back off.
    fn words_count(text: &str) -> usize {
        let words: usize = text
            .split_whitespace()
            .map(|w| {
                let punct = w.chars().filter(char::is_ascii_punctuation).count();
                punct + (w.chars().count() - punct).div_ceil(4)
            })
            .sum();
        words + text.matches('\n').count()
    }

    fn opts(budget: usize, overlap: usize) -> ChunkOptions {
        ChunkOptions { budget, overlap }
    }

    fn chunks(text: &str, budget: usize, overlap: usize) -> Vec<Chunk> {
        chunk(text, &words_count, &opts(budget, overlap)).unwrap()
    }

    fn squeeze(s: &str) -> String {
        s.split_whitespace().collect()
    }

    #[test]
    fn empty_or_blank_text_has_no_chunks() {
        assert!(chunks("", 10, 0).is_empty());
        assert!(chunks(" \n\n\t \r\n", 10, 2).is_empty());
    }

    #[test]
    fn budget_zero_is_an_error() {
        assert!(chunk("Hello.", &words_count, &opts(0, 0)).is_err());
    }

    #[test]
    fn packs_whole_sentences_and_keeps_paragraph_breaks() {
        let text = "One two three. Four five.\n\nSix seven eight. Nine.";
        let found = chunks(text, 8, 0);
        let texts: Vec<_> = found.iter().map(|c| c.text.as_str()).collect();
        // 5 + 3 tokens fill the first chunk, 6 + 2 the second; the break between is in neither.
        assert_eq!(
            texts,
            ["One two three. Four five.", "Six seven eight. Nine."]
        );
        assert_eq!(found[0].sentences, 0..2);
        assert_eq!(found[1].sentences, 2..4);
        let one = chunks(text, 100, 0);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].text, text);
        assert_eq!(one[0].tokens, words_count(text));
    }

    #[test]
    fn counts_the_assembled_text() {
        // Each sentence is 3 tokens alone but the line breaks between them count too: the
        // estimate 3 + 3 fits 7, the text "A b.\n\nC d." (3 + 2 + 3) does not.
        let text = "A b.\n\nC d.\n\nE f.";
        let found = chunks(text, 7, 0);
        assert!(found
            .iter()
            .all(|c| c.tokens <= 7 && c.tokens == words_count(&c.text)));
        let texts: Vec<_> = found.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["A b.", "C d.", "E f."]);
    }

    #[test]
    fn long_sentence_is_cut_between_words() {
        let text = "alpha beta gamma delta epsilon zeta eta theta. Short one.";
        let found = chunks(text, 5, 0);
        assert!(found.iter().all(|c| c.tokens <= 5));
        assert_eq!(found[0].text, "alpha beta gamma");
        assert_eq!(found[0].sentences, 0..1);
        assert_eq!(found[1].sentences, 0..1);
        assert_eq!(found.last().unwrap().sentences.end, 2);
        let joined: Vec<_> = found.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(joined.join(" "), text);
    }

    #[test]
    fn long_word_is_cut_between_characters() {
        let url = format!("https://example.com/{}", "é".repeat(10_000));
        let text = format!("See {url} now.");
        let per_char = |s: &str| s.chars().count();
        let found = chunk(&text, &per_char, &opts(64, 8)).unwrap();
        assert!(found.iter().all(|c| c.tokens <= 64));
        let new: String = found.iter().map(Chunk::new_text).collect();
        assert_eq!(squeeze(&new), squeeze(&text));
    }

    #[test]
    fn a_long_word_is_counted_in_pieces_not_per_character() {
        let calls = std::cell::Cell::new(0);
        let per_char = |s: &str| {
            calls.set(calls.get() + 1);
            s.chars().count()
        };
        let text: String = "abcé日-".chars().cycle().take(200_000).collect();
        let found = chunk(&text, &per_char, &opts(64, 0)).unwrap();
        assert!(found
            .iter()
            .all(|c| c.tokens <= 64 && c.tokens == c.text.chars().count()));
        assert_eq!(found.iter().map(Chunk::new_text).collect::<String>(), text);
        // pieces of about 16 tokens, then a few counts per chunk to pack them
        let chars = text.chars().count();
        assert!(
            calls.get() < chars / 4,
            "{} calls for {chars} characters",
            calls.get()
        );
        // chunks are still filled: at least three quarters of the budget but the last
        assert!(found[..found.len() - 1].iter().all(|c| c.tokens >= 48));
    }

    #[test]
    fn a_character_over_budget_is_an_error() {
        let five = |s: &str| 5 * s.chars().count();
        assert!(chunk("ab", &five, &opts(4, 0)).is_err());
    }

    #[test]
    fn overlap_repeats_trailing_sentences() {
        // 3 tokens per sentence.
        let text = "One two. Six ten. Red cat. Big dog. Old man.";
        let found = chunks(text, 9, 3);
        let texts: Vec<_> = found.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            ["One two. Six ten. Red cat.", "Red cat. Big dog. Old man."]
        );
        assert_eq!(found[1].overlap(), "Red cat. ");
        assert_eq!(found[1].new_text(), "Big dog. Old man.");
        assert_eq!(found[1].sentences, 3..5);
        assert_eq!(found[0].overlap_len, 0);
    }

    #[test]
    fn budget_leaves_room_for_prompt_and_answer() {
        assert_eq!(chunk_budget(2048, 300, 512), Some(1236));
        assert_eq!(chunk_budget(2048, 1536, 512), None);
        assert_eq!(chunk_budget(512, 300, 512), None);
    }

    /// A counter with a different character: one token per 4 bytes of the whole text.
    fn bytes_count(text: &str) -> usize {
        text.len().div_ceil(4)
    }

    fn counter(bytes: bool) -> &'static dyn TokenCount {
        if bytes {
            &bytes_count
        } else {
            &words_count
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn prop_no_chunk_over_budget(
            text in article(), budget in 1usize..40, overlap in 0usize..20, bytes: bool
        ) {
            let counter = counter(bytes);
            for c in chunk(&text, counter, &opts(budget, overlap)).unwrap() {
                prop_assert!(c.tokens <= budget);
                prop_assert_eq!(c.tokens, counter.count(&c.text).unwrap());
                prop_assert_eq!(&text[c.span.clone()], c.text.as_str());
            }
        }

        #[test]
        fn prop_every_sentence_is_covered(
            text in article(), budget in 1usize..40, overlap in 0usize..20, bytes: bool
        ) {
            let found = chunk(&text, counter(bytes), &opts(budget, overlap)).unwrap();
            let new: Vec<&str> = found.iter().map(Chunk::new_text).collect();
            prop_assert_eq!(squeeze(&new.join(" ")), squeeze(&text));
            // Byte-exact: only whitespace is between the new parts.
            let mut at = 0;
            for c in &found {
                let start = c.span.start + c.overlap_len;
                prop_assert!(start >= at && text[at..start].trim().is_empty());
                at = c.span.end;
            }
            prop_assert!(text[at..].trim().is_empty());
        }

        #[test]
        fn prop_order_is_preserved(
            text in article(), budget in 1usize..40, overlap in 0usize..20, bytes: bool
        ) {
            let found = chunk(&text, counter(bytes), &opts(budget, overlap)).unwrap();
            let all = sentences(&text);
            if let (Some(first), Some(last)) = (found.first(), found.last()) {
                prop_assert_eq!(first.sentences.start, 0);
                prop_assert_eq!(last.sentences.end, all.len());
            }
            for pair in found.windows(2) {
                let (prev, next) = (&pair[0], &pair[1]);
                prop_assert!(!next.sentences.is_empty());
                prop_assert!(next.span.start + next.overlap_len >= prev.span.end);
                // Contiguous, or the same sentence when one was cut between the two.
                let cut = prev.span.end < all[prev.sentences.end - 1].range.end;
                let expected = if cut { prev.sentences.end - 1 } else { prev.sentences.end };
                prop_assert_eq!(next.sentences.start, expected);
            }
        }

        #[test]
        fn prop_overlap_is_a_suffix_of_the_previous_chunk(
            text in article(), budget in 1usize..40, overlap in 1usize..20, bytes: bool
        ) {
            let counter = counter(bytes);
            let found = chunk(&text, counter, &opts(budget, overlap)).unwrap();
            prop_assert!(found.first().is_none_or(|c| c.overlap_len == 0));
            for pair in found.windows(2) {
                let context = pair[1].overlap().trim_end();
                prop_assert!(pair[0].text.ends_with(context));
                prop_assert!(counter.count(context).unwrap() <= overlap.min(budget / 2));
            }
        }
    }

    #[test]
    fn real_tokenizer_chunks_within_budget() {
        let tokenizer = smollm2_tokenizer();
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/000_57a6ad3420af089a.txt"),
        )
        .unwrap();
        let found = chunk(&text, &tokenizer, &opts(64, 32)).unwrap();
        assert!(found.len() > 5);
        for c in &found {
            let real = tokenizer.encode(&c.text, false).unwrap().len();
            assert!(real <= 64, "{real} tokens: {:?}", c.text);
            assert_eq!(c.tokens, real);
            assert!(tokenizer.count(c.overlap()).unwrap() <= 32);
        }
        assert!(found.iter().any(|c| c.overlap_len > 0));
        let new: Vec<&str> = found.iter().map(Chunk::new_text).collect();
        assert_eq!(squeeze(&new.join(" ")), squeeze(&text));
    }

    /// A 6 MB line without spaces, with SmolLM2's tokenizer: chunks within the
    /// budget that put the line back together, in a number of tokenizer calls
    /// proportional to the chunks (the elapsed time is printed, not asserted).
    #[test]
    fn real_tokenizer_chunks_a_6mb_line_without_spaces() {
        struct Counting<'a>(&'a TextTokenizer, std::cell::Cell<usize>);
        impl TokenCount for Counting<'_> {
            fn count(&self, text: &str) -> Result<usize> {
                self.1.set(self.1.get() + 1);
                self.0.count(text)
            }
            fn max_token_bytes(&self) -> Option<usize> {
                TokenCount::max_token_bytes(self.0)
            }
        }
        let tokenizer = smollm2_tokenizer();
        let mut x = 0x9e37_79b9u32;
        let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789-_=&%éü日本"
            .chars()
            .collect();
        let mut line = String::new();
        while line.len() < 6 << 20 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            line.push(alphabet[x as usize % alphabet.len()]);
        }
        // no `.`, `?` or `/`: UAX #29 would find sentence ends in the line
        assert_eq!(sentences(&line).len(), 1);
        let counter = Counting(&tokenizer, Default::default());
        let started = std::time::Instant::now();
        let found = chunk(&line, &counter, &opts(1000, 0)).unwrap();
        eprintln!(
            "6 MB line: {} chunks, {} tokenizer calls, {:.1} s",
            found.len(),
            counter.1.get(),
            started.elapsed().as_secs_f64()
        );
        assert_eq!(found.iter().map(Chunk::new_text).collect::<String>(), line);
        for c in &found {
            assert!(c.tokens <= 1000);
            assert_eq!(c.tokens, tokenizer.count(&c.text).unwrap());
        }
        assert!(
            counter.1.get() < 20 * found.len(),
            "{} calls",
            counter.1.get()
        );
    }

    fn smollm2_tokenizer() -> TextTokenizer {
        use crate::model::gguf::Gguf;
        let path = crate::model::resolve::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(
            path.is_file(),
            "{} is missing: run scripts/fetch-models.sh",
            path.display()
        );
        let gguf = Gguf::header(&path).unwrap();
        TextTokenizer::from_gguf(&gguf.content, None).unwrap()
    }
}
