#[govops::governed(tool, name = "search", skip(qurey))]
fn f(query: &str) -> usize {
    query.len()
}

fn main() {}
