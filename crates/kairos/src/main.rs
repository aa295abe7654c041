use clap::Parser;

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
