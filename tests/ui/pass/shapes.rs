//! Function shapes that must keep compiling under `#[governed]`, model calls and `err` included.
#![allow(dead_code)]

use std::fmt::Display;

#[govops::governed(chat, model = "gpt-4o")]
fn first(v: &mut Vec<u32>) -> &mut u32 {
    &mut v[0]
}

struct Buffer(Vec<u8>);

impl Buffer {
    #[govops::governed(chat, model = "gpt-4o")]
    fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    #[govops::governed(tool, name = "peek", err)]
    fn peek(&self) -> Result<&u8, String> {
        self.0.first().ok_or_else(|| "empty".to_owned())
    }
}

#[govops::governed(chat, model = "gpt-4o")]
fn boxed(flag: bool) -> Box<dyn Display> {
    if flag {
        return Box::new(1);
    }
    Box::new("x")
}

#[govops::governed(chat, model = "gpt-4o")]
fn never() -> ! {
    panic!("never returns")
}

#[govops::governed(chat, model = "gpt-4o")]
fn opaque() -> impl Display {
    42
}

#[govops::governed(chat, model = "gpt-4o", err)]
fn fallible(text: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = text.parse()?;
    Ok(n + 1)
}

#[govops::governed(chat, model = "gpt-4o", skip_all)]
fn generic<T: Clone>(value: &T) -> T {
    value.clone()
}

fn main() {
    let mut v = vec![1];
    *first(&mut v) += 1;
    let _ = boxed(true).to_string();
    let _ = opaque().to_string();
    let _ = fallible("1");
    let _ = generic(&3);
    let mut b = Buffer(vec![1]);
    b.buf().push(2);
    let _ = b.peek();
    accepted::run();
}

/// What `prompt`, `max_tokens` and `err` accept: any text, any integer, any `Display` error.
mod accepted {
    use std::borrow::Cow;

    #[govops::governed(chat, model = "gpt-4o", prompt = prompt, max_tokens = 512)]
    fn owned(prompt: String) -> usize {
        prompt.len()
    }

    #[govops::governed(chat, model = "gpt-4o", prompt = *prompt, max_tokens = limit)]
    fn unsized_text(prompt: &&str, limit: u64) -> usize {
        prompt.len() + limit as usize
    }

    #[govops::governed(chat, model = "gpt-4o", prompt = prompt, max_tokens = limit)]
    fn cow(prompt: &Cow<'_, str>, limit: usize) -> usize {
        prompt.len() + limit
    }

    #[govops::governed(tool, name = "parse", err)]
    fn boxed_error(text: &str) -> Result<u32, Box<dyn std::error::Error>> {
        Ok(text.parse()?)
    }

    pub(super) fn run() {
        let _ = owned("hi".to_owned());
        let _ = unsized_text(&"hi", 1);
        let _ = cow(&Cow::Borrowed("hi"), 1);
        let _ = boxed_error("1");
    }
}
