//! The FUSE side: a passthrough to a lower directory whose data and names go through [`Lazy`].
//!
//! Inode numbers are the lower file system's (the root is FUSE's 1). Permission checks are the
//! kernel's (`default_permissions`); the mount serves every user (`allow_other`), as a database
//! that runs as its own user needs. Names made are owned by the caller's uid and gid, as on a
//! plain file system. Attributes and names are cached by the kernel for [`TTL`]: nothing but this
//! mount changes the lower directory while it is mounted.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{
    DirBuilderExt, DirEntryExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

use crate::cache::{Lazy, TRASH};

/// How long the kernel may cache attributes and names.
pub const TTL: Duration = Duration::from_secs(1);

/// An open file: its lower file and whether its writes are synchronous.
struct Open {
    file: File,
    ino: u64,
    sync: bool,
}

struct State {
    lazy: Lazy,
    /// The power is off: every request fails from now on, so that nothing a process does after
    /// the cut can look durable to it.
    dead: bool,
    /// Relative lower path of each inode the kernel knows (the latest name of a hard link).
    paths: HashMap<u64, PathBuf>,
    /// The lower inode number of the root.
    root_ino: u64,
    open: HashMap<u64, Open>,
    next_fh: u64,
}

/// The file system. Cloning shares the state: the supervisor keeps a clone to sync or drop
/// what is unsynced once the database is gone.
#[derive(Clone)]
pub struct LazyFs {
    state: Arc<Mutex<State>>,
}

/// The state for a request, or the request fails with `EIO` when the power is off.
macro_rules! live {
    ($fs:expr, $reply:expr) => {
        match $fs.live() {
            Some(s) => s,
            None => return $reply.error(Errno::EIO),
        }
    };
}

/// Answer a request that names an entry: its attributes, or the error.
fn entry(reply: ReplyEntry, result: Result<FileAttr, Errno>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn errno(e: io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_i32)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH
    }
}

fn kind(ft: fs::FileType) -> FileType {
    if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_fifo() {
        FileType::NamedPipe
    } else if ft.is_socket() {
        FileType::Socket
    } else if ft.is_char_device() {
        FileType::CharDevice
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else {
        FileType::RegularFile
    }
}

impl State {
    fn fuse_ino(&self, lower: u64) -> u64 {
        if lower == self.root_ino {
            1
        } else {
            lower
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        if ino.0 == 1 {
            return Ok(PathBuf::new());
        }
        self.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        if parent.0 == 1 && name == OsStr::new(TRASH) {
            return Err(Errno::EACCES);
        }
        Ok(self.path(parent)?.join(name))
    }

    fn attr(&self, rel: &Path) -> Result<FileAttr, Errno> {
        let m = fs::symlink_metadata(self.lazy.lower(rel)).map_err(errno)?;
        let size = if m.is_file() {
            self.lazy.size(m.ino(), m.len())
        } else {
            m.len()
        };
        Ok(FileAttr {
            ino: INodeNo(self.fuse_ino(m.ino())),
            size,
            blocks: size.div_ceil(512).max(m.blocks()),
            atime: time(m.atime(), m.atime_nsec()),
            mtime: time(m.mtime(), m.mtime_nsec()),
            ctime: time(m.ctime(), m.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind(m.file_type()),
            perm: (m.mode() & 0o7777) as u16,
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev() as u32,
            blksize: 4096,
            flags: 0,
        })
    }

    /// Learn a path's inode and answer with its attributes.
    fn remember(&mut self, rel: PathBuf) -> Result<FileAttr, Errno> {
        let attr = self.attr(&rel)?;
        if attr.ino.0 != 1 {
            self.paths.insert(attr.ino.0, rel);
        }
        Ok(attr)
    }

    fn open_lower(&mut self, rel: &Path, flags: i32, ino: u64) -> Result<u64, Errno> {
        // Always read-write (the supervisor runs as root), never O_DIRECT, O_APPEND or O_TRUNC:
        // the kernel gives every write its offset, and a truncate is this file system's to make.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.lazy.lower(rel))
            .or_else(|_| File::open(self.lazy.lower(rel)))
            .map_err(errno)?;
        if flags & libc::O_TRUNC != 0 {
            self.lazy.set_size(ino, &file, 0).map_err(errno)?;
        }
        self.next_fh += 1;
        let fh = self.next_fh;
        let sync = flags & (libc::O_SYNC | libc::O_DSYNC) != 0;
        self.open.insert(fh, Open { file, ino, sync });
        Ok(fh)
    }

    fn lower_ino(&self, ino: INodeNo) -> u64 {
        if ino.0 == 1 {
            self.root_ino
        } else {
            ino.0
        }
    }

    /// Own a name just made as the caller, journal it, and learn it.
    fn made(&mut self, req: &Request, rel: PathBuf) -> Result<FileAttr, Errno> {
        let lower = self.lazy.lower(&rel);
        std::os::unix::fs::lchown(&lower, Some(req.uid()), Some(req.gid())).map_err(errno)?;
        let ino = self.lazy.ino_of(&rel).map_err(errno)?;
        self.lazy.made(&rel, ino);
        self.remember(rel)
    }

    /// After a rename, every known path under `from` is under `to`.
    fn moved(&mut self, from: &Path, to: &Path) {
        for p in self.paths.values_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
    }
}

impl LazyFs {
    /// A file system over the lower directory `root` (for a mount over the same directory, a
    /// path that still reaches it: `/proc/self/fd/N` of a descriptor opened before the mount).
    ///
    /// Errors: the lower root cannot be read, or its trash made.
    pub fn new(root: impl Into<PathBuf>, max_unsynced: u64) -> io::Result<LazyFs> {
        let root = root.into();
        let root_ino = fs::metadata(&root)?.ino();
        Ok(LazyFs {
            state: Arc::new(Mutex::new(State {
                lazy: Lazy::new(root, max_unsynced)?,
                dead: false,
                paths: HashMap::new(),
                root_ino,
                open: HashMap::new(),
                next_fh: 0,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, unless the power is off.
    fn live(&self) -> Option<MutexGuard<'_, State>> {
        Some(self.lock()).filter(|s| !s.dead)
    }

    /// Cut the power: from now on every request fails with `EIO`, as a disk without power would
    /// answer, before anything is dropped. A process still running cannot write, sync and be
    /// told it is durable after the cut.
    pub fn cut(&self) {
        self.lock().dead = true;
    }

    /// Run `f` on the unsynced state (the supervisor's sync, drop and tear).
    pub fn with<T>(&self, f: impl FnOnce(&mut Lazy) -> T) -> T {
        f(&mut self.lock().lazy)
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = live!(self, reply);
        if parent.0 == 1 && name == OsStr::new(TRASH) {
            return reply.error(Errno::ENOENT);
        }
        match s.child(parent, name).and_then(|rel| s.remember(rel)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = live!(self, reply);
        match s.path(ino).and_then(|rel| s.attr(&rel)) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<FileAttr, Errno> {
            let rel = s.path(ino)?;
            let lower = s.lazy.lower(&rel);
            if let Some(mode) = mode {
                fs::set_permissions(&lower, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(errno)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&lower, uid, gid).map_err(errno)?;
            }
            if let Some(size) = size {
                let lino = s.lower_ino(ino);
                let file = match fh.and_then(|fh| s.open.get(&fh.0)) {
                    Some(o) => o.file.try_clone().map_err(errno)?,
                    // Read and write: a truncate inside a page reads the bytes it keeps.
                    None => OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&lower)
                        .map_err(errno)?,
                };
                s.lazy.set_size(lino, &file, size).map_err(errno)?;
            }
            if atime.is_some() || mtime.is_some() {
                let t = |t: Option<TimeOrNow>| match t {
                    None => libc::timespec {
                        tv_sec: 0,
                        tv_nsec: libc::UTIME_OMIT,
                    },
                    Some(TimeOrNow::Now) => libc::timespec {
                        tv_sec: 0,
                        tv_nsec: libc::UTIME_NOW,
                    },
                    Some(TimeOrNow::SpecificTime(t)) => {
                        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                        libc::timespec {
                            tv_sec: d.as_secs() as libc::time_t,
                            tv_nsec: d.subsec_nanos() as libc::c_long,
                        }
                    }
                };
                let times = [t(atime), t(mtime)];
                let c = std::ffi::CString::new(lower.as_os_str().as_bytes())
                    .map_err(|_| Errno::EINVAL)?;
                // SAFETY: a valid C string and two timespecs, as utimensat(2) takes them.
                let r = unsafe {
                    libc::utimensat(
                        libc::AT_FDCWD,
                        c.as_ptr(),
                        times.as_ptr(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
                if r != 0 {
                    return Err(errno(io::Error::last_os_error()));
                }
            }
            s.attr(&rel)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let s = live!(self, reply);
        match s
            .path(ino)
            .and_then(|rel| fs::read_link(s.lazy.lower(&rel)).map_err(errno))
        {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<FileAttr, Errno> {
            let rel = s.child(parent, name)?;
            let c = std::ffi::CString::new(s.lazy.lower(&rel).as_os_str().as_bytes())
                .map_err(|_| Errno::EINVAL)?;
            // SAFETY: a valid C string; mknod(2) reads nothing else.
            let r = unsafe {
                libc::mknod(
                    c.as_ptr(),
                    (mode & !umask) as libc::mode_t,
                    rdev as libc::dev_t,
                )
            };
            if r != 0 {
                return Err(errno(io::Error::last_os_error()));
            }
            s.made(req, rel)
        })();
        entry(reply, result)
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<FileAttr, Errno> {
            let rel = s.child(parent, name)?;
            fs::DirBuilder::new()
                .mode(mode & !umask & 0o7777)
                .create(s.lazy.lower(&rel))
                .map_err(errno)?;
            s.made(req, rel)
        })();
        entry(reply, result)
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = live!(self, reply);
        let result = s.child(parent, name).and_then(|rel| {
            let m = fs::symlink_metadata(s.lazy.lower(&rel)).map_err(errno)?;
            if m.is_dir() {
                return Err(Errno::EISDIR);
            }
            s.lazy.remove(&rel).map_err(errno)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut s = live!(self, reply);
        let result = s.child(parent, name).and_then(|rel| {
            let lower = s.lazy.lower(&rel);
            if !fs::symlink_metadata(&lower).map_err(errno)?.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if fs::read_dir(&lower).map_err(errno)?.next().is_some() {
                return Err(Errno::ENOTEMPTY);
            }
            s.lazy.remove(&rel).map_err(errno)
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<FileAttr, Errno> {
            let rel = s.child(parent, link_name)?;
            std::os::unix::fs::symlink(target, s.lazy.lower(&rel)).map_err(errno)?;
            s.made(req, rel)
        })();
        entry(reply, result)
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<(), Errno> {
            let from = s.child(parent, name)?;
            let to = s.child(newparent, newname)?;
            if flags.contains(RenameFlags::RENAME_EXCHANGE)
                || flags.contains(RenameFlags::RENAME_WHITEOUT)
            {
                return Err(Errno::EINVAL);
            }
            let target = fs::symlink_metadata(s.lazy.lower(&to));
            if let Ok(t) = &target {
                if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                    return Err(Errno::EEXIST);
                }
                let src = fs::symlink_metadata(s.lazy.lower(&from)).map_err(errno)?;
                if t.is_dir() && !src.is_dir() {
                    return Err(Errno::EISDIR);
                }
                if !t.is_dir() && src.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                if t.is_dir()
                    && fs::read_dir(s.lazy.lower(&to))
                        .map_err(errno)?
                        .next()
                        .is_some()
                {
                    return Err(Errno::ENOTEMPTY);
                }
                if t.ino() == src.ino() {
                    return Ok(());
                }
            }
            s.lazy.rename(&from, &to).map_err(errno)?;
            s.moved(&from, &to);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<FileAttr, Errno> {
            let from = s.path(ino)?;
            let to = s.child(newparent, newname)?;
            fs::hard_link(s.lazy.lower(&from), s.lazy.lower(&to)).map_err(errno)?;
            let lino = s.lower_ino(ino);
            s.lazy.made(&to, lino);
            s.remember(to)
        })();
        entry(reply, result)
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = live!(self, reply);
        let lino = s.lower_ino(ino);
        match s
            .path(ino)
            .and_then(|rel| s.open_lower(&rel, flags.0, lino))
        {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = live!(self, reply);
        let Some(o) = s.open.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        match s.lazy.read(o.ino, &o.file, offset, u64::from(size)) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = live!(self, reply);
        let s = &mut *s;
        let Some(o) = s.open.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let written = s.lazy.write(o.ino, &o.file, offset, data).and_then(|n| {
            if o.sync {
                s.lazy.sync(o.ino)?;
                if let Some(path) = s.paths.get(&o.ino) {
                    s.lazy.sync_path(path)?;
                }
            }
            Ok(n)
        });
        match written {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().open.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        let lino = s.lower_ino(ino);
        let path = s.path(ino);
        let synced = s.lazy.sync(lino).and_then(|()| match path {
            Ok(path) => s.lazy.sync_path(&path),
            Err(_) => Ok(()),
        });
        match synced {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.opened(FileHandle(0), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let s = live!(self, reply);
        let result = (|| -> Result<Vec<(u64, FileType, std::ffi::OsString)>, Errno> {
            let rel = s.path(ino)?;
            let mut entries = vec![
                (ino.0, FileType::Directory, ".".into()),
                (ino.0, FileType::Directory, "..".into()),
            ];
            for e in fs::read_dir(s.lazy.lower(&rel)).map_err(errno)? {
                let e = e.map_err(errno)?;
                if rel.as_os_str().is_empty() && e.file_name() == OsStr::new(TRASH) {
                    continue;
                }
                let ft = e.file_type().map_err(errno)?;
                entries.push((s.fuse_ino(e.ino()), kind(ft), e.file_name()));
            }
            Ok(entries)
        })();
        match result {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        let result = s
            .path(ino)
            .and_then(|rel| s.lazy.sync_dir(&rel).map_err(errno));
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = live!(self, reply);
        let c = match std::ffi::CString::new(s.lazy.lower(Path::new("")).as_os_str().as_bytes()) {
            Ok(c) => c,
            Err(_) => return reply.error(Errno::EINVAL),
        };
        // SAFETY: statvfs(2) fills the zeroed struct it is given.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return reply.error(errno(io::Error::last_os_error()));
        }
        reply.statfs(
            st.f_blocks as u64,
            st.f_bfree as u64,
            st.f_bavail as u64,
            st.f_files as u64,
            st.f_ffree as u64,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        );
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // default_permissions: the kernel checks.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = live!(self, reply);
        let result = (|| -> Result<(FileAttr, u64), Errno> {
            let rel = s.child(parent, name)?;
            let lower = s.lazy.lower(&rel);
            let existed = fs::symlink_metadata(&lower).is_ok();
            if existed && flags & libc::O_EXCL != 0 {
                return Err(Errno::EEXIST);
            }
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(mode & !umask & 0o7777)
                .open(&lower)
                .map_err(errno)?;
            let attr = if existed {
                s.remember(rel.clone())?
            } else {
                s.made(req, rel.clone())?
            };
            let lino = s.lower_ino(attr.ino);
            let fh = s.open_lower(&rel, flags, lino)?;
            let attr = s.attr(&rel)?;
            Ok((attr, fh))
        })();
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut s = live!(self, reply);
        let s = &mut *s;
        let Some(o) = s.open.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let size = s
            .lazy
            .size(o.ino, o.file.metadata().map(|m| m.len()).unwrap_or(0));
        let result = match mode {
            // Preallocate and extend: the new length is unsynced like a write's.
            0 if offset + length > size => s.lazy.set_size(o.ino, &o.file, offset + length),
            0 | libc::FALLOC_FL_KEEP_SIZE => Ok(()),
            m if m == libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE => {
                let end = (offset + length).min(size);
                if end > offset {
                    let zeros = vec![0u8; (end - offset) as usize];
                    s.lazy.write(o.ino, &o.file, offset, &zeros).map(|_| ())
                } else {
                    Ok(())
                }
            }
            _ => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        };
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(e)),
        }
    }
}
