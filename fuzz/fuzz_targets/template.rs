//! Chat templates on hostile input. Even first byte: the real models' templates
//! render arbitrary messages (NUL-separated; a byte per message picks the role).
//! Odd: the input is itself a template, compiled and rendered. Errors are fine,
//! panics are not.
#![no_main]

use abridge::model::template::ChatTemplate;
use abridge::model::Message;
use abridge_fuzz::chat_templates;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let generation = mode & 2 != 0;
    if mode & 1 == 0 {
        let messages: Vec<Message> = text
            .split('\0')
            .map(|m| {
                let role = match m.bytes().next().unwrap_or(0) % 4 {
                    0 => "system",
                    1 => "user",
                    2 => "assistant",
                    _ => "tool",
                };
                Message::new(role, m)
            })
            .collect();
        for t in chat_templates() {
            let _ = t.render(&messages, generation);
        }
    } else if let Ok(t) = ChatTemplate::new(&text, "<s>", "</s>") {
        let messages = [
            Message::system("Be brief."),
            Message::user("Summarize: rain."),
        ];
        let _ = t.render(&messages, generation);
    }
});
