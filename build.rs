//! `sqlx::migrate!` reads the migration directories when the crate compiles: a
//! migration added without touching the code must still rebuild it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
