//! Driving the real binary: a clean command, a free port, the daemon's status.

use std::process::{Child, Command};
use std::time::Duration;

/// The binary, without a developer's `ANOMALY_DETECTOR__*`, `RUST_LOG` or `LOG_LEVEL` overrides.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anomaly-detector"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ANOMALY_DETECTOR__") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG").env_remove("LOG_LEVEL");
    c
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `lines_processed` of the daemon's `/api/v1/status` on `port`, or `None` while it does not answer.
pub fn lines_processed(port: u16) -> Option<u64> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/api/v1/status"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        v["lines_processed"].as_u64()
    })
}

/// The body of `GET path` from the daemon on `port` (empty while it does not answer).
#[allow(dead_code)]
pub fn get_text(port: u16, path: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let Ok(r) = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}{path}"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        else {
            return String::new();
        };
        r.text().await.unwrap_or_default()
    })
}

/// A child process killed (and reaped) when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
