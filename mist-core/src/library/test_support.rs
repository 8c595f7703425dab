//! Helpers for the library's tests: measuring a hostile input's memory in a
//! process of its own, and making media with ffmpeg.

use std::path::Path;
use std::process::Command;

/// Peak resident memory of this process so far, in kB (Linux `VmHWM`).
pub fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// Runs the ignored test `name` alone in a child process of this test
/// binary, with `MIST_CHILD_CASE` set to `case`, and returns its stdout
/// line starting with `REPORT ` (and whether the child exited cleanly).
/// A test's peak memory is then its own, and a crash (a stack overflow
/// aborts) is a failed report, not a dead test run.
pub fn run_child(name: &str, case: &str) -> (bool, Option<String>) {
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("MIST_CHILD_CASE", case)
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The harness may print "test … ... " on the same line first.
    let report = stdout
        .lines()
        .find_map(|l| Some(l[l.find("REPORT ")? + 7..].to_owned()));
    if !out.status.success() || report.is_none() {
        eprintln!(
            "child {name} ({case}): {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success() && report.is_some(), report)
}

/// The case a child run was started for (`None` when run by hand).
pub fn child_case() -> Option<String> {
    std::env::var("MIST_CHILD_CASE").ok()
}

/// A `key=value` number from a child's report.
pub fn report_field(report: &str, key: &str) -> u64 {
    report
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} in {report}"))
}

/// Runs ffmpeg with `args` (quiet, overwriting) and asserts it succeeded.
pub fn ffmpeg(args: &[&str], output: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(output)
        .status()
        .expect("ffmpeg runs (.ci/run installs it)");
    assert!(status.success(), "ffmpeg {args:?} {}", output.display());
}
