//! The `kairos` command line, run as a real process: init, user add|list|disable, migrate,
//! serve + healthcheck, and clear messages for bad configuration.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kairos");

fn kairos(db: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DATABASE_URL", db)
        .env_remove("KAIROS_LISTEN")
        .env("KAIROS_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("kairos runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

struct TempDb(std::path::PathBuf);
impl Drop for TempDb {
    fn drop(&mut self) {
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{s}", self.0.display()));
        }
    }
}

#[test]
fn init_and_user_commands_manage_a_workspace() {
    let path = std::env::temp_dir().join(format!("kairos-cli-{}.db", uuid::Uuid::now_v7().simple()));
    let _guard = TempDb(path.clone());
    let db = format!("sqlite://{}", path.display());
    let pw = "a long enough password";

    let o = kairos(&db, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kairos(&db, &["init", "--workspace", "Acme", "--admin-email", "boss@acme.test", "--admin-password", pw]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("created workspace"));
    // The same e-mail again is refused with a message that says why.
    let o = kairos(&db, &["init", "--workspace", "Other", "--admin-email", "BOSS@acme.test", "--admin-password", pw]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    // A weak password is refused naming the field.
    let o = kairos(&db, &["init", "--workspace", "Weak", "--admin-email", "weak@acme.test", "--admin-password", "short"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("admin_password"), "{}", text(&o));

    let o = kairos(&db, &["user", "add", "--email", "rep@acme.test", "--name", "Rep", "--password", pw, "--role", "sales_rep", "--org-unit", "hq"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kairos(&db, &["user", "add", "--email", "x@acme.test", "--name", "X", "--password", pw, "--role", "emperor"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown role"), "{}", text(&o));
    let o = kairos(&db, &["user", "disable", "rep@acme.test"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = kairos(&db, &["user", "list"]);
    let listing = text(&o);
    assert!(listing.contains("boss@acme.test") && listing.lines().any(|l| l.starts_with("rep@acme.test") && l.ends_with("disabled")), "{listing}");
}

#[test]
fn a_bad_configuration_says_what_to_fix() {
    let o = kairos("mysql://localhost/kairos", &["migrate"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("database_url"), "{}", text(&o));
    let o = Command::new(BIN).args(["serve", "--listen", "not-an-address"]).env("DATABASE_URL", "sqlite://unused.db").current_dir(std::env::temp_dir()).output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("listen"), "{}", text(&o));
}

#[test]
fn serve_answers_healthcheck_as_a_real_process() {
    let path = std::env::temp_dir().join(format!("kairos-serve-{}.db", uuid::Uuid::now_v7().simple()));
    let _guard = TempDb(path.clone());
    let db = format!("sqlite://{}", path.display());
    // Ask the OS for a free port, then hand it to the server.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let mut server = Command::new(BIN).args(["serve"]).env("DATABASE_URL", &db).env("KAIROS_LISTEN", &address).spawn().unwrap();
    let mut healthy = false;
    // Up to 30 s: a debug build migrating a new file on a machine busy with the rest of the
    // suite once took more than 10.
    for _ in 0..300 {
        let o = Command::new(BIN).args(["healthcheck", "--address", &address]).output().unwrap();
        if o.status.success() {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(healthy, "kairos serve answered /healthz on {address}");
}
