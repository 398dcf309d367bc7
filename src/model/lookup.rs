//! Prompt-lookup drafts (Saxena 2023; llama.cpp's `lookup` example): an answer
//! that copies its input, as a summary does, can be guessed a few tokens ahead
//! by finding its last tokens in the prompt and reading on from there. The
//! guess is checked in one forward pass ([`Transformer::verify`]) and kept up
//! to its first wrong token, so under greedy picking the answer is exactly the
//! one-token-at-a-time answer, reached in fewer passes over the weights.
//!
//! [`Transformer::verify`]: super::transformer::Transformer::verify

/// The longest and shortest run of last tokens looked for. Two tokens still
/// pin a place in an article ("the minister", "said on"); one would draft
/// after every common word and mostly be wrong.
const LONGEST: usize = 4;
const SHORTEST: usize = 2;

/// Up to `max` tokens that followed the latest earlier occurrence of the
/// longest run of `history`'s last tokens (4, 3, then 2 of them) in `history`;
/// empty when none occurs.
pub fn draft(history: &[u32], max: usize) -> Vec<u32> {
    if max == 0 {
        return Vec::new();
    }
    for n in (SHORTEST..=LONGEST).rev() {
        let Some(tail) = history.len().checked_sub(n).map(|at| &history[at..]) else {
            continue;
        };
        // latest first: the article sits after the instructions and examples
        let found = (0..history.len() - n)
            .rev()
            .find(|&at| &history[at..at + n] == tail);
        if let Some(at) = found {
            let from = at + n;
            return history[from..(from + max).min(history.len())].to_vec();
        }
    }
    Vec::new()
}

/// How many tokens to draft, from what drafting has cost and kept so far on
/// this machine. A drafted row is nearly free where one-row decode waits on
/// memory (AVX-512 machines) and costs almost a decode step where it waits on
/// the multiply units (Zen 1-3 with AVX2): the policy measures both instead of
/// assuming either, and drafts nothing where it would not pay.
#[derive(Debug, Clone)]
pub struct DraftPolicy {
    max: usize,
    /// Seconds of a one-row decode step (moving average).
    one_row: Option<f64>,
    /// Seconds of a checked draft of `k` tokens, at `k - 1` (moving averages):
    /// rows do not cost the same (a kernel may change with the row count).
    checks: Vec<Option<f64>>,
    /// Drafted tokens kept, and drafts cut by a token the model did not
    /// pick (decayed sums): the chance p that the model agrees with the next
    /// drafted token is kept / (kept + cut).
    kept: f64,
    cut: f64,
    /// Plain steps since the last checked draft while one was on offer.
    idle: usize,
    /// Always the most, whatever the measurements.
    fixed: bool,
}

/// After this many plain steps with a draft on offer, one is checked anyway:
/// a first timing taken on a busy machine must not switch drafting off for
/// good.
const EXPLORE: usize = 64;

/// Weight of the newest measurement in the moving averages and sums.
const NEWEST: f64 = 0.1;

impl DraftPolicy {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            one_row: None,
            checks: vec![None; max],
            // a prior of one token in two, soon outweighed
            kept: 1.0,
            cut: 1.0,
            idle: 0,
            fixed: false,
        }
    }

    /// A policy that always drafts `max` tokens (tests and comparisons: no
    /// timing decides anything).
    pub fn fixed(max: usize) -> Self {
        Self {
            fixed: true,
            ..Self::new(max)
        }
    }

    /// The most tokens a draft may have: its caller peeks this far to learn
    /// the agreement even while [`Self::length`] says not to draft.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The chance that the model picks the next drafted token.
    fn agreement(&self) -> f64 {
        self.kept / (self.kept + self.cut)
    }

    /// Seconds a checked draft of `k` tokens takes: measured, or else
    /// extrapolated from the measured lengths' cost per drafted row.
    fn cost(&self, one: f64, k: usize) -> Option<f64> {
        if let Some(c) = self.checks[k - 1] {
            return Some(c);
        }
        let per_row: Vec<f64> = (1..=self.max)
            .filter_map(|j| self.checks[j - 1].map(|c| ((c - one) / j as f64).max(0.0)))
            .collect();
        let mean = per_row.iter().sum::<f64>() / per_row.len() as f64;
        (!per_row.is_empty()).then_some(one + k as f64 * mean)
    }

    /// Tokens to draft now: the length with the most expected tokens per
    /// second, `(1 + p + ... + p^k) / cost(k)`. Before any measurement,
    /// nothing (a plain step times one row), then the most (a checked draft
    /// times the rows).
    pub fn length(&self) -> usize {
        if self.fixed {
            return self.max;
        }
        let Some(one) = self.one_row else { return 0 };
        if self.max == 0 || self.cost(one, self.max).is_none() || self.idle >= EXPLORE {
            return self.max;
        }
        let p = self.agreement();
        let mut best = (0, 1.0 / one);
        let (mut tokens, mut pk) = (1.0, 1.0);
        for k in 1..=self.max {
            pk *= p;
            tokens += pk;
            let rate = tokens / self.cost(one, k).expect("extrapolated");
            if rate > best.1 {
                best = (k, rate);
            }
        }
        best.0
    }

    /// A one-row decode step took `seconds`.
    pub fn decoded(&mut self, seconds: f64) {
        self.one_row = Some(average(self.one_row, seconds));
    }

    /// A plain step picked a token where a draft's first token was on offer:
    /// whether the two `agreed` (the agreement is learnt while not drafting).
    pub fn peeked(&mut self, agreed: bool) {
        self.idle += 1;
        self.learn(agreed as usize, !agreed);
    }

    /// A checked draft of `drafted` tokens took `seconds` and kept `kept` of
    /// them; `ended` when the answer ended inside it (the rest was never judged).
    pub fn checked(&mut self, drafted: usize, kept: usize, seconds: f64, ended: bool) {
        self.idle = 0;
        let at = &mut self.checks[drafted - 1];
        *at = Some(average(*at, seconds));
        self.learn(kept, kept < drafted && !ended);
        tracing::trace!(
            "draft of {drafted} kept {kept} in {seconds:.3}s: one row {:.3}s, agreement {:.2}",
            self.one_row.unwrap_or(0.0),
            self.agreement()
        );
    }

    fn learn(&mut self, kept: usize, cut: bool) {
        self.kept = (1.0 - NEWEST) * self.kept + kept as f64;
        self.cut = (1.0 - NEWEST) * self.cut + if cut { 1.0 } else { 0.0 };
    }
}

fn average(old: Option<f64>, new: f64) -> f64 {
    old.map_or(new, |o| (1.0 - NEWEST) * o + NEWEST * new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_long_where_rows_are_cheap_and_not_at_all_where_they_cost_a_step() {
        let mut cheap = DraftPolicy::new(8);
        assert_eq!(cheap.length(), 0, "a plain step first, to time one row");
        cheap.decoded(0.100);
        assert_eq!(cheap.length(), 8, "then a whole draft, to time the rows");
        for _ in 0..20 {
            // 8 drafted rows cost a tenth of a step; the model keeps 3
            cheap.checked(8, 3, 0.110, false);
        }
        let k = cheap.length();
        assert!((3..=8).contains(&k), "{k}");
        // a measured length that costs more than its neighbours is avoided
        for _ in 0..20 {
            cheap.checked(k, 3, 0.300, false);
        }
        assert_ne!(cheap.length(), k);

        let mut dear = DraftPolicy::new(8);
        dear.decoded(0.100);
        for _ in 0..20 {
            // each row costs most of a step: one kept token does not pay for it
            dear.checked(8, 1, 0.100 + 8.0 * 0.09, false);
        }
        assert_eq!(dear.length(), 0);
        // now and then a draft is checked anyway, in case the timing was unlucky
        for _ in 0..EXPLORE {
            dear.peeked(false);
        }
        assert_eq!(dear.length(), 8);
        dear.checked(8, 0, 0.100 + 8.0 * 0.09, false);
        assert_eq!(dear.length(), 0);
    }

    #[test]
    fn agreement_seen_while_not_drafting_brings_drafts_back() {
        let mut p = DraftPolicy::new(4);
        p.decoded(0.1);
        for _ in 0..10 {
            p.checked(4, 0, 0.14, false);
        }
        assert_eq!(p.length(), 0, "drafts the model never keeps do not pay");
        for _ in 0..30 {
            p.peeked(true);
        }
        assert!(p.length() > 0);
    }

    #[test]
    fn an_answer_ending_inside_a_draft_does_not_count_as_a_disagreement() {
        let mut p = DraftPolicy::new(4);
        p.decoded(0.1);
        let before = p.agreement();
        p.checked(4, 2, 0.1, true);
        assert!(p.agreement() > before);
    }

    #[test]
    fn drafts_what_followed_the_latest_match_of_the_longest_tail() {
        // "7 8" occurs twice; the three-token tail "6 7 8" only once
        let history = [1, 7, 8, 2, 6, 7, 8, 3, 4, 5, 9, 6, 7, 8];
        assert_eq!(draft(&history, 3), vec![3, 4, 5]);
        assert_eq!(draft(&history, 10), vec![3, 4, 5, 9, 6, 7, 8]);
        // only the two-token tail "7 8" recurs: its latest earlier match
        let history = [7, 8, 1, 2, 7, 8, 5, 6, 9, 7, 8];
        assert_eq!(draft(&history, 2), vec![5, 6]);
    }

    #[test]
    fn no_match_or_no_room_drafts_nothing() {
        assert!(draft(&[1, 2, 3, 4, 5], 4).is_empty());
        assert!(draft(&[1, 2, 1, 2], 0).is_empty());
        assert!(draft(&[1], 4).is_empty());
        assert!(draft(&[], 4).is_empty());
    }
}
