//! Runs the Python client's own test suite (adapters/python/tests, standard library unittest)
//! against the real daemon, with the project's Python (.venv when set up, else python3).

use easel_tests::*;

#[test]
fn python_client_suite_passes_against_the_real_daemon() {
    let root = repo_root();
    let venv = root.join(".venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        "python3".into()
    };
    let out = std::process::Command::new(&python)
        .args([
            "-m",
            "unittest",
            "discover",
            "-s",
            "adapters/python/tests",
            "-v",
        ])
        .current_dir(&root)
        .env("EASELD", easeld())
        .output()
        .expect("run python");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client tests failed:\n{stderr}"
    );
    assert!(stderr.contains("OK"), "{stderr}");
    let ran: usize = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")
                .and_then(|r| r.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    assert!(ran >= 20, "only {ran} Python tests ran:\n{stderr}");
}
