use clap::Parser;

/// Reports and imports allocate a value per column per row (SQLite's driver copies each
/// one); glibc's allocator spent a quarter of their time in malloc and free. The `override`
/// feature also gives mimalloc the C side's malloc (SQLite's own value copies and pages),
/// which glibc documents as a supported way to replace its allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = kairos::cli::Cli::parse();
    match kairos::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kairos: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
