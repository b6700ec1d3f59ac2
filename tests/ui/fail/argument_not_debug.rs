struct Opaque;

#[govops::governed(tool, name = "search")]
fn f(opaque: Opaque) -> usize {
    let _ = opaque;
    1
}

fn main() {}
