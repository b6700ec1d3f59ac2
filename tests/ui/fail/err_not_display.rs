#[derive(Debug)]
struct Failure;

#[govops::governed(tool, name = "search", err)]
fn f(query: &str) -> Result<usize, Failure> {
    if query.is_empty() {
        return Err(Failure);
    }
    Ok(query.len())
}

fn main() {}
