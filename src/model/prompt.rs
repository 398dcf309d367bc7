//! The shape of what a model is asked: a conversation for chat models, a text for
//! base models. What the messages say is [`crate::prompts`]' job; how a model's chat
//! template writes them is [`super::template`]'s.

/// One turn of a conversation, in the shape chat templates expect (`role`, `content`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    /// Byte offsets in `content` where the prompt may be cut for the prefix
    /// cache (e.g. after the instruction, after the article): the pieces are
    /// tokenized apart, so put them where tokenization splits anyway (a newline).
    #[serde(skip)]
    pub breaks: Vec<usize>,
}

impl Message {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
            breaks: Vec::new(),
        }
    }

    /// The same message with cache breaks at these byte offsets of its content.
    pub fn with_breaks(mut self, breaks: impl IntoIterator<Item = usize>) -> Self {
        let len = self.content.len();
        self.breaks = breaks
            .into_iter()
            .filter(|&b| b > 0 && b < len && self.content.is_char_boundary(b))
            .collect();
        self.breaks.sort_unstable();
        self.breaks.dedup();
        self
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// What to ask the model for one task: a conversation for chat models, or for base
/// models a completion prompt and the strings that end its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Chat(Vec<Message>),
    Completion {
        text: String,
        stop: &'static [&'static str],
    },
}

impl Prompt {
    /// Strings that end the answer (none for chat: end-of-turn tokens do that).
    pub fn stop(&self) -> &'static [&'static str] {
        match self {
            Prompt::Chat(_) => &[],
            Prompt::Completion { stop, .. } => stop,
        }
    }
}
