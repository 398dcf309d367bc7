//! The model: resolve a spec to a GGUF file, load it, tokenize, template, generate.

pub mod generate;
mod ggml;
pub mod gguf;
mod kv;
pub mod linear;
pub mod lookup;
pub mod prefix;
mod prompt;
pub mod resolve;
pub mod scheduler;
#[doc(hidden)]
pub mod synthetic;
pub mod template;
pub mod tokenizer;
pub mod transformer;
mod validate;
pub mod weights;

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::Result;
use gguf::Gguf;
use resolve::ModelSpec;
use template::{ChatTemplate, PromptFormat, Segment};
use tokenizer::TextTokenizer;
use transformer::Transformer;

pub use generate::{Enough, GenerateOptions, Generation, StopReason};
pub use prompt::{Message, Prompt};

/// A loaded model: weights (shared, read-only), tokenizer and prompt format.
/// Clone it to hand it to another worker; each generation has its own KV cache.
#[derive(Clone)]
pub struct Model {
    /// What the user asked for (a spec or a path), for messages and manifests.
    pub name: String,
    pub path: PathBuf,
    pub architecture: String,
    pub quantization: String,
    pub file_size: u64,
    pub weights: Arc<Transformer>,
    pub tokenizer: Arc<TextTokenizer>,
    pub format: Arc<PromptFormat>,
}

impl Model {
    /// Resolves `spec` (path or `OWNER/REPO:FILE[@REV]`) and loads it.
    /// Loads the model `spec` names (see [`ModelSpec`]), logging how long it took.
    pub fn load(spec: &str) -> Result<Self> {
        let t = std::time::Instant::now();
        let parsed = ModelSpec::parse(spec)?;
        let path = parsed.resolve()?;
        let model = Self::load_path(parsed.to_string(), path)?;
        tracing::info!(
            "loaded {} ({}, {}) in {:.1}s",
            model.name,
            model.architecture,
            model.quantization,
            t.elapsed().as_secs_f64()
        );
        Ok(model)
    }

    pub fn load_path(name: String, path: PathBuf) -> Result<Self> {
        let mut g = Gguf::open(&path)?;
        // Check the architecture before the tokenizer: its error is the useful one.
        let (_, architecture) = transformer::Arch::of(&g)?;
        let tokenizer = TextTokenizer::from_gguf(&g.content, Some(&path))?;
        let format = PromptFormat::from_gguf(&g.content)?;
        let weights = Transformer::load(&mut g)?;
        // A tokenizer.json beside the model may have its own vocabulary: ids past
        // the embeddings would index out of them.
        if tokenizer.vocab_size() > weights.config.vocab_size {
            return Err(crate::Error::Model(format!(
                "{}: the tokenizer has {} tokens but the model's embeddings only {}; \
                 use the tokenizer made for this model",
                path.display(),
                tokenizer.vocab_size(),
                weights.config.vocab_size
            )));
        }
        Ok(Self {
            name,
            architecture,
            quantization: g.quantization(),
            file_size: g.file_size,
            path,
            weights: Arc::new(weights),
            tokenizer: Arc::new(tokenizer),
            format: Arc::new(format),
        })
    }

    pub fn context_length(&self) -> usize {
        self.weights.config.context_length
    }

    /// Token ids of a task prompt, in the form this model takes. Text from an article
    /// never becomes control tokens (see [`Model::chat_prompt`]).
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>> {
        Ok(self.prompt_ids(prompt)?.0)
    }

    /// [`Model::prompt_tokens`], and the token positions where the prompt may be cut
    /// for the prefix cache (its messages' breaks).
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<(Vec<u32>, Vec<usize>)> {
        match prompt {
            Prompt::Chat(messages) => match &*self.format {
                PromptFormat::Chat(t) => chat_ids(t, &self.tokenizer, messages),
                PromptFormat::Completion => Err(self.no_template()),
            },
            Prompt::Completion { text, .. } => Ok((self.completion_prompt(text, false)?, vec![])),
        }
    }

    fn no_template(&self) -> crate::Error {
        crate::Error::Model(format!(
            "{} has no chat template (a base model): use a completion prompt",
            self.name
        ))
    }

    /// Token ids of a chat request: the template's own text is tokenized with control
    /// tokens parsed, message contents with them as plain text (so a `<|im_end|>`
    /// inside an article is just characters), never adding BOS again (templates that
    /// want one write it themselves).
    pub fn chat_prompt(&self, messages: &[Message]) -> Result<Vec<u32>> {
        match &*self.format {
            PromptFormat::Chat(t) => chat_tokens(t, &self.tokenizer, messages),
            PromptFormat::Completion => Err(self.no_template()),
        }
    }

    /// Token ids of raw text fed as written (like `llama-cli -p`): special tokens
    /// parsed, BOS only if the model's metadata asks for it. For a user's own prompt,
    /// never for article text.
    pub fn raw_prompt(&self, text: &str) -> Result<Vec<u32>> {
        self.completion_prompt(text, true)
    }

    fn completion_prompt(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        if self.tokenizer.add_bos() {
            ids.extend(self.tokenizer.bos_id());
        }
        ids.extend(self.tokenizer.encode(text, parse_special)?);
        Ok(ids)
    }

    pub fn is_chat(&self) -> bool {
        matches!(&*self.format, PromptFormat::Chat(_))
    }
}

/// A conversation's token ids, ready for the answer: the template's text with control
/// tokens parsed, message contents with them as plain text.
pub fn chat_tokens(
    template: &ChatTemplate,
    tokenizer: &TextTokenizer,
    messages: &[Message],
) -> Result<Vec<u32>> {
    Ok(chat_ids(template, tokenizer, messages)?.0)
}

/// [`chat_tokens`], and the positions of the messages' cache breaks.
pub fn chat_ids(
    template: &ChatTemplate,
    tokenizer: &TextTokenizer,
    messages: &[Message],
) -> Result<(Vec<u32>, Vec<usize>)> {
    let (mut ids, mut points) = (Vec::new(), Vec::new());
    for segment in template.render_segments(messages, true)? {
        match segment {
            Segment::Template(text) => ids.extend(tokenizer.encode(&text, true)?),
            Segment::Content(text) => ids.extend(tokenizer.encode(&text, false)?),
            Segment::Break => points.push(ids.len()),
        }
    }
    Ok((ids, points))
}
