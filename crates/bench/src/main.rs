//! Load generators (filled in below).
fn main() {}
