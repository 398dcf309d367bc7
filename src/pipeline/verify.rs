//! The model's own check of a grounded summary: for each sentence the lexical
//! grounding supports, ask whether its cited sentences state it. Lexical overlap
//! cannot see a wrong relation ("the summit is in Alexandra" where the article puts
//! it in Sandton, a few kilometres from Alexandra, and both names are in it); the
//! model reading two or three sentences can. Short prompts, all submitted at once,
//! their instructions prefix-cached.

use super::runner::{Ask, Runner, Writes};
use crate::check::SentenceSupport;
use crate::error::Result;
use crate::prompts::Prompt;

/// Tokens of answer: "yes" or "no", and room for an end-of-turn token.
const ANSWER_TOKENS: usize = 3;

/// What the model answered for one claim, as "the sources state it": the prompt
/// asks whether the claim adds anything, so "no" is `Some(true)` and "yes"
/// `Some(false)`; `None` for neither.
pub fn verdict(answer: &str) -> Option<bool> {
    let word: String = answer
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphabetic())
        .flat_map(char::to_lowercase)
        .collect();
    match word.as_str() {
        "no" => Some(true),
        "yes" => Some(false),
        _ => None,
    }
}

/// Asks the model about `claims` (a sentence and its cited sources each), all at
/// once; one verdict per claim, in order.
pub fn check_claims(runner: &Runner, claims: &[(&str, Vec<&str>)]) -> Result<Vec<Option<bool>>> {
    let chat = runner.model.is_chat();
    let asks: Vec<Ask> = claims
        .iter()
        .map(|(claim, sources)| {
            let prompt = Prompt::verification(sources, claim, chat);
            Ask::new(prompt, ANSWER_TOKENS, Writes::Check)
        })
        .collect();
    Ok(runner
        .answer_all(&asks)?
        .iter()
        .map(|a| verdict(&a.text))
        .collect())
}

/// Verifies the sentences grounding supports; one the model says its sources do
/// not state becomes unsupported, with the verdict recorded.
pub fn verify(runner: &Runner, support: &mut [SentenceSupport]) -> Result<()> {
    let picked: Vec<usize> = (0..support.len())
        .filter(|&i| support[i].supported && !support[i].sources.is_empty())
        .collect();
    let claims: Vec<(&str, Vec<&str>)> = picked
        .iter()
        .map(|&i| {
            let s = &support[i];
            (
                s.sentence.as_str(),
                s.sources.iter().map(|x| x.text.as_str()).collect(),
            )
        })
        .collect();
    let verdicts = check_claims(runner, &claims)?;
    for (i, v) in picked.into_iter().zip(verdicts) {
        support[i].verified = v;
        if v == Some(false) {
            support[i].supported = false;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_are_read_from_the_first_word() {
        assert_eq!(verdict("Yes."), Some(false));
        assert_eq!(verdict(" no, the sources say"), Some(true));
        assert_eq!(verdict("Nope"), None);
        assert_eq!(verdict(""), None);
    }
}
