#[govops::governed(tool, name = "search", model = "gpt-4o")]
fn f() {}

fn main() {}
