//! Browser libraries (htmx, ECharts, SortableJS) come from the npm registry through
//! `web/package-lock.json` and are compiled into the binary, so a customer's intranet needs
//! no CDN and the repository holds no third-party code. A fresh clone installs them here,
//! once, with `npm ci`.

use std::path::Path;
use std::process::Command;

/// Files the server embeds, relative to `web/node_modules`.
const VENDORED: [&str; 3] = ["htmx.org/dist/htmx.min.js", "echarts/dist/echarts.min.js", "sortablejs/Sortable.min.js"];

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    println!("cargo:rerun-if-changed=web/package-lock.json");
    println!("cargo:rerun-if-changed=web/package.json");
    let modules = web.join("node_modules");
    let missing = || VENDORED.iter().any(|f| !modules.join(f).is_file());
    if missing() {
        // `--ignore-scripts`: no package gets to run code on the build machine.
        let status = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&web)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("`npm ci` in {} failed ({s}); the web UI's libraries come from the npm registry", web.display()),
            Err(e) => panic!("Kairos needs Node.js and npm to build its web UI (`npm ci` in {}): {e}", web.display()),
        }
        assert!(!missing(), "`npm ci` ran but {:?} are still missing under {}", VENDORED, modules.display());
    }
    for f in VENDORED {
        println!("cargo:rerun-if-changed=web/node_modules/{f}");
    }
    println!("cargo:rustc-env=KAIROS_NODE_MODULES={}", modules.display());
}
