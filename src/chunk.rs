//! Chunking article text into pieces that fit a token budget.
