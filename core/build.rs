//! Rebuilds the core when the profile catalog it embeds (`../profiles`) changes.
fn main() {
    println!("cargo:rerun-if-changed=../profiles");
}
