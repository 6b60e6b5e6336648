//! TiDB in the lab on its official images (pulled or loaded). The test is ignored by default, so
//! nextest reports it as skipped where the images are absent; `--run-ignored all` runs it, and
//! without the images it fails with the fix in one line. The definition itself is checked in
//! `definition_test.rs`, the missing-image error in `cockroach_test.rs`.

mod common;

use common::*;

const IMAGES: [&str; 3] = [
    "pingcap/pd:v8.5.4",
    "pingcap/tikv:v8.5.4",
    "pingcap/tidb:v8.5.4",
];

/// PD's leader as PD's HTTP API on `node` names it (`GET /pd/api/v1/leader`): an independent path
/// from the lab's own lookup.
fn pd_leader_from(node: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = perseus::docker::connect().await.unwrap();
        let home = perseus::lab::Home::locate().unwrap();
        let lab = perseus::lab::open(&docker, &home, "tidb").await.unwrap();
        let ip = lab.node(node).unwrap().ip;
        let (status, body) = perseus::http::oneshot(
            std::net::SocketAddr::new(ip.into(), 2379),
            hyper::Method::GET,
            "/pd/api/v1/leader",
            None,
            std::time::Duration::from_secs(3),
        )
        .await
        .unwrap();
        assert!(status.is_success(), "PD leader: {status}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["name"].as_str().expect("leader name").to_string()
    })
}

#[test]
#[ignore = "needs the official images pingcap/pd:v8.5.4, pingcap/tikv:v8.5.4, pingcap/tidb:v8.5.4: docker pull them, then cargo nextest run --run-ignored all"]
fn isolated_region_leader_and_pd_leader_on_the_official_images() {
    require_images(&IMAGES);
    let lab = LabGuard::up("tidb", &[]);
    let leader = lab.wait_leader(std::time::Duration::from_secs(60), |_| true);
    let load = LoadRun::start("tidb", 40, &[]);
    sleep_s(6.0);
    let event = lab.fault("isolate", "leader");
    assert!(
        event.contains(&format!("isolate {leader} (leader)")),
        "{event}"
    );
    sleep_s(20.0);
    let healed = run(&["fault", "heal", "tidb"], 0);
    let r = load.finish();
    let (cut, heal) = (r.offset(&event), r.offset(&stdout(&healed)));
    let idx: usize = leader[1..].parse().unwrap();
    for n in (1..=3).filter(|&n| n != idx) {
        r.assert_column(
            n,
            cut + 15.0,
            heal,
            |c| c > 0,
            &format!("n{n} serves once the region has a new leader: from 15 s after the isolation until heal"),
        );
    }
    r.every_node_rejoins_within(heal, 8.5, "every node serves again after heal");
    assert_safe(&r.summary);

    let asked = pd_leader_from("n1");
    let event = lab.fault("pause", "pd-leader");
    assert!(
        event.contains(&format!("pause {asked} (pd-leader)")),
        "PD itself names {asked}: {event}"
    );
    let paused = event
        .split("pause ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the event names the node");
    lab.fault("resume", paused);
}
