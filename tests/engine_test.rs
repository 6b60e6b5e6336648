//! Perseus when the Docker Engine does not answer for a while: a proxy stands between Perseus and
//! the Engine's socket and drops every connection for 10 s in the middle of a run, over the heal
//! step. The run waits for the Engine (`--engine-patience`), heals, completes, and its report
//! lists what was tried again.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;

/// A Unix-socket proxy to the Engine's socket that can be cut: while `down`, its socket is gone
/// (a connect fails) and every connection it carried is closed. It counts the connections open
/// at once (`open`, and the most since it was last reset, `most`): a client sends requests at
/// once only on as many connections.
struct Proxy {
    path: PathBuf,
    down: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(path: &Path) -> Proxy {
        let engine = std::env::var("DOCKER_HOST")
            .ok()
            .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
            .unwrap_or_else(|| "/var/run/docker.sock".to_string());
        let (down, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (d, s, p) = (down.clone(), stop.clone(), path.to_path_buf());
        let (o, m) = (open.clone(), most.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut listener: Option<tokio::net::UnixListener> = None;
                let mut carried = tokio::task::JoinSet::new();
                while !s.load(Ordering::Relaxed) {
                    if d.load(Ordering::Relaxed) {
                        if listener.take().is_some() {
                            let _ = std::fs::remove_file(&p);
                            carried.abort_all();
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    if listener.is_none() {
                        let _ = std::fs::remove_file(&p);
                        listener = Some(tokio::net::UnixListener::bind(&p).unwrap());
                    }
                    let l = listener.as_ref().unwrap();
                    let accepted =
                        tokio::time::timeout(Duration::from_millis(20), l.accept()).await;
                    if let Ok(Ok((client, _))) = accepted {
                        let engine = engine.clone();
                        let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(now, Ordering::SeqCst);
                        // Open until its client closes it (or the proxy drops it).
                        let open = Open(o.clone());
                        carried.spawn(async move {
                            if let Ok(server) = tokio::net::UnixStream::connect(&engine).await {
                                let (mut cr, mut cw) = client.into_split();
                                let (mut sr, mut sw) = server.into_split();
                                let up = async move {
                                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                                    drop(open);
                                    let _ = sw.shutdown().await;
                                };
                                let _ = tokio::join!(up, tokio::io::copy(&mut sr, &mut cw));
                            }
                        });
                    }
                    while carried.try_join_next().is_some() {}
                }
                carried.abort_all();
                let _ = std::fs::remove_file(&p);
            });
        });
        Proxy {
            path: path.to_path_buf(),
            down,
            open,
            most,
            stop,
            thread: Some(thread),
        }
    }
}

/// One connection open at the proxy: counted down when dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Wait for `child` (a perseus given `--engine-patience 30s`): it must have said it waited for
/// the Engine, and succeeded. What it said on stderr (shown under --no-capture).
fn waited_and_succeeded(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("the Docker Engine did not answer ")
            && err.contains("trying again for up to 30 s"),
        "{err}"
    );
    err
}

#[test]
fn a_run_waits_for_an_engine_that_drops_for_ten_seconds_over_its_heal() {
    let lab = LabGuard::up("redis", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&tmp.path().join("engine.sock"));
    let scenario = tmp.path().join("engine-drop.yaml");
    std::fs::write(
        &scenario,
        "\
name: engine-drop
system: redis
nodes: 3
load: {duration: 24s}
steps:
  - {name: cut, at: 4s, fault: isolate, target: n1}
  - {name: heal, at: 8s, fault: heal}
expect:
  - lost-writes: 0
",
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let child = perseus()
        .env("DOCKER_HOST", format!("unix://{}", proxy.path.display()))
        .args(["run", "--reuse", "--engine-patience", "30s", "--runs-dir"])
        .arg(&runs)
        .arg(&scenario)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The Engine drops right after the isolation, for 10 s: the heal, 4 s later, falls inside.
    let t = Instant::now();
    let cut_made = loop {
        let events = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.ok()?.path().join("events.jsonl")).ok())
            .unwrap_or_default();
        if events.lines().any(|l| l.contains("\"isolate\"")) {
            break Instant::now();
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "the isolation never came"
        );
        sleep_s(0.05);
    };
    proxy.down.store(true, Ordering::Relaxed);
    sleep_s(10.0);
    proxy.down.store(false, Ordering::Relaxed);
    let dropped = cut_made.elapsed();
    waited_and_succeeded(child);
    let dir = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["outcome"], "passed", "{s}");
    // The heal happened, once the Engine answered again: about 10 s after the isolation, not 4.
    let heal = &s["steps"][1];
    assert_eq!(heal["fault"], "heal", "{s}");
    let applied =
        heal["applied_s"].as_f64().unwrap() - s["steps"][0]["applied_s"].as_f64().unwrap();
    assert!(
        applied > 9.0 && applied < dropped.as_secs_f64() + 5.0,
        "the heal came {applied:.1} s after the isolation (the Engine was away {:.1} s): {heal}",
        dropped.as_secs_f64()
    );
    assert!(
        s["restored"].as_array().unwrap().is_empty(),
        "nothing was left to undo: {s}"
    );
    // The report lists the calls tried again.
    let retries = s["engine_retries"]
        .as_array()
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        retries
            .iter()
            .any(|r| r.as_str().unwrap().contains(" again after ")),
        "{retries:?}"
    );
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("The Docker Engine did not always answer"),
        "{report}"
    );
    // n1 is reachable by its peers again.
    assert!(reaches("redis", 2, 1, 6379));
    drop(lab);
}

/// `lab up` whose Engine drops for 3 s while it creates the lab (from the moment the lab's
/// network exists): every create in flight is sent again only after reading that it did not
/// happen, so the lab comes up whole, once: three nodes, each with its helper, nothing twice.
/// Its `lab down` then removes them one container at a time.
#[test]
fn lab_up_waits_for_an_engine_that_drops_while_it_creates_the_lab_and_down_removes_one_at_a_time() {
    let lab = LabGuard::lock_only("redis");
    let tmp = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&tmp.path().join("engine.sock"));
    let up = perseus()
        .env("DOCKER_HOST", format!("unix://{}", proxy.path.display()))
        .args(["lab", "up", "redis", "--engine-patience", "30s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while leftovers("redis").1 == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the network never came"
        );
        sleep_s(0.005);
    }
    proxy.down.store(true, Ordering::Relaxed);
    let (made, _, _) = leftovers("redis");
    sleep_s(3.0);
    proxy.down.store(false, Ordering::Relaxed);
    let err = waited_and_succeeded(up);
    eprintln!("{made} containers were made when the Engine dropped");
    // Whole, and nothing twice: three nodes and their three helpers, one network, a volume each.
    assert_eq!(leftovers("redis"), (6, 1, 3), "{err}");
    let status = lab.status();
    assert_eq!(status.len(), 3, "{status:?}");
    for r in &status {
        assert_eq!(r["state"], "running", "{r}");
    }

    // `lab down` removes the containers one at a time (an engine before 20.10.27 can deadlock
    // when many leave one network at once: src/lab/remove.rs). Its requests follow each other,
    // though the client may open a second connection when the next request comes before the
    // last one's connection is back in its pool: at most 2 open at once (7 when the six
    // removals went at once).
    let t = Instant::now();
    while proxy.open.load(Ordering::SeqCst) > 0 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "lab up's connections stay open"
        );
        sleep_s(0.05);
    }
    proxy.most.store(0, Ordering::SeqCst);
    let down = perseus()
        .env("DOCKER_HOST", format!("unix://{}", proxy.path.display()))
        .args(["lab", "down", "redis"])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(0), "{}", stderr(&down));
    assert!(
        stderr(&down).contains("removed 6 containers"),
        "{}",
        stderr(&down)
    );
    let most = proxy.most.load(Ordering::SeqCst);
    assert!(most <= 2, "lab down had {most} connections open at once");
}
