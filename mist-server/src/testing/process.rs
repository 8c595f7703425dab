//! The worker processes a test started, found and signalled as an operator
//! (or the kernel) would: SIGKILL for a crash, SIGSTOP/SIGCONT for a stall.

use std::time::{Duration, Instant};

/// The pids of the live `mist-server worker --supervised` processes this
/// test process started (its children) for the server whose data dir is
/// `data_dir`, from `/proc` (tests run side by side, each with its own).
pub fn supervised_workers(data_dir: &std::path::Path) -> Vec<u32> {
    let data_dir = data_dir.to_string_lossy().into_owned();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid …`; comm may hold spaces, so split after the `)`.
            let mut after = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest)
                .unwrap_or("")
                .split_whitespace();
            let state = after.next().unwrap_or("Z");
            let parent = after.next().and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            parent == Some(me)
                && state != "Z"
                && String::from_utf8_lossy(&cmdline).contains("--supervised")
                && String::from_utf8_lossy(&environ).contains(&data_dir)
        })
        .collect()
}

/// Waits until exactly one supervised worker runs for the server with
/// `data_dir` (a restart may take a moment) and returns its pid.
pub async fn supervised_worker(data_dir: &std::path::Path, timeout: Duration) -> u32 {
    let start = Instant::now();
    loop {
        if let [pid] = supervised_workers(data_dir)[..] {
            return pid;
        }
        assert!(
            start.elapsed() < timeout,
            "no supervised worker process after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`…) to `pid` with kill(1).
pub fn signal(pid: u32, signal: &str) {
    super::audio::run(
        std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string()),
    );
}
