//! One writer per lab: a claim that `lab up`, `lab add-node`, `lab down` and a run that brings
//! its own lab up hold while they change the lab.
//!
//! The claim is a container that is created and never started, `perseus-claim-<system>`, from a
//! one-file image Perseus imports itself ([`CLAIM_IMAGE`], a few bytes, so it exists on an empty
//! engine without a registry). The Engine creates a container name once: a second maker's create
//! fails with 409, across processes and across machines that share the engine. A label cannot be
//! a lock (any number of objects carry it) and a volume create is idempotent by name, so neither
//! would do. The claim's labels name its holder ([`Holder`]: the command, its process id, host,
//! boot and the process' start time, since when), so a second maker is refused in one line that
//! names it ([`LabError::Claimed`], exit 2).
//!
//! A holder that died (SIGKILL, a power cut) leaves its claim behind. On the holder's own machine
//! (same host name and boot) Perseus can tell it is gone (no process with that id started at that
//! moment) and takes the claim over, saying so; the new holder then knows the lab may hold
//! objects whose create was still in flight when the old one died ([`Claim::took_over`]). A
//! holder on another machine cannot be checked: the refusal says how to remove its claim.
//!
//! Faults, status and load do not claim: they may run from several processes at once.
//!
//! The claim carries no lab label, so listing a lab's objects never sees it. [`Claim::release`]
//! removes it; dropping a [`Claim`] unreleased removes it on a thread of its own (the safety net).

use std::collections::HashMap;
use std::time::SystemTime;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

use crate::docker;
use crate::error::{Error, LabError, Result};

/// The image claims are made from: one small file, imported (`docker import`), never run.
pub const CLAIM_IMAGE: &str = "perseus/claim:1";

/// The label that marks a claim and names its lab's system.
pub const CLAIM_LABEL: &str = "perseus.claim";

/// How many times [`take`] tries to create the claim when a holder goes away meanwhile, or is
/// still being made (the Engine refuses the name before the container can be inspected).
const ATTEMPTS: usize = 40;

/// The pause between those tries.
const RETRY: std::time::Duration = std::time::Duration::from_millis(50);

/// The name of `system`'s claim container.
pub fn claim_name(system: &str) -> String {
    format!("perseus-claim-{system}")
}

/// The holder a claim container's labels name, if they name one.
fn holder_of(held: &bollard::models::ContainerInspectResponse) -> Option<Holder> {
    let labels = held.config.as_ref().and_then(|c| c.labels.as_ref())?;
    Holder::from_labels(labels)
}

/// Who holds a claim, as its labels say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The command line (`perseus lab up etcd`), at most 200 characters.
    pub command: String,
    /// Its process id.
    pub pid: u32,
    /// The host name of the machine it runs on.
    pub host: String,
    /// That machine's boot id (`/proc/sys/kernel/random/boot_id`), empty when unknown.
    pub boot: String,
    /// When the process started, in clock ticks after boot (`/proc/<pid>/stat`, field 22); 0 when
    /// unknown.
    pub started: u64,
    /// When it took the claim (RFC 3339, UTC, seconds).
    pub since: String,
}

impl Holder {
    /// This process, running `command`.
    pub fn me(command: &str) -> Holder {
        let pid = std::process::id();
        Holder {
            command: command.chars().take(200).collect(),
            pid,
            host: this_host(),
            boot: this_boot(),
            started: start_ticks(pid).unwrap_or(0),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        }
    }

    /// The claim's labels for `system`.
    fn labels(&self, system: &str) -> HashMap<String, String> {
        HashMap::from([
            (CLAIM_LABEL.to_string(), system.to_string()),
            (format!("{CLAIM_LABEL}.command"), self.command.clone()),
            (format!("{CLAIM_LABEL}.pid"), self.pid.to_string()),
            (format!("{CLAIM_LABEL}.host"), self.host.clone()),
            (format!("{CLAIM_LABEL}.boot"), self.boot.clone()),
            (format!("{CLAIM_LABEL}.started"), self.started.to_string()),
            (format!("{CLAIM_LABEL}.since"), self.since.clone()),
        ])
    }

    /// The holder a claim's labels name; `None` when they are not a claim's.
    fn from_labels(labels: &HashMap<String, String>) -> Option<Holder> {
        let get = |k: &str| labels.get(&format!("{CLAIM_LABEL}.{k}")).cloned();
        Some(Holder {
            command: get("command")?,
            pid: get("pid")?.parse().ok()?,
            host: get("host").unwrap_or_default(),
            boot: get("boot").unwrap_or_default(),
            started: get("started").and_then(|s| s.parse().ok()).unwrap_or(0),
            since: get("since").unwrap_or_default(),
        })
    }

    /// Whether this machine can tell whether the holder runs: it ran here, in this boot.
    pub fn checkable(&self) -> bool {
        !self.host.is_empty()
            && self.host == this_host()
            && !self.boot.is_empty()
            && self.boot == this_boot()
    }

    /// Whether the holder is known to be gone: it ran on this machine in this boot, and no
    /// process with its id that started when it did runs now. A holder elsewhere is never known
    /// to be gone.
    pub fn gone(&self) -> bool {
        self.checkable() && start_ticks(self.pid).is_none_or(|t| t != self.started)
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = if self.checkable() {
            "on this machine".to_string()
        } else {
            format!("on host {}", self.host)
        };
        write!(
            f,
            "`{}` (pid {} {place}, since {})",
            self.command, self.pid, self.since
        )
    }
}

/// A claim this process holds on a lab. [`Claim::release`] gives it up.
#[derive(Debug)]
pub struct Claim {
    docker: Docker,
    id: String,
    system: String,
    took_over: Option<Holder>,
    /// Whether the claim is on this machine's engine (the one [`docker::connect`] reaches), which
    /// the safety net in `Drop` can reach from a thread of its own.
    local: bool,
    released: bool,
}

impl Claim {
    /// The dead holder whose claim this one replaced, if any: its lab may hold objects whose
    /// create was in flight when it died.
    pub fn took_over(&self) -> Option<&Holder> {
        self.took_over.as_ref()
    }

    /// The lab's system.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// Give the claim up (remove its container).
    ///
    /// Errors: [`Error::Docker`] when the Engine refuses the removal; the claim is then left, and
    /// the next maker takes it over since this process will be gone.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        remove(&self.docker, &self.id).await
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (id, system, local) = (self.id.clone(), self.system.clone(), self.local);
        // As for a lab handle: Drop cannot await, and the runtime that made `self.docker` may be
        // the one blocked here, so a thread with its own runtime and connection removes it.
        let removed = local
            && std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let docker = docker::connect().await.ok()?;
                    remove(&docker, &id).await.ok()
                })
            })
            .join()
            .ok()
            .flatten()
            .is_some();
        if !removed {
            eprintln!(
                "perseus: the claim on the {system} lab was left behind; the next `perseus lab` command takes it over (or remove it: docker rm {})",
                claim_name(&system)
            );
        }
    }
}

/// Take the claim on `system`'s lab on `engine` for `command` (the command line, for the holder's
/// description). `local` says whether `engine` is this machine's own (see [`Claim`]). A claim
/// whose holder is known to be gone ([`Holder::gone`]) is taken over, with a line to `progress`.
///
/// Errors: [`LabError::Claimed`] (exit 2) when a live holder, or one this machine cannot check,
/// holds it; [`Error::Docker`] or [`Error::ImageBuild`] when the Engine fails otherwise.
pub async fn take(
    engine: &Docker,
    system: &str,
    command: &str,
    local: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<Claim> {
    ensure_image(engine).await?;
    let me = Holder::me(command);
    let name = claim_name(system);
    let mut took_over = None;
    for _ in 0..ATTEMPTS {
        let body = ContainerCreateBody {
            image: Some(CLAIM_IMAGE.to_string()),
            cmd: Some(vec!["/claim".to_string()]),
            labels: Some(me.labels(system)),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let what = format!("creating the claim {name}");
        // A create that may have happened is sent again only after reading whose the claim is
        // by now: ours (the first try made it), someone else's (the create answers 409), none.
        let created = docker::patiently(&what, true, |again| {
            let (opts, body, name, me) = (opts.clone(), body.clone(), &name, &me);
            async move {
                if again {
                    match engine
                        .inspect_container(
                            name,
                            None::<bollard::query_parameters::InspectContainerOptions>,
                        )
                        .await
                    {
                        Ok(held) if holder_of(&held).as_ref() == Some(me) => {
                            return Ok(held.id.unwrap_or_default())
                        }
                        Ok(_)
                        | Err(bollard::errors::Error::DockerResponseServerError {
                            status_code: 404,
                            ..
                        }) => {}
                        Err(e) => return Err(e),
                    }
                }
                engine
                    .create_container(Some(opts), body)
                    .await
                    .map(|made| made.id)
            }
        })
        .await;
        match created {
            Ok(id) => {
                return Ok(Claim {
                    docker: engine.clone(),
                    id,
                    system: system.to_string(),
                    took_over,
                    local,
                    released: false,
                })
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {}
            Err(e) => {
                return Err(Error::Docker {
                    context: what,
                    source: e,
                })
            }
        }
        // Someone holds it: who?
        let held = match docker::patiently(&format!("inspecting the claim {name}"), true, |_| {
            engine.inspect_container(
                &name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
        })
        .await
        {
            Ok(held) => held,
            // Released meanwhile, or still being made by its holder: try again shortly.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                tokio::time::sleep(RETRY).await;
                continue;
            }
            Err(e) => {
                return Err(Error::Docker {
                    context: format!("inspecting the claim {name}"),
                    source: e,
                })
            }
        };
        let holder =
            holder_of(&held).ok_or_else(|| LabError::ClaimForeign { name: name.clone() })?;
        if !holder.gone() {
            return Err(LabError::Claimed {
                system: system.to_string(),
                holder: holder.to_string(),
                fix: if holder.checkable() {
                    "wait for it to finish, or stop it, and try again".to_string()
                } else {
                    format!(
                        "this machine cannot tell whether it still runs: if it is gone, remove its claim (docker rm {name}) and try again"
                    )
                },
            }
            .into());
        }
        progress(&format!(
            "{holder} held the {system} lab and is gone: taking its claim over"
        ));
        // By id, so that a claim someone else took over meanwhile is not removed.
        if let Some(id) = held.id {
            remove(engine, &id).await?;
        }
        took_over = Some(holder);
    }
    Err(LabError::Claimed {
        system: system.to_string(),
        holder: "another process".to_string(),
        fix: format!(
            "its claim ({name}) kept changing hands for {} s: try again",
            (RETRY * ATTEMPTS as u32).as_secs()
        ),
    }
    .into())
}

/// Remove a claim container by id; one already gone counts as removed.
async fn remove(engine: &Docker, id: &str) -> Result<()> {
    let opts = RemoveContainerOptionsBuilder::default().force(true).build();
    let what = format!("removing the claim {id}");
    match docker::patiently(&what, true, |_| {
        engine.remove_container(id, Some(opts.clone()))
    })
    .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(Error::Docker {
            context: what,
            source: e,
        }),
    }
}

/// Import [`CLAIM_IMAGE`] on `engine` unless it is there: a one-file root file system (a few
/// hundred bytes), so it needs no registry and no base image. Two processes importing it at once
/// both end with it.
///
/// Errors: [`Error::ImageBuild`] when the import fails.
async fn ensure_image(engine: &Docker) -> Result<()> {
    if docker::image_exists(engine, CLAIM_IMAGE).await? {
        return Ok(());
    }
    let tar = claim_rootfs().map_err(Error::io("packing the claim image"))?;
    let (repo, tag) = CLAIM_IMAGE
        .split_once(':')
        .unwrap_or((CLAIM_IMAGE, "latest"));
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .message("perseus: a lab's claim, never run")
        .changes(vec![
            "CMD [\"/claim\"]".to_string(),
            "LABEL perseus.image=claim".to_string(),
        ])
        .build();
    let mut stream = engine.create_image(Some(opts), Some(bollard::body_full(tar)), None);
    while let Some(item) = stream.next().await {
        let message = match item {
            Ok(info) => info.error_detail.map(|d| d.message.unwrap_or_default()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = message {
            return Err(Error::ImageBuild {
                image: CLAIM_IMAGE.to_string(),
                message: format!("importing it failed: {message}"),
            });
        }
    }
    Ok(())
}

/// The claim image's root file system: one file, `/claim`, that says what the image is for.
fn claim_rootfs() -> std::io::Result<Bytes> {
    let text = b"A perseus lab's claim: this container is created, never started, and names the process that holds the lab in its labels.\n";
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "claim", &text[..])?;
    Ok(Bytes::from(tar.into_inner()?))
}

/// This machine's host name (`/proc/sys/kernel/hostname`), empty when unknown.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), empty when unknown.
fn this_boot() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// When process `pid` started, in clock ticks after boot (`/proc/<pid>/stat`, field 22); `None`
/// when no such process runs, or only its zombie (it died and its parent has not reaped it).
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command (field 2) is in parentheses and may hold spaces: count from its end.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next()?, "Z" | "X") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// The command line of this process, as a holder describes it (`perseus lab up etcd`).
pub fn command_line() -> String {
    let mut words: Vec<String> = std::env::args().collect();
    if let Some(first) = words.first_mut() {
        if let Some(base) = std::path::Path::new(first.as_str()).file_name() {
            *first = base.to_string_lossy().into_owned();
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_survives_its_labels() {
        let me = Holder::me("perseus lab up etcd");
        let labels = me.labels("etcd");
        assert_eq!(labels.get(CLAIM_LABEL).map(String::as_str), Some("etcd"));
        assert_eq!(Holder::from_labels(&labels), Some(me.clone()));
        assert!(me.started > 0, "{me:?}");
        assert!(me.checkable());
        assert!(!me.gone(), "this process runs");
        assert!(Holder::from_labels(&HashMap::new()).is_none());
    }

    #[test]
    fn a_holder_is_gone_when_its_process_ended_or_its_pid_was_reused() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = start_ticks(pid);
        child.wait().unwrap();
        let mut dead = Holder::me("perseus lab up redis");
        dead.pid = pid;
        dead.started = started.unwrap_or(1);
        assert!(dead.gone(), "{dead:?}");
        // The same pid, another process (a start time that differs).
        let mut reused = Holder::me("perseus lab up redis");
        reused.started += 1;
        assert!(reused.gone());
    }

    #[test]
    fn a_holder_elsewhere_is_never_known_to_be_gone() {
        let mut far = Holder::me("perseus lab up redis");
        far.host = "another-machine".into();
        far.pid = u32::MAX;
        assert!(!far.checkable());
        assert!(!far.gone());
        assert!(far.to_string().contains("on host another-machine"), "{far}");
        let mut rebooted = Holder::me("perseus lab up redis");
        rebooted.boot = "another-boot".into();
        assert!(!rebooted.gone());
    }

    #[test]
    fn a_zombie_holder_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it has exited.
        let t = std::time::Instant::now();
        while start_ticks(pid).is_some() {
            assert!(t.elapsed() < std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(std::path::Path::new(&format!("/proc/{pid}/stat")).exists());
        child.wait().unwrap();
    }

    #[test]
    fn start_ticks_reads_past_a_command_with_spaces() {
        let me = start_ticks(std::process::id()).unwrap();
        assert!(me > 0);
        assert_eq!(start_ticks(u32::MAX), None);
    }

    #[test]
    fn the_claim_image_is_one_small_file() {
        let tar = claim_rootfs().unwrap();
        assert!(tar.len() < 4096, "{}", tar.len());
        let mut archive = tar::Archive::new(&tar[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["claim"]);
    }
}
