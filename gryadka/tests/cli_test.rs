//! The `gryadka` binary as a lab node runs it: bad arguments are refused in one line with exit
//! code 2, before anything listens. (Building this test also builds the binary next to perseus,
//! where `perseus lab up gryadka` mounts it from.)

use std::process::Command;

fn gryadka(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gryadka"))
        .args(args)
        .output()
        .expect("run gryadka");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_node_name_is_refused_with_the_fix() {
    let (code, err) = gryadka(&["--node", "node1", "--acceptors", "127.0.0.1:1"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        "gryadka: --node 'node1' is not a node name: use n1, n2, ..."
    );
}

#[test]
fn a_malformed_acceptor_address_is_refused() {
    let (code, err) = gryadka(&["--node", "n1", "--acceptors", "no port here/"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("gryadka: acceptor address 'no port here/'"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
