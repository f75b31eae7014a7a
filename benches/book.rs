//! Order-book benches (being built).

fn main() {}
