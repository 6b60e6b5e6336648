//! Perseus under its own faults: `lab down` converges after `lab up` was killed at any moment, and
//! one process at a time changes a lab (its claim), on real containers.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A system with sidecars (a sentinel beside each node) and a volume per node, whose readiness
/// takes about 10 s: long enough for a second `lab up` to meet the first one at work.
const SYSTEM: &str = "redis-sentinel";

/// A system with sidecars (a CASPaxos proposer beside each node) and a volume per node, whose
/// whole `lab up` takes about a second here, most of it creating containers and volumes: 20 kills
/// spread over it land in creation itself, 50 ms apart.
const KILLED: &str = "gryadka";

/// Whether `system`'s claim container exists.
fn claim_exists(system: &str) -> bool {
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let d = docker().await;
        d.inspect_container(
            &perseus::lab::claim::claim_name(system),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .is_ok()
    })
}

fn spawn_up(system: &str) -> Child {
    perseus()
        .args(["lab", "up", system])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn kill(child: &mut Child) {
    let signalled = unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    assert_eq!(signalled, 0);
    child.wait().unwrap();
}

/// The numbers `lab down` says it removed: "lab redis-sentinel down: removed 6 containers, 1
/// networks, 3 volumes" gives 10.
fn removed(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains(" down: removed "))
        .unwrap_or_else(|| panic!("no removal line in {stderr}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse::<usize>().ok())
        .sum()
}

#[test]
fn lab_down_after_lab_up_was_killed_at_any_moment_leaves_nothing() {
    let _guard = LabGuard::lock_only(KILLED);
    // How long a whole `lab up` takes here: the kills are spread from its start to its end.
    let t = Instant::now();
    run(&["lab", "up", KILLED], 0);
    let whole = t.elapsed();
    run(&["lab", "down", KILLED], 0);
    let moments = 20;
    let mut mid_creation = 0;
    for i in 0..moments {
        let at = whole.mul_f64(i as f64 / (moments - 1) as f64);
        let mut up = spawn_up(KILLED);
        std::thread::sleep(at);
        kill(&mut up);
        let down = run(&["lab", "down", KILLED], 0);
        if removed(&stderr(&down)) > 0 {
            mid_creation += 1;
        }
        // A few seconds later, nothing of the lab, and no claim, is left.
        sleep_s(2.0);
        assert_eq!(
            leftovers(KILLED),
            (0, 0, 0),
            "kill {i} at {:.2} s of {:.2} s left objects after `lab down` said:\n{}",
            at.as_secs_f64(),
            whole.as_secs_f64(),
            stderr(&down)
        );
        assert!(!claim_exists(KILLED), "kill {i}: the claim is left");
    }
    // The moments covered creation itself, not only before and after it.
    assert!(
        mid_creation >= moments / 2,
        "only {mid_creation} of {moments} killed ups had made anything (whole up {:.1} s)",
        whole.as_secs_f64()
    );
}

#[test]
fn two_lab_ups_at_once_make_one_lab_and_one_refusal_naming_the_holder() {
    let _guard = LabGuard::lock_only(SYSTEM);
    let mut a = spawn_up(SYSTEM);
    let mut b = spawn_up(SYSTEM);
    // The loser is refused at once, while the winner is still bringing the lab up.
    let t = Instant::now();
    let (loser, winner) = loop {
        if let Some(status) = a.try_wait().unwrap() {
            break ((a, status), b);
        }
        if let Some(status) = b.try_wait().unwrap() {
            break ((b, status), a);
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "neither lab up ended"
        );
        sleep_s(0.05);
    };
    let (loser, status) = loser;
    let out = loser.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let holder = format!(
        "perseus: the {SYSTEM} lab is being changed by `perseus lab up {SYSTEM}` (pid {} on this machine, since ",
        winner.id()
    );
    assert!(err.starts_with(&holder), "{err}");
    assert!(
        err.trim_end()
            .ends_with("): wait for it to finish, or stop it, and try again"),
        "{err}"
    );
    // Taking it down is refused too while the winner holds it; a fault or status is not.
    let mut winner = winner;
    assert!(
        winner.try_wait().unwrap().is_none(),
        "the winner was still making the lab when the loser was refused"
    );
    let down = run(&["lab", "down", SYSTEM], 2);
    assert!(
        stderr(&down).contains("is being changed by `perseus lab up"),
        "{}",
        stderr(&down)
    );
    let won = winner.wait_with_output().unwrap();
    assert_eq!(won.status.code(), Some(0), "{}", stderr(&won));
    assert!(
        !claim_exists(SYSTEM),
        "a finished lab up gives its claim up"
    );
    // One lab: three nodes, each with its sentinel and its network helper.
    assert_eq!(leftovers(SYSTEM), (9, 1, 3));
    run(&["lab", "down", SYSTEM], 0);
    assert_eq!(leftovers(SYSTEM), (0, 0, 0));
}

#[test]
fn a_claim_held_from_another_machine_is_not_taken_over() {
    let _guard = LabGuard::lock_only("redis");
    let name = perseus::lab::claim::claim_name("redis");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A live holder elsewhere: take the claim as this process, then say it ran on another host.
    rt.block_on(async {
        let d = docker().await;
        let claim =
            perseus::lab::claim::take(&d, "redis", "perseus lab up redis", true, &mut |_| {})
                .await
                .unwrap();
        // The same claim, made again with another host's labels.
        let held = d
            .inspect_container(
                &name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .unwrap();
        let mut labels = held.config.unwrap().labels.unwrap();
        labels.insert("perseus.claim.host".into(), "another-machine".into());
        claim.release().await.unwrap();
        let body = bollard::models::ContainerCreateBody {
            image: Some(perseus::lab::claim::CLAIM_IMAGE.into()),
            labels: Some(labels),
            ..Default::default()
        };
        let opts = bollard::query_parameters::CreateContainerOptionsBuilder::default()
            .name(&name)
            .build();
        d.create_container(Some(opts), body).await.unwrap();
    });
    let out = run(&["lab", "up", "redis", "--nodes", "1"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("(pid ") && err.contains(" on host another-machine, since "),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with(&format!(
            "this machine cannot tell whether it still runs: if it is gone, remove its claim (docker rm {name}) and try again"
        )),
        "{err}"
    );
    assert_eq!(leftovers("redis"), (0, 0, 0), "nothing was made");
    // As the message says: remove it, and the lab comes up.
    rt.block_on(async {
        let d = docker().await;
        d.remove_container(
            &name,
            None::<bollard::query_parameters::RemoveContainerOptions>,
        )
        .await
        .unwrap();
    });
    run(&["lab", "up", "redis", "--nodes", "1"], 0);
    run(&["lab", "down", "redis"], 0);
    assert!(!claim_exists("redis"));
}
