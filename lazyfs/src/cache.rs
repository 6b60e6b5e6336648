//! What a disk has not made durable yet: file data written and not synced, and directory changes
//! (creates, removes, renames, links) whose directory was not synced. Pure bookkeeping over a
//! lower directory, with no FUSE in it, so it can be tested on its own.
//!
//! Data. A write goes to memory, in 4 KiB pages keyed by the lower file's inode number, never to
//! the lower file; reads see the pages over the lower file. `fsync`/`fdatasync` of the file (or a
//! write through a descriptor opened `O_SYNC`/`O_DSYNC`) writes the file's pages to the lower file:
//! from then on they survive a power loss. A truncate is recorded the same way: the lower file
//! keeps its length until the file is synced.
//!
//! Names. A create, mkdir, link, unlink, rmdir or rename is carried out on the lower directory at
//! once (so every other process sees it), and journaled with how to undo it: a removed name (or a
//! name a rename replaced) is moved to a trash folder in the lower root instead of deleted. An
//! `fsync` of a directory makes every journaled change that touched it durable (and empties its
//! trash); so does an `fsync` of a file for the name it was created or renamed under and the
//! directories made on the way to it, as ext4 and XFS do when they commit a file's inode. Name
//! changes become durable in the order they were made, as those file systems commit their
//! journal: a sync that needs one change commits every change before it too.
//!
//! A power loss ([`Lazy::drop_unsynced`]) forgets every page and undoes the journal, newest first;
//! [`Lazy::tear`] does the same but keeps the first half of each file's last unsynced write, as a
//! disk that lost power mid-write may. A process crash ([`Lazy::sync_all`]) keeps everything, as
//! the kernel's page cache does.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes per page of unsynced data.
pub const PAGE: u64 = 4096;

/// The folder, in the lower root, that holds removed names until their removal is durable.
/// Hidden from the mount.
pub const TRASH: &str = ".perseus-lazyfs-trash";

/// One file's unsynced data.
#[derive(Debug)]
struct Pending {
    /// The lower file, open for writing.
    file: File,
    /// Unsynced pages by page index, each [`PAGE`] bytes.
    pages: BTreeMap<u64, Box<[u8]>>,
    /// The file's length as processes see it.
    size: u64,
    /// The lower file's content from this offset on counts as zeros (a truncate not yet synced).
    low: u64,
    /// The last write not yet synced: offset and length.
    last: Option<(u64, u64)>,
}

/// A journaled change to names, and how to undo it. Paths are relative to the lower root.
#[derive(Debug, Clone)]
enum Change {
    /// A name made (file, directory, link, node); undone by removing it.
    Made { path: PathBuf, ino: u64 },
    /// A name removed, moved to `trash`; undone by moving it back.
    Removed { path: PathBuf, trash: PathBuf },
    /// `from` renamed to `to`; `replaced` holds what `to` named before, in the trash.
    Renamed {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<PathBuf>,
    },
}

impl Change {
    /// The directories whose sync makes the change durable.
    fn dirs(&self) -> Vec<&Path> {
        fn parent(p: &Path) -> &Path {
            p.parent().unwrap_or(Path::new(""))
        }
        match self {
            Change::Made { path, .. } | Change::Removed { path, .. } => vec![parent(path)],
            Change::Renamed { from, to, .. } => vec![parent(from), parent(to)],
        }
    }

    /// The trash entries that become garbage once the change is durable.
    fn trash(&self) -> Option<&Path> {
        match self {
            Change::Removed { trash, .. } => Some(trash),
            Change::Renamed {
                replaced: Some(t), ..
            } => Some(t),
            _ => None,
        }
    }
}

/// What [`Lazy`] holds that a power loss would take: counts for logs and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsynced {
    /// Files with unsynced data.
    pub files: usize,
    /// Unsynced bytes, in whole pages.
    pub bytes: u64,
    /// Journaled name changes whose directory was not synced.
    pub names: usize,
}

/// The unsynced state of one lower directory tree. Paths given to it are relative to `root`.
#[derive(Debug)]
pub struct Lazy {
    root: PathBuf,
    pending: HashMap<u64, Pending>,
    journal: Vec<Change>,
    trash_seq: u64,
    /// Past this many unsynced bytes, a file's pages are written back when it is written (the
    /// kernel's dirty limit, in effect); `u64::MAX` never writes back.
    max_unsynced: u64,
}

impl Lazy {
    /// Bookkeeping over the lower directory `root` (which must exist). Empties a trash left by an
    /// earlier run (a removal that run could neither commit nor undo stays done).
    ///
    /// Errors: the trash folder cannot be made or emptied.
    pub fn new(root: impl Into<PathBuf>, max_unsynced: u64) -> io::Result<Lazy> {
        let root = root.into();
        let trash = root.join(TRASH);
        if trash.exists() {
            fs::remove_dir_all(&trash)?;
        }
        fs::create_dir(&trash)?;
        Ok(Lazy {
            root,
            pending: HashMap::new(),
            journal: Vec::new(),
            trash_seq: 0,
            max_unsynced,
        })
    }

    /// The lower path of a relative path.
    pub fn lower(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// What a power loss would take now.
    pub fn unsynced(&self) -> Unsynced {
        Unsynced {
            files: self.pending.len(),
            bytes: self
                .pending
                .values()
                .map(|p| p.pages.len() as u64 * PAGE)
                .sum(),
            names: self.journal.len(),
        }
    }

    /// The journaled name changes, oldest first, for humans (`made member/wal/0.tmp`,
    /// `renamed a -> b`, `removed x`).
    pub fn names(&self) -> Vec<String> {
        self.journal
            .iter()
            .map(|c| match c {
                Change::Made { path, .. } => format!("made {}", path.display()),
                Change::Removed { path, .. } => format!("removed {}", path.display()),
                Change::Renamed { from, to, .. } => {
                    format!("renamed {} -> {}", from.display(), to.display())
                }
            })
            .collect()
    }

    /// The length processes see for the lower file `ino` whose lower length is `lower_size`.
    pub fn size(&self, ino: u64, lower_size: u64) -> u64 {
        self.pending.get(&ino).map_or(lower_size, |p| p.size)
    }

    /// Read up to `len` bytes at `offset` of file `ino`, whose lower file is `file`.
    ///
    /// Errors: reading the lower file.
    pub fn read(&self, ino: u64, file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let (size, low) = match self.pending.get(&ino) {
            Some(p) => (p.size, p.low),
            None => {
                let s = file.metadata()?.len();
                (s, s)
            }
        };
        if offset >= size {
            return Ok(Vec::new());
        }
        let len = len.min(size - offset);
        let mut buf = vec![0u8; len as usize];
        // The lower file's bytes that still count, then the pages over them.
        if offset < low {
            let n = (low - offset).min(len) as usize;
            read_full(file, &mut buf[..n], offset)?;
        }
        if let Some(p) = self.pending.get(&ino) {
            let first = offset / PAGE;
            let last = (offset + len - 1) / PAGE;
            for (&i, page) in p.pages.range(first..=last) {
                let start = (i * PAGE).max(offset);
                let end = ((i + 1) * PAGE).min(offset + len);
                let from = (start - i * PAGE) as usize;
                buf[(start - offset) as usize..(end - offset) as usize]
                    .copy_from_slice(&page[from..from + (end - start) as usize]);
            }
        }
        Ok(buf)
    }

    /// The pending state of `ino`, made from its lower file when it has none.
    fn pending_of(&mut self, ino: u64, file: &File) -> io::Result<&mut Pending> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.pending.entry(ino) {
            let size = file.metadata()?.len();
            e.insert(Pending {
                file: file.try_clone()?,
                pages: BTreeMap::new(),
                size,
                low: size,
                last: None,
            });
        }
        Ok(self.pending.get_mut(&ino).expect("inserted above"))
    }

    /// Write `data` at `offset` of file `ino` (lower file `file`), unsynced. Returns the bytes
    /// written (all of them).
    ///
    /// Errors: reading the lower file for a page written in part; writing back past the limit.
    pub fn write(&mut self, ino: u64, file: &File, offset: u64, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let p = self.pending_of(ino, file)?;
        let end = offset + data.len() as u64;
        for i in offset / PAGE..=(end - 1) / PAGE {
            let page_start = i * PAGE;
            if !p.pages.contains_key(&i) {
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                if page_start < p.low {
                    let n = (p.low - page_start).min(PAGE) as usize;
                    read_full(&p.file, &mut page[..n], page_start)?;
                }
                p.pages.insert(i, page);
            }
            let page = p.pages.get_mut(&i).expect("inserted above");
            let start = page_start.max(offset);
            let stop = (page_start + PAGE).min(end);
            page[(start - page_start) as usize..(stop - page_start) as usize]
                .copy_from_slice(&data[(start - offset) as usize..(stop - offset) as usize]);
        }
        p.size = p.size.max(end);
        p.last = Some((offset, data.len() as u64));
        if self.unsynced().bytes > self.max_unsynced {
            self.sync(ino)?;
        }
        Ok(data.len())
    }

    /// Set the length of file `ino` (lower file `file`) to `size`, unsynced (a truncate or an
    /// extension with zeros, as `ftruncate` and `fallocate` make).
    ///
    /// Errors: reading the lower file.
    pub fn set_size(&mut self, ino: u64, file: &File, size: u64) -> io::Result<()> {
        let p = self.pending_of(ino, file)?;
        if size < p.size {
            // Pages past the end go; the one the end falls in keeps zeros after it.
            p.pages.split_off(&size.div_ceil(PAGE));
            if !size.is_multiple_of(PAGE) {
                let i = size / PAGE;
                if let Some(page) = p.pages.get_mut(&i) {
                    page[(size % PAGE) as usize..].fill(0);
                }
            }
            if p.low > size {
                // The page the end falls in keeps the lower bytes before the end.
                let i = size / PAGE;
                if !size.is_multiple_of(PAGE) && !p.pages.contains_key(&i) {
                    let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                    read_full(&p.file, &mut page[..(size % PAGE) as usize], i * PAGE)?;
                    p.pages.insert(i, page);
                }
                p.low = size;
            }
            if p.last.is_some_and(|(o, l)| o + l > size) {
                p.last = None;
            }
        }
        p.size = size;
        Ok(())
    }

    /// Make file `ino`'s data durable: its pages and length go to the lower file, and the name
    /// it was created under is durable too.
    ///
    /// Errors: writing the lower file.
    pub fn sync(&mut self, ino: u64) -> io::Result<()> {
        if let Some(p) = self.pending.remove(&ino) {
            write_back(&p)?;
        }
        self.commit_through(|c| matches!(c, Change::Made { ino: i, .. } if *i == ino))
    }

    /// What an `fsync` of the file now at `path` makes durable besides its data, as ext4 and XFS
    /// do when they commit the file's inode: the directories on the way to it that were made, and
    /// the rename that gave it this name (with every name change before them).
    ///
    /// Errors: emptying the trash.
    pub fn sync_path(&mut self, path: &Path) -> io::Result<()> {
        self.commit_through(|c| match c {
            Change::Made { path: made, .. } => path.starts_with(made) && path != made,
            Change::Renamed { to, .. } => to == path,
            Change::Removed { .. } => false,
        })
    }

    /// Make every journaled change to the directory `dir` durable (with every name change
    /// before them).
    ///
    /// Errors: emptying the trash.
    pub fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.commit_through(|c| c.dirs().contains(&dir))
    }

    /// Name changes become durable in the order they were made, as a journaling file system
    /// (ext4, XFS) commits its journal in order: commit every change up to the last one `needed`
    /// picks, and empty their trash.
    fn commit_through(&mut self, needed: impl Fn(&Change) -> bool) -> io::Result<()> {
        if let Some(k) = self.journal.iter().rposition(needed) {
            let done: Vec<Change> = self.journal.drain(..=k).collect();
            for c in done {
                self.forget_trash(&c)?;
            }
        }
        Ok(())
    }

    /// Make everything durable, as a process crash leaves it (the kernel writes its page cache
    /// back) and a clean shutdown does.
    ///
    /// Errors: writing a lower file or emptying the trash.
    pub fn sync_all(&mut self) -> io::Result<()> {
        let inos: Vec<u64> = self.pending.keys().copied().collect();
        for ino in inos {
            self.sync(ino)?;
        }
        for c in std::mem::take(&mut self.journal) {
            self.forget_trash(&c)?;
        }
        Ok(())
    }

    /// A power loss: every unsynced page is forgotten and every journaled name change undone,
    /// newest first. Returns what was lost. Undo steps that cannot be made (a name that is gone)
    /// are skipped.
    pub fn drop_unsynced(&mut self) -> Unsynced {
        let lost = self.unsynced();
        self.pending.clear();
        self.undo_journal();
        lost
    }

    /// A power loss that tears each file's last unsynced write: the first half of it reaches
    /// the lower file, everything else unsynced is forgotten as in [`Lazy::drop_unsynced`].
    /// Returns what was lost and how many writes were torn.
    pub fn tear(&mut self) -> (Unsynced, usize) {
        let lost = self.unsynced();
        let mut torn = 0;
        for p in std::mem::take(&mut self.pending).into_values() {
            if let Some((offset, len)) = p.last {
                let keep = len / 2;
                if keep > 0 {
                    let mut buf = vec![0u8; keep as usize];
                    for (i, page) in p.pages.range(offset / PAGE..=(offset + keep - 1) / PAGE) {
                        let start = (i * PAGE).max(offset);
                        let end = ((i + 1) * PAGE).min(offset + keep);
                        let from = (start - i * PAGE) as usize;
                        buf[(start - offset) as usize..(end - offset) as usize]
                            .copy_from_slice(&page[from..from + (end - start) as usize]);
                    }
                    if p.file.write_all_at(&buf, offset).is_ok() {
                        torn += 1;
                    }
                }
            }
        }
        self.undo_journal();
        (lost, torn)
    }

    fn undo_journal(&mut self) {
        for c in std::mem::take(&mut self.journal).into_iter().rev() {
            match c {
                Change::Made { path, .. } => {
                    let p = self.lower(&path);
                    let gone = match fs::symlink_metadata(&p) {
                        Ok(m) if m.is_dir() => fs::remove_dir_all(&p),
                        Ok(_) => fs::remove_file(&p),
                        Err(e) => Err(e),
                    };
                    let _ = gone;
                }
                Change::Removed { path, trash } => {
                    let _ = fs::rename(self.lower(&trash), self.lower(&path));
                }
                Change::Renamed { from, to, replaced } => {
                    let _ = fs::rename(self.lower(&to), self.lower(&from));
                    if let Some(t) = replaced {
                        let _ = fs::rename(self.lower(&t), self.lower(&to));
                    }
                }
            }
        }
        let trash = self.root.join(TRASH);
        let _ = fs::remove_dir_all(&trash);
        let _ = fs::create_dir(&trash);
    }

    fn forget_trash(&self, c: &Change) -> io::Result<()> {
        if let Some(t) = c.trash() {
            let p = self.lower(t);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&p)?,
                Ok(_) => fs::remove_file(&p)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn next_trash(&mut self) -> PathBuf {
        self.trash_seq += 1;
        Path::new(TRASH).join(self.trash_seq.to_string())
    }

    /// Journal a name made at `path` (lower inode `ino`), already made on the lower directory.
    pub fn made(&mut self, path: &Path, ino: u64) {
        self.journal.push(Change::Made {
            path: path.to_path_buf(),
            ino,
        });
    }

    /// Remove the name `path` (a file, link, node or empty directory): moved to the trash and
    /// journaled.
    ///
    /// Errors: the rename's.
    pub fn remove(&mut self, path: &Path) -> io::Result<()> {
        let trash = self.next_trash();
        fs::rename(self.lower(path), self.lower(&trash))?;
        self.journal.push(Change::Removed {
            path: path.to_path_buf(),
            trash,
        });
        Ok(())
    }

    /// Rename `from` to `to`; what `to` named is moved to the trash first. Both journaled as
    /// one change.
    ///
    /// Errors: the renames' (nothing changed when the first fails).
    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let replaced = if fs::symlink_metadata(self.lower(to)).is_ok() {
            let t = self.next_trash();
            fs::rename(self.lower(to), self.lower(&t))?;
            Some(t)
        } else {
            None
        };
        if let Err(e) = fs::rename(self.lower(from), self.lower(to)) {
            if let Some(t) = &replaced {
                let _ = fs::rename(self.lower(t), self.lower(to));
            }
            return Err(e);
        }
        self.journal.push(Change::Renamed {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            replaced,
        });
        Ok(())
    }

    /// The lower inode number of a path, for callers that journal it.
    ///
    /// Errors: `lstat`'s.
    pub fn ino_of(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::symlink_metadata(self.lower(path))?.ino())
    }
}

/// Write `p`'s pages and length to its lower file.
fn write_back(p: &Pending) -> io::Result<()> {
    // `low <= size`: cut what a truncate removed, then set the length processes saw.
    if p.low < p.file.metadata()?.len() {
        p.file.set_len(p.low)?;
    }
    p.file.set_len(p.size)?;
    for (&i, page) in &p.pages {
        let start = i * PAGE;
        if start >= p.size {
            break;
        }
        let n = (p.size - start).min(PAGE) as usize;
        p.file.write_all_at(&page[..n], start)?;
    }
    Ok(())
}

/// Fill `buf` from `file` at `offset`; bytes past the lower file's end stay zero.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    fn lab() -> (tempfile::TempDir, Lazy) {
        let d = tempfile::tempdir().unwrap();
        let lazy = Lazy::new(d.path(), u64::MAX).unwrap();
        (d, lazy)
    }

    fn open(lazy: &Lazy, rel: &str) -> (File, u64) {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lazy.lower(Path::new(rel)))
            .unwrap();
        let ino = f.metadata().unwrap().ino();
        (f, ino)
    }

    fn seen(lazy: &Lazy, f: &File, ino: u64) -> Vec<u8> {
        lazy.read(ino, f, 0, 1 << 20).unwrap()
    }

    #[test]
    fn fsynced_data_survives_a_power_loss_and_unsynced_data_does_not() {
        let (d, mut lazy) = lab();
        let (a, ia) = open(&lazy, "a");
        let (b, ib) = open(&lazy, "b");
        lazy.write(ia, &a, 0, b"durable").unwrap();
        lazy.sync(ia).unwrap();
        lazy.write(ib, &b, 0, b"gone").unwrap();
        lazy.write(ia, &a, 7, b" and more").unwrap();
        assert_eq!(seen(&lazy, &a, ia), b"durable and more");
        assert_eq!(seen(&lazy, &b, ib), b"gone");
        // Nothing unsynced is on the lower file yet.
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"");
        let lost = lazy.drop_unsynced();
        assert_eq!((lost.files, lost.bytes), (2, 2 * PAGE));
        assert_eq!(fs::read(d.path().join("a")).unwrap(), b"durable");
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"");
    }

    #[test]
    fn a_crash_keeps_everything_as_the_page_cache_would() {
        let (d, mut lazy) = lab();
        let (a, ia) = open(&lazy, "a");
        lazy.write(ia, &a, 5000, b"past a page").unwrap();
        lazy.made(Path::new("a"), ia);
        lazy.sync_all().unwrap();
        let on_disk = fs::read(d.path().join("a")).unwrap();
        assert_eq!(on_disk.len(), 5011);
        assert!(on_disk[..5000].iter().all(|&b| b == 0));
        assert_eq!(&on_disk[5000..], b"past a page");
        assert_eq!(lazy.unsynced(), Unsynced::default());
    }

    #[test]
    fn a_rename_not_followed_by_a_directory_fsync_is_undone() {
        let (d, mut lazy) = lab();
        fs::write(d.path().join("old"), b"old value").unwrap();
        fs::write(d.path().join("new"), b"new value").unwrap();
        // The rename-over dance: write a new file, sync it, rename it over the old name.
        lazy.rename(Path::new("new"), Path::new("old")).unwrap();
        assert_eq!(fs::read(d.path().join("old")).unwrap(), b"new value");
        assert!(!d.path().join("new").exists());
        lazy.drop_unsynced();
        assert_eq!(fs::read(d.path().join("old")).unwrap(), b"old value");
        assert_eq!(fs::read(d.path().join("new")).unwrap(), b"new value");
        // The same followed by an fsync of the directory is durable.
        lazy.rename(Path::new("new"), Path::new("old")).unwrap();
        lazy.sync_dir(Path::new("")).unwrap();
        lazy.drop_unsynced();
        assert_eq!(fs::read(d.path().join("old")).unwrap(), b"new value");
        assert!(!d.path().join("new").exists());
        // The replaced file's trash is gone with the sync.
        assert_eq!(fs::read_dir(d.path().join(TRASH)).unwrap().count(), 0);
    }

    #[test]
    fn names_made_or_removed_come_back_unless_their_directory_was_synced() {
        let (d, mut lazy) = lab();
        fs::create_dir(d.path().join("wal")).unwrap();
        fs::write(d.path().join("wal/0.wal"), b"x").unwrap();
        fs::create_dir(d.path().join("snap")).unwrap();
        let snap = lazy.ino_of(Path::new("snap")).unwrap();
        lazy.made(Path::new("snap"), snap);
        lazy.sync_dir(Path::new("")).unwrap(); // snap/ is durable
        let (_, ino) = open(&lazy, "wal/1.wal");
        lazy.made(Path::new("wal/1.wal"), ino);
        lazy.remove(Path::new("wal/0.wal")).unwrap();
        lazy.sync_dir(Path::new("")).unwrap(); // nothing of wal/'s is the root's
        lazy.drop_unsynced();
        assert!(d.path().join("wal/0.wal").exists());
        assert!(!d.path().join("wal/1.wal").exists());
        assert!(d.path().join("snap").is_dir());
        // A new file that was fsynced keeps its name, as ext4 commits it with the inode.
        let (f, ino) = open(&lazy, "wal/2.wal");
        lazy.made(Path::new("wal/2.wal"), ino);
        lazy.write(ino, &f, 0, b"entry").unwrap();
        lazy.sync(ino).unwrap();
        lazy.drop_unsynced();
        assert_eq!(fs::read(d.path().join("wal/2.wal")).unwrap(), b"entry");
        // So does a file fsynced in a new directory, with the directory.
        fs::create_dir(d.path().join("aof")).unwrap();
        let dir = lazy.ino_of(Path::new("aof")).unwrap();
        lazy.made(Path::new("aof"), dir);
        let (f, ino) = open(&lazy, "aof/1.incr");
        lazy.made(Path::new("aof/1.incr"), ino);
        lazy.write(ino, &f, 0, b"SET k 1").unwrap();
        lazy.sync(ino).unwrap();
        lazy.sync_path(Path::new("aof/1.incr")).unwrap();
        let (g, other) = open(&lazy, "aof/2.incr");
        lazy.made(Path::new("aof/2.incr"), other);
        lazy.write(other, &g, 0, b"SET k 2").unwrap();
        lazy.drop_unsynced();
        assert_eq!(fs::read(d.path().join("aof/1.incr")).unwrap(), b"SET k 1");
        assert!(
            !d.path().join("aof/2.incr").exists(),
            "never fsynced, nor its directory"
        );
    }

    #[test]
    fn name_changes_become_durable_in_the_order_they_were_made() {
        // ZooKeeper's epoch files: acceptedEpoch then currentEpoch, each written to a .tmp,
        // fsynced and renamed over the old one, and no directory fsync. A later sync that needs
        // the second rename makes the first durable too, never the second alone.
        let (d, mut lazy) = lab();
        for f in ["acceptedEpoch", "currentEpoch"] {
            fs::write(d.path().join(f), "1").unwrap();
        }
        for f in ["acceptedEpoch", "currentEpoch"] {
            fs::write(d.path().join(format!("{f}.tmp")), "2").unwrap();
            lazy.rename(Path::new(&format!("{f}.tmp")), Path::new(f))
                .unwrap();
        }
        lazy.sync_path(Path::new("currentEpoch")).unwrap();
        lazy.drop_unsynced();
        assert_eq!(
            fs::read_to_string(d.path().join("acceptedEpoch")).unwrap(),
            "2"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("currentEpoch")).unwrap(),
            "2"
        );
        // Neither synced: both come back, together.
        for f in ["acceptedEpoch", "currentEpoch"] {
            fs::write(d.path().join(format!("{f}.tmp")), "3").unwrap();
            lazy.rename(Path::new(&format!("{f}.tmp")), Path::new(f))
                .unwrap();
        }
        lazy.drop_unsynced();
        assert_eq!(
            fs::read_to_string(d.path().join("acceptedEpoch")).unwrap(),
            "2"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("currentEpoch")).unwrap(),
            "2"
        );
        // A directory fsync of an unrelated directory commits nothing of this one...
        fs::create_dir(d.path().join("other")).unwrap();
        fs::write(d.path().join("acceptedEpoch.tmp"), "4").unwrap();
        lazy.rename(Path::new("acceptedEpoch.tmp"), Path::new("acceptedEpoch"))
            .unwrap();
        lazy.sync_dir(Path::new("other")).unwrap();
        lazy.drop_unsynced();
        assert_eq!(
            fs::read_to_string(d.path().join("acceptedEpoch")).unwrap(),
            "2"
        );
    }

    #[test]
    fn a_truncate_is_unsynced_until_the_file_is_synced() {
        let (d, mut lazy) = lab();
        fs::write(d.path().join("f"), vec![b'A'; 9000]).unwrap();
        let (f, ino) = open(&lazy, "f");
        lazy.set_size(ino, &f, 100).unwrap();
        lazy.set_size(ino, &f, 8192).unwrap();
        let v = seen(&lazy, &f, ino);
        assert_eq!(v.len(), 8192);
        assert!(v[..100].iter().all(|&b| b == b'A'));
        assert!(
            v[100..].iter().all(|&b| b == 0),
            "a truncate's tail reads as zeros"
        );
        lazy.drop_unsynced();
        assert_eq!(fs::read(d.path().join("f")).unwrap().len(), 9000);
        let (f, ino) = open(&lazy, "f");
        lazy.set_size(ino, &f, 100).unwrap();
        lazy.write(ino, &f, 6000, b"B").unwrap();
        lazy.sync(ino).unwrap();
        let on_disk = fs::read(d.path().join("f")).unwrap();
        assert_eq!(on_disk.len(), 6001);
        assert!(on_disk[..100].iter().all(|&b| b == b'A'));
        assert!(on_disk[100..6000].iter().all(|&b| b == 0));
        assert_eq!(on_disk[6000], b'B');
    }

    #[test]
    fn a_torn_write_keeps_the_first_half_of_each_files_last_write_only() {
        let (d, mut lazy) = lab();
        let (f, ino) = open(&lazy, "log");
        lazy.write(ino, &f, 0, b"first.").unwrap();
        lazy.sync(ino).unwrap();
        lazy.write(ino, &f, 6, b"second").unwrap();
        lazy.write(ino, &f, 12, b"third!").unwrap();
        let (_, torn) = lazy.tear();
        assert_eq!(torn, 1);
        // "second" is gone (a hole of zeros), "thi" of "third!" reached the disk.
        assert_eq!(
            fs::read(d.path().join("log")).unwrap(),
            b"first.\0\0\0\0\0\0thi"
        );
    }

    #[test]
    fn past_the_dirty_limit_a_written_file_is_written_back() {
        let d = tempfile::tempdir().unwrap();
        let mut lazy = Lazy::new(d.path(), 2 * PAGE).unwrap();
        let (f, ino) = open(&lazy, "big");
        lazy.write(ino, &f, 0, &[7u8; 3 * PAGE as usize]).unwrap();
        assert_eq!(lazy.unsynced().bytes, 0);
        assert_eq!(
            fs::read(d.path().join("big")).unwrap().len(),
            3 * PAGE as usize
        );
    }
}
