//! Project tasks: `cargo xtask build-module | test-lua | ci | bench`.

fn main() {
    eprintln!("xtask: not yet built");
    std::process::exit(2);
}
