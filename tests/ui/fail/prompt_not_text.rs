#[derive(Debug)]
struct Request {
    tokens: Vec<u32>,
}

#[govops::governed(chat, model = "gpt-4o", prompt = request.tokens)]
fn f(request: &Request) -> usize {
    request.tokens.len()
}

fn main() {}
