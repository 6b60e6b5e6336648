//! Three Docker hosts simulated on this machine, for the multi-host tests: docker-in-docker
//! containers of `perseus/dockerhost:3` (Debian's `docker.io` on the lab's own base image,
//! `overlay2` storage where it can be mounted, `docker/dockerhost/Dockerfile`) on a private
//! bridge network of the local engine, joined into one Swarm (the first a manager, the others workers). Each engine is reached over
//! `tcp://<ip>:2375`, or `tcp://<ip>:2376` with mutual TLS for the hosts asked for, and over
//! `ssh://root@<ip>` with a key made for the rig. [`Hosts`] owns all of it and removes it when
//! dropped.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, SwarmInitRequest, SwarmJoinRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use bollard::Docker;

/// The label every object of the simulated hosts carries (so a crashed test's leftovers can be
/// found: `docker rm -f $(docker ps -aq --filter label=perseus.test-hosts)`).
pub const LABEL: &str = "perseus.test-hosts";
const IMAGE: &str = "perseus/dockerhost:3";
const NETWORK: &str = "perseus-test-hosts";
const SUBNET: &str = "10.79.0.0/24";

/// The simulated hosts, up and in one Swarm.
pub struct Hosts {
    /// `tcp://10.79.0.11:2375`, ... in order (`:2376` for a TLS host); the first is the Swarm's
    /// manager.
    pub urls: Vec<String>,
    /// Their addresses on the private network.
    pub ips: Vec<String>,
    /// The rig's keys: `id_ed25519` (authorized for root on every host), and `client/` holding
    /// the TLS client's `ca.pem`, `cert.pem` and `key.pem` (what `DOCKER_CERT_PATH` names).
    pub keys: tempfile::TempDir,
    tls: Vec<bool>,
    local: Docker,
}

/// Run a local command of the rig (openssl, ssh-keygen); panics with its output when it fails.
fn sh(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for the simulated hosts' keys: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ssh key for root on the hosts, and a CA with a server certificate for the hosts'
/// addresses and a client certificate, as `docker --tlsverify` setups have them.
fn make_keys(ips: &[String]) -> tempfile::TempDir {
    let keys = tempfile::tempdir().unwrap();
    let dir = keys.path();
    sh(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "perseus-test-hosts",
            "-f",
            "id_ed25519",
        ],
        dir,
    );
    for sub in ["server", "client"] {
        std::fs::create_dir(dir.join(sub)).unwrap();
    }
    let days = ["-days", "2"];
    sh(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            days[0],
            days[1],
            "-subj",
            "/CN=perseus test hosts CA",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
        ],
        dir,
    );
    let sans: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
    std::fs::write(
        dir.join("server.cnf"),
        format!(
            "subjectAltName=DNS:localhost,{}\nextendedKeyUsage=serverAuth\n",
            sans.join(",")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("client.cnf"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        sh(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={who}"),
                "-keyout",
                &format!("{who}/key.pem"),
                "-out",
                &format!("{who}.csr"),
            ],
            dir,
        );
        sh(
            "openssl",
            &[
                "x509",
                "-req",
                days[0],
                days[1],
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-extfile",
                &format!("{who}.cnf"),
                "-out",
                &format!("{who}/cert.pem"),
            ],
            dir,
        );
        std::fs::copy(dir.join("ca.pem"), dir.join(who).join("ca.pem")).unwrap();
    }
    keys
}

fn labels() -> std::collections::HashMap<String, String> {
    [(LABEL.to_string(), "1".to_string())].into()
}

fn name(i: usize) -> String {
    format!("perseus-test-host{}", i + 1)
}

impl Hosts {
    /// Build the image if missing, remove leftovers of an earlier run, start `n` hosts, wait for
    /// their engines, and join them into one Swarm. Panics with what failed.
    pub async fn start(n: usize) -> Hosts {
        Hosts::start_with(n, &[]).await
    }

    /// As [`Hosts::start`], with the hosts at `tls` (0-based) reached over TLS on port 2376.
    pub async fn start_with(n: usize, tls: &[usize]) -> Hosts {
        let local = crate::common::docker().await;
        let home = perseus::lab::Home::at(env!("CARGO_MANIFEST_DIR"));
        let build = perseus::images::ImageBuild {
            tag: IMAGE.into(),
            context: home.root().join("docker").join("dockerhost"),
            dockerfile: "Dockerfile".into(),
            args: Vec::new(),
            pypi: Vec::new(),
        };
        perseus::images::ensure(
            &local,
            &[build],
            perseus::images::Rebuild::Missing,
            1,
            &mut |l| eprintln!("{l}"),
        )
        .await
        .expect("building perseus/dockerhost");
        remove_all(&local).await;
        local
            .create_network(NetworkCreateRequest {
                name: NETWORK.into(),
                driver: Some("bridge".into()),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(SUBNET.into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                labels: Some(labels()),
                ..Default::default()
            })
            .await
            .expect("creating the hosts' network");
        let ips: Vec<String> = (0..n).map(|i| format!("10.79.0.{}", 11 + i)).collect();
        let keys = make_keys(&ips);
        let public = std::fs::read_to_string(keys.path().join("id_ed25519.pub")).unwrap();
        let tls: Vec<bool> = (0..n).map(|i| tls.contains(&i)).collect();
        for (i, ip) in ips.iter().enumerate() {
            let mut env = vec![format!("DOCKERHOST_AUTHORIZED_KEY={}", public.trim())];
            let mut binds = vec!["/sys/fs/cgroup:/sys/fs/cgroup".to_string()];
            if tls[i] {
                env.push("DOCKERHOST_TLS=1".into());
                binds.push(format!(
                    "{}:/certs:ro",
                    keys.path().join("server").display()
                ));
            }
            let body = ContainerCreateBody {
                image: Some(IMAGE.into()),
                hostname: Some(format!("host{}", i + 1)),
                labels: Some(labels()),
                env: Some(env),
                cmd: Some(vec![format!("--cgroup-parent=/{}", name(i))]),
                // What --privileged gives but CAP_SYS_RESOURCE, which this machine's engine
                // cannot grant (docker/dockerhost/Dockerfile).
                host_config: Some(HostConfig {
                    cap_add: Some(vec!["ALL".into()]),
                    cap_drop: Some(vec!["SYS_RESOURCE".into()]),
                    security_opt: Some(
                        ["seccomp=unconfined", "apparmor=unconfined"]
                            .map(String::from)
                            .to_vec(),
                    ),
                    // systempaths=unconfined, as the Engine API takes it.
                    masked_paths: Some(Vec::new()),
                    readonly_paths: Some(Vec::new()),
                    binds: Some(binds),
                    network_mode: Some(NETWORK.into()),
                    ..Default::default()
                }),
                networking_config: Some(NetworkingConfig {
                    endpoints_config: Some(
                        [(
                            NETWORK.to_string(),
                            EndpointSettings {
                                ipam_config: Some(EndpointIpamConfig {
                                    ipv4_address: Some(ip.clone()),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                        )]
                        .into(),
                    ),
                }),
                ..Default::default()
            };
            local
                .create_container(
                    Some(CreateContainerOptionsBuilder::new().name(&name(i)).build()),
                    body,
                )
                .await
                .expect("creating a simulated host");
            perseus::docker::start(&local, &name(i))
                .await
                .expect("starting a simulated host");
        }
        let urls: Vec<String> = ips
            .iter()
            .zip(&tls)
            .map(|(ip, &tls)| format!("tcp://{ip}:{}", if tls { 2376 } else { 2375 }))
            .collect();
        let hosts = Hosts {
            urls,
            ips,
            keys,
            tls,
            local,
        };
        let engines = hosts.engines().await;
        let manager = &engines[0];
        manager
            .init_swarm(SwarmInitRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: Some(hosts.ips[0].clone()),
                ..Default::default()
            })
            .await
            .expect("docker swarm init on host1");
        let token = manager
            .inspect_swarm()
            .await
            .expect("inspecting the Swarm")
            .join_tokens
            .and_then(|t| t.worker)
            .expect("a worker join token");
        for (i, e) in engines.iter().enumerate().skip(1) {
            e.join_swarm(SwarmJoinRequest {
                listen_addr: Some("0.0.0.0:2377".into()),
                advertise_addr: Some(hosts.ips[i].clone()),
                remote_addrs: Some(vec![format!("{}:2377", hosts.ips[0])]),
                join_token: Some(token.clone()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("docker swarm join on host{}: {e}", i + 1));
        }
        hosts
    }

    /// Each host's engine, once it answers (at most 60 s each: dockerd starts in a few),
    /// over plain tcp or TLS with the rig's client certificate, whatever the environment says.
    pub async fn engines(&self) -> Vec<Docker> {
        let mut out = Vec::new();
        for (i, url) in self.urls.iter().enumerate() {
            let deadline = Instant::now() + Duration::from_secs(60);
            let client = self.cert_path();
            let docker = if self.tls[i] {
                Docker::connect_with_ssl(
                    url,
                    &client.join("key.pem"),
                    &client.join("cert.pem"),
                    &client.join("ca.pem"),
                    120,
                    bollard::API_DEFAULT_VERSION,
                )
            } else {
                Docker::connect_with_http(url, 120, bollard::API_DEFAULT_VERSION)
            }
            .unwrap();
            loop {
                match docker.ping().await {
                    Ok(_) => {
                        out.push(docker);
                        break;
                    }
                    Err(e) if Instant::now() > deadline => {
                        let logs = perseus::docker::tail_logs(&self.local, &name(i), 20).await;
                        panic!("host{} at {url}: {e}\nits dockerd said:\n{logs}", i + 1);
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
                }
            }
        }
        out
    }

    /// The TLS client's folder (`DOCKER_CERT_PATH`): `ca.pem`, `cert.pem`, `key.pem`.
    pub fn cert_path(&self) -> PathBuf {
        self.keys.path().join("client")
    }

    /// The ssh private key authorized for root on every host.
    pub fn ssh_key(&self) -> PathBuf {
        self.keys.path().join("id_ed25519")
    }

    /// `--hosts` for them.
    pub fn list(&self) -> String {
        self.urls.join(",")
    }
}

async fn remove_all(local: &Docker) {
    let filter = [("label".to_string(), vec![LABEL.to_string()])].into();
    let old = local
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .unwrap_or_default();
    for c in old {
        if let Some(id) = c.id {
            let _ = local
                .remove_container(
                    &id,
                    Some(
                        RemoveContainerOptionsBuilder::new()
                            .force(true)
                            .v(true)
                            .build(),
                    ),
                )
                .await;
        }
    }
    let _ = local.remove_network(NETWORK).await;
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let local = self.local.clone();
        // Drop may run inside the test's runtime: remove from a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(remove_all(&local))
        })
        .join();
    }
}
