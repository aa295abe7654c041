// `sqlx::migrate!` embeds the migrations when this crate compiles; without this line a new
// migration file alone would not make cargo compile it again.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
