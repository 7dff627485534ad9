//! Rebuilds the binary when the embedded profile catalog (`../profiles`) changes.
fn main() {
    println!("cargo:rerun-if-changed=../profiles");
}
