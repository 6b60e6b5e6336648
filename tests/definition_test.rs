//! The shipped definitions turned into the exact containers the lab creates, and accepted by the
//! Compose tool. CockroachDB and TiDB run from official images this machine cannot pull, so this
//! is where their definitions are checked in full: names, commands, ports, shared namespaces.

use std::path::{Path, PathBuf};
use std::process::Command;

use perseus::lab::compose::{ContainerSpec, Mount, NodeSpec};
use perseus::lab::definition::Definition;

fn home() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(system: &str) -> Definition {
    Definition::load(&home().join(format!("compose/{system}.yaml"))).expect("definition parses")
}

fn services(node: &NodeSpec) -> Vec<&str> {
    node.containers.iter().map(|c| c.service.as_str()).collect()
}

/// The value of `key` in a container's environment.
fn env_of(c: &ContainerSpec, key: &str) -> Option<String> {
    c.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn cmd(c: &ContainerSpec) -> Vec<&str> {
    c.command
        .as_ref()
        .expect("command")
        .iter()
        .map(String::as_str)
        .collect()
}

fn volume(c: &ContainerSpec, target: &str) -> String {
    c.mounts
        .iter()
        .find_map(|m| match m {
            Mount::Volume {
                name, target: t, ..
            } if t == target => Some(name.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{}: no volume at {target}", c.service))
}

#[test]
fn cockroach_nodes_are_the_official_docker_guide_with_a_rebuilt_join_list() {
    let def = load("cockroach");
    let p = &def.perseus;
    assert_eq!((def.system.name(), p.client_port), ("cockroach", 26257));
    assert_eq!(def.system.leader_targets(), ["leader"]);
    assert_eq!(p.client_user.as_deref(), Some("root"));
    assert_eq!(p.client_database.as_deref(), Some("defaultdb"));
    let init = p.init.as_ref().expect("cockroach init runs once");
    assert_eq!(init.node, "n1");
    assert_eq!(
        init.command,
        [
            "/cockroach/cockroach",
            "init",
            "--insecure",
            "--host=n1:26357"
        ]
    );
    assert!(p.schema.iter().any(|s| s.contains("lily.counters")));
    assert!(p.drain.as_ref().unwrap().contains(&"drain".to_string()));
    assert!(p.add_node, "cockroach takes new nodes");

    let nodes = def.nodes(3).unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        ["n1", "n2", "n3"]
    );
    for (i, n) in nodes.iter().enumerate() {
        let name = format!("n{}", i + 1);
        assert_eq!(services(n), [name.as_str()], "one container per node");
        let c = &n.containers[0];
        assert!(c.main);
        assert_eq!(c.image, "cockroachdb/cockroach:v25.2.4");
        assert!(c.build.is_none(), "official image, not built here");
        assert_eq!(
            cmd(c),
            [
                "start",
                "--insecure",
                "--listen-addr=:26357",
                "--sql-addr=:26257",
                "--http-addr=:8080",
                &format!("--advertise-addr={name}:26357"),
                "--join=n1:26357,n2:26357,n3:26357",
                "--cache=256MiB",
                "--max-sql-memory=256MiB",
                "--store=path=/cockroach/cockroach-data",
            ]
        );
        assert_eq!(
            volume(c, "/cockroach/cockroach-data"),
            format!("{name}-data")
        );
    }
    // --nodes 5 (and add-node, which builds n4 the same way) clones n1 and rebuilds the join list.
    let five = def.nodes(5).unwrap();
    let n5 = &five[4].containers[0];
    assert_eq!(n5.service, "n5");
    assert!(cmd(n5).contains(&"--advertise-addr=n5:26357"));
    assert!(cmd(n5).contains(&"--join=n1:26357,n2:26357,n3:26357,n4:26357,n5:26357"));
    assert_eq!(volume(n5, "/cockroach/cockroach-data"), "n5-data");
}

#[test]
fn tidb_nodes_are_pd_with_tikv_and_tidb_in_its_namespace() {
    let def = load("tidb");
    let p = &def.perseus;
    assert_eq!((def.system.name(), p.client_port), ("tidb", 4000));
    assert_eq!(def.system.leader_targets(), ["leader", "pd-leader"]);
    assert!(p.schema.iter().any(|s| s.contains("lily.counters")));

    let nodes = def.nodes(3).unwrap();
    for (i, n) in nodes.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let tidb = format!("{name}-tidb");
        let tikv = format!("{name}-tikv");
        assert_eq!(
            services(n),
            [name.as_str(), tidb.as_str(), tikv.as_str()],
            "PD owns the namespace; TiDB and TiKV are sidecars"
        );
        let (pd, db, kv) = (&n.containers[0], &n.containers[1], &n.containers[2]);
        assert!(pd.main && !db.main && !kv.main);
        assert_eq!(pd.image, "pingcap/pd:v8.5.4");
        assert_eq!(db.image, "pingcap/tidb:v8.5.4");
        assert_eq!(kv.image, "pingcap/tikv:v8.5.4");
        assert_eq!(
            cmd(pd),
            [
                &format!("--name={name}"),
                "--client-urls=http://0.0.0.0:2379",
                "--peer-urls=http://0.0.0.0:2380",
                &format!("--advertise-client-urls=http://{name}:2379"),
                &format!("--advertise-peer-urls=http://{name}:2380"),
                "--initial-cluster=n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380",
                "--data-dir=/data/pd",
            ]
        );
        assert_eq!(
            cmd(kv),
            [
                "--addr=0.0.0.0:20160",
                &format!("--advertise-addr={name}:20160"),
                "--status-addr=0.0.0.0:20180",
                &format!("--advertise-status-addr={name}:20180"),
                "--pd=n1:2379,n2:2379,n3:2379",
                "--data-dir=/data/tikv",
                "--config=/etc/perseus/tikv.toml",
            ]
        );
        assert_eq!(
            cmd(db),
            [
                "--store=tikv",
                "--path=n1:2379,n2:2379,n3:2379",
                &format!("--advertise-address={name}"),
                "--host=0.0.0.0",
                "-P",
                "4000",
                "--status=10080",
            ]
        );
        assert_eq!(
            kv.ulimits,
            [("nofile".to_string(), 131072, 131072)],
            "TiKV checks its open-file limit at start"
        );
        assert_eq!(volume(pd, "/data"), format!("{name}-data"));
        assert_eq!(volume(kv, "/data"), format!("{name}-data"));
        let config = kv
            .mounts
            .iter()
            .find_map(|m| match m {
                Mount::Bind { source, target, .. } if target == "/etc/perseus/tikv.toml" => {
                    Some(source.clone())
                }
                _ => None,
            })
            .expect("tikv.toml mounted");
        assert!(
            config.is_absolute() && config.exists(),
            "{}",
            config.display()
        );
    }
    let four = def.nodes(4).unwrap();
    let kv4 = &four[3].containers[2];
    assert_eq!(kv4.service, "n4-tikv");
    assert!(cmd(kv4).contains(&"--pd=n1:2379,n2:2379,n3:2379,n4:2379"));
    assert!(cmd(&four[3].containers[0])
        .contains(&"--initial-cluster=n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380,n4=http://n4:2380"));
}

/// The Compose tool; the test fails, with one line, when it is not installed.
fn compose_tool() -> &'static str {
    let tool = "docker-compose";
    if Command::new(tool).arg("version").output().is_err() {
        panic!("{tool} is not installed: install it (Debian: apt-get install docker-compose) so the definitions can be checked");
    }
    tool
}

#[test]
fn the_compose_tool_accepts_every_definition() {
    let tool = compose_tool();
    let dir = home().join("compose");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let out = Command::new(tool)
            .args(["-f", path.to_str().unwrap(), "config", "--quiet"])
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} config rejects {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        checked.push(path.file_stem().unwrap().to_string_lossy().into_owned());
    }
    checked.sort();
    assert_eq!(
        checked,
        perseus::lab::Home::at(home()).systems(),
        "every system the lab offers was checked"
    );
}

#[test]
fn a_patroni_node_is_patroni_with_its_etcd_member_and_haproxy_for_any_cluster_size() {
    for system in ["patroni", "patroni-synchronous"] {
        let def = load(system);
        let five = def.nodes(5).unwrap();
        for (i, node) in five.iter().enumerate() {
            let name = format!("n{}", i + 1);
            assert_eq!(
                services(node),
                [
                    name.clone(),
                    format!("{name}-etcd"),
                    format!("{name}-haproxy")
                ]
            );
            let [patroni, etcd, haproxy] = &node.containers[..] else {
                panic!("{system} {name}: three containers");
            };
            let env = |c: &ContainerSpec, k: &str| {
                c.env
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("{system} {name}: {k} is not set"))
            };
            assert_eq!(env(patroni, "PATRONI_NAME"), name);
            assert_eq!(
                env(patroni, "PATRONI_POSTGRESQL_CONNECT_ADDRESS"),
                format!("{name}:5432")
            );
            assert_eq!(
                env(patroni, "PATRONI_ETCD3_HOSTS"),
                "n1:2379,n2:2379,n3:2379,n4:2379,n5:2379"
            );
            assert_eq!(
                env(etcd, "ETCD_INITIAL_CLUSTER"),
                "n1=http://n1:2380,n2=http://n2:2380,n3=http://n3:2380,n4=http://n4:2380,n5=http://n5:2380"
            );
            assert!(cmd(etcd).contains(&name.as_str()), "{:?}", cmd(etcd));
            assert_eq!(env(haproxy, "PERSEUS_PG_SERVERS"), "n1,n2,n3,n4,n5");
            assert_eq!(
                volume(patroni, "/var/lib/postgresql/data"),
                format!("{name}-data")
            );
            assert_eq!(volume(etcd, "/var/lib/etcd-data"), format!("{name}-etcd"));
            // Only the synchronous variant asks start-patroni for synchronous_mode.
            assert_eq!(
                cmd(patroni).contains(&"--synchronous-mode"),
                system == "patroni-synchronous",
                "{system}: {:?}",
                cmd(patroni)
            );
        }
    }
}

#[test]
fn zookeeper_and_nats_list_every_node_for_any_cluster_size() {
    let env = |c: &ContainerSpec, k: &str| {
        c.env
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} is not set"))
    };
    let five = load("zookeeper").nodes(5).unwrap();
    for (i, node) in five.iter().enumerate() {
        let name = format!("n{}", i + 1);
        let [server] = &node.containers[..] else {
            panic!("zookeeper {name}: one container");
        };
        // start-zookeeper takes the server id from the hostname and the ensemble from this list.
        assert_eq!(server.hostname.as_deref(), Some(name.as_str()));
        assert_eq!(env(server, "PERSEUS_ZK_SERVERS"), "n1,n2,n3,n4,n5");
        assert_eq!(volume(server, "/var/lib/zookeeper"), format!("{name}-data"));
    }
    for system in ["nats", "nats-leader-reads"] {
        let def = load(system);
        // Only the leader-reads variant turns direct gets off.
        assert_eq!(
            def.settings.options.get("allow-direct").map(String::as_str),
            (system == "nats-leader-reads").then_some("false"),
            "{system}"
        );
        for (i, node) in def.nodes(5).unwrap().iter().enumerate() {
            let name = format!("n{}", i + 1);
            let c = cmd(&node.containers[0]);
            let after = |flag: &str| c[c.iter().position(|a| *a == flag).unwrap() + 1];
            assert_eq!(after("--name"), name, "{system}: {c:?}");
            assert_eq!(
                after("--routes"),
                "nats://n1:6222,nats://n2:6222,nats://n3:6222,nats://n4:6222,nats://n5:6222"
            );
            assert_eq!(
                volume(&node.containers[0], "/var/lib/nats"),
                format!("{name}-data")
            );
        }
    }
}

/// Pre-vote is the one setting etcd 3.5 changed by default (etcd pull request #12770): off in
/// `etcd` at 3.4.23 as 3.4 ships it, on at the 3.5 releases as they ship, and on in
/// `etcd-pre-vote`, which runs the very same 3.4.23 image, so a table of the three tells the
/// setting apart from the release.
#[test]
fn pre_vote_is_off_at_etcd_3_4_on_at_3_5_and_on_in_the_pre_vote_variant_of_the_same_image() {
    let node = |def: Definition| {
        let nodes = def.nodes(3).unwrap();
        let c = nodes[0].containers[0].clone();
        let pre_vote = env_of(&c, "ETCD_PRE_VOTE");
        (c.image, pre_vote)
    };
    let (image, pre_vote) = node(load("etcd"));
    assert_eq!(image, "perseus/etcd:3.4.23");
    assert_eq!(pre_vote.as_deref(), Some("false"));
    let (image, pre_vote) = node(load("etcd").at(Some("3.5.1")).unwrap());
    assert_eq!(image, "perseus/etcd:3.5.1");
    assert_eq!(pre_vote.as_deref(), Some("true"));
    let variant = load("etcd-pre-vote");
    assert_eq!(
        variant.system.name(),
        "etcd",
        "the variant is etcd underneath"
    );
    let (image, pre_vote) = node(variant);
    assert_eq!(
        image, "perseus/etcd:3.4.23",
        "the same image as etcd's default"
    );
    assert_eq!(pre_vote.as_deref(), Some("true"));
    // It lists only 3.4.23: the 3.5 releases are etcd@3.5.x, pre-vote on as shipped.
    assert!(load("etcd-pre-vote").at(Some("3.5.1")).is_err());
}

#[test]
fn the_durability_variants_differ_from_their_system_in_the_one_setting_they_name() {
    // Redis: appendfsync everysec and always, on the same image, under the lazy file system.
    for (system, fsync) in [("redis-aof", "everysec"), ("redis-aof-always", "always")] {
        let def = load(system);
        assert_eq!(def.system.name(), "redis", "{system} is redis underneath");
        assert!(def.perseus.lazyfs, "{system} runs lazily by default");
        assert_eq!(def.perseus.data_dir.as_deref(), Some("/data"));
        for n in def.nodes(3).unwrap() {
            let c = &n.containers[0];
            assert_eq!(
                c.image,
                load("redis").nodes(1).unwrap()[0].containers[0].image
            );
            let args = cmd(c);
            let at = args
                .iter()
                .position(|a| *a == "--appendfsync")
                .expect(system);
            assert_eq!(args[at + 1], fsync, "{system}");
        }
    }
    // Galera: innodb_flush_log_at_trx_commit 0 and 2 on every node; galera itself runs at 1
    // (etc/galera/galera.cnf) and takes no such flag.
    for (system, flush) in [("galera-flush-0", "0"), ("galera-flush-2", "2")] {
        let def = load(system);
        assert_eq!(def.system.name(), "galera");
        assert_eq!(def.perseus.data_dir.as_deref(), Some("/var/lib/mysql"));
        for n in def.nodes(3).unwrap() {
            assert_eq!(
                cmd(&n.containers[0])[0],
                format!("--innodb-flush-log-at-trx-commit={flush}"),
                "{system} {}",
                n.name
            );
        }
    }
    assert!(load("galera")
        .nodes(3)
        .unwrap()
        .iter()
        .all(|n| !cmd(&n.containers[0])
            .iter()
            .any(|a| a.starts_with("--innodb-flush"))));
    let cnf = std::fs::read_to_string(home().join("etc/galera/galera.cnf")).unwrap();
    assert!(cnf.contains("innodb_flush_log_at_trx_commit = 1"), "{cnf}");

    // PostgreSQL: synchronous_commit off, on the same image and command otherwise; postgres
    // runs at PostgreSQL's default (on).
    let base = cmd(&load("postgres").nodes(1).unwrap()[0].containers[0])
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>();
    assert!(!base.iter().any(|a| a.contains("synchronous_commit")));
    let def = load("postgres-async-commit");
    assert_eq!(def.system.name(), "postgres");
    assert!(def.perseus.lazyfs);
    for n in def.nodes(3).unwrap() {
        let c = &n.containers[0];
        assert_eq!(
            c.image,
            load("postgres").nodes(1).unwrap()[0].containers[0].image
        );
        let args = cmd(c);
        assert_eq!(args[..base.len()], base[..], "{}", n.name);
        assert_eq!(args[base.len()..], ["-c", "synchronous_commit=off"]);
    }

    // ZooKeeper: ZK_FORCE_SYNC=no on every node, which the image's start script turns into
    // forceSync=no (and anything but yes or no into a refusal); zookeeper leaves it unset.
    let force_sync = |c: &ContainerSpec| env_of(c, "ZK_FORCE_SYNC");
    assert!(load("zookeeper")
        .nodes(3)
        .unwrap()
        .iter()
        .all(|n| force_sync(&n.containers[0]).is_none()));
    let def = load("zookeeper-no-sync");
    assert_eq!(def.system.name(), "zookeeper");
    assert!(def.perseus.lazyfs);
    for n in def.nodes(3).unwrap() {
        assert_eq!(
            force_sync(&n.containers[0]).as_deref(),
            Some("no"),
            "{}",
            n.name
        );
    }
    // etcd: --unsafe-no-fsync exists from 3.5 on, so the variant runs only the 3.5 releases, on
    // the very images etcd@3.5.x runs, with the same settings but that one.
    let env = |def: Definition| {
        let mut env = def.nodes(3).unwrap()[0].containers[0].env.clone();
        env.sort();
        (def.nodes(3).unwrap()[0].containers[0].image.clone(), env)
    };
    let def = load("etcd-no-fsync");
    assert_eq!(def.system.name(), "etcd");
    assert!(def.perseus.lazyfs);
    assert!(def.at(Some("3.4.23")).is_err(), "3.4 has no such flag");
    let (image, mut variant) = env(load("etcd-no-fsync"));
    let (base_image, base) = env(load("etcd").at(Some("3.5.1")).unwrap());
    assert_eq!(image, base_image);
    let at = variant
        .iter()
        .position(|(k, _)| k == "ETCD_UNSAFE_NO_FSYNC")
        .expect("ETCD_UNSAFE_NO_FSYNC");
    assert_eq!(variant.remove(at).1, "true");
    assert_eq!(variant, base, "nothing else differs from etcd@3.5.1");

    let script = std::fs::read_to_string(home().join("docker/zookeeper/start-zookeeper")).unwrap();
    assert!(
        script.contains(r#"no) echo "forceSync=no" >> "$conf""#),
        "{script}"
    );
}
