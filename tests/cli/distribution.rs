//! Installing gsec without a compiler: `scripts/install-gsec.sh` (what the
//! Action's install step runs) against a fake release served on 127.0.0.1,
//! a tampered archive included.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = "v9.9.9";

/// Files under `dir` served over HTTP until dropped; 404 for the rest.
struct FakeRelease {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeRelease {
    fn serve(dir: PathBuf) -> FakeRelease {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let sp = stop.clone();
        let thread = std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                if let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) {
                    let rel = req.url().trim_start_matches('/').to_string();
                    let path = dir.join(&rel);
                    let resp = match std::fs::read(&path) {
                        Ok(b) if !rel.contains("..") => tiny_http::Response::from_data(b),
                        _ => tiny_http::Response::from_data(b"not found".to_vec())
                            .with_status_code(404),
                    };
                    let _ = req.respond(resp);
                }
            }
        });
        FakeRelease {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeRelease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

/// A release directory `<dir>/<VERSION>/` holding the archive of the built
/// binary and SHA256SUMS, as the release workflow lays them out.
fn release(dir: &Path) -> PathBuf {
    let rel = dir.join(VERSION);
    let name = format!("gsec-{VERSION}-{}", target());
    let stage = dir.join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::create_dir_all(&rel).unwrap();
    std::fs::copy(BIN, stage.join("gsec")).unwrap();
    // Release binaries are stripped; so is this one (the debug build's
    // symbols are hundreds of MB to compress).
    let _ = Command::new("strip").arg(stage.join("gsec")).status();
    let archive = format!("{name}.tar.gz");
    let st = Command::new("tar")
        .args(["czf"])
        .arg(rel.join(&archive))
        .arg("-C")
        .arg(dir.join("stage"))
        .arg(&name)
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new("sha256sum")
        .arg(&archive)
        .current_dir(&rel)
        .output()
        .unwrap();
    std::fs::write(rel.join("SHA256SUMS"), &out.stdout).unwrap();
    rel.join(archive)
}

fn install(e: &Env, url: &str, root: &Path, source: Option<&str>) -> Output {
    let mut c = Command::new("bash");
    c.arg(Path::new(ROOT).join("scripts/install-gsec.sh"));
    e.clean_env(&mut c);
    c.env("GSEC_VERSION", VERSION)
        .env("GSEC_ROOT", root)
        .env("GSEC_RELEASE_URL", url);
    if let Some(s) = source {
        c.env("GSEC_SOURCE", s);
    }
    c.output().unwrap()
}

#[test]
fn the_action_installs_a_verified_release_binary_and_refuses_a_tampered_one() {
    let e = Env::new();
    let dir = e.tmp.path().join("release");
    let archive = release(&dir);
    let server = FakeRelease::serve(dir.clone());

    let root = e.tmp.path().join("root");
    let out = install(&e, &server.url, &root, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("verified against SHA256SUMS"), "{err}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("gsec "),
        "{out:?}"
    );
    let v = Command::new(root.join("bin/gsec"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(v.status.success());

    // One byte changed in the archive: refused, nothing installed.
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let root2 = e.tmp.path().join("root2");
    let out = install(&e, &server.url, &root2, None);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("does not match the release's SHA256SUMS"),
        "{all}"
    );
    assert!(all.contains("::error title=gsec install::"), "{all}");
    assert!(!root2.join("bin/gsec").exists());

    // No asset for the version: the fallback (a source build) is named.
    std::fs::remove_dir_all(dir.join(VERSION)).unwrap();
    let root3 = e.tmp.path().join("root3");
    let out = install(&e, &server.url, &root3, Some("/nonexistent-gsec-source"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no release asset"), "{err}");
    assert!(!root3.join("bin/gsec").exists());
}

#[test]
fn dockerfile_passes_hadolint_and_binstall_points_at_the_release_assets() {
    let out = Command::new(tool("hadolint"))
        .arg(Path::new(ROOT).join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // cargo-binstall's template must name exactly what the release
    // workflow and the install script produce.
    let cargo = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let release =
        std::fs::read_to_string(Path::new(ROOT).join(".github/workflows/release.yml")).unwrap();
    let script = std::fs::read_to_string(Path::new(ROOT).join("scripts/install-gsec.sh")).unwrap();
    assert!(cargo.contains("gsec-v{ version }-{ target }{ archive-suffix }"));
    assert!(release.contains("name=\"gsec-${VERSION}-${TARGET}\""));
    assert!(script.contains("asset=\"gsec-$version-$t.$ext\""));
}
