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
}
