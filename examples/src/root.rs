//! Files confined to one directory, the server's root.
//!
//! Every path a tool receives is checked three times before anything is read or written:
//!
//! 1. **by its text**: it must be relative and must not contain `..` (nor a NUL byte), so
//!    `/etc/passwd` and `../secret` are refused before the file system is touched;
//! 2. **after resolving it**: the path is joined to the root, canonicalized (every symbolic
//!    link followed) and must still start with the canonical root, so a link inside the root
//!    that points out of it is refused; for a file that does not exist yet, its directory is
//!    resolved instead, and a dangling link is refused outright;
//! 3. **when it is opened**: files are opened relative to an open handle of the root with
//!    [`cap_std`] (`openat2(RESOLVE_BENEATH)` on Linux, a checked walk elsewhere), so a link
//!    swapped in between the check and the open still cannot lead outside.
//!
//! An escape is [`ToolError`] with `INVALID_ARGUMENT`. Hard links are not detected: a hard
//! link inside the root is a file of the root (only someone with write access to both places
//! can make one).

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use tonic::{Code, Status};

/// The largest file `read_file` returns and `write_file` accepts: 1 MiB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The most entries `list_dir` returns, and the most files `GetResources` lists.
pub const MAX_ENTRIES: usize = 1000;

/// How deep `GetResources` walks below the root.
pub const MAX_DEPTH: usize = 16;

/// The longest path a tool accepts, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;

/// Why a tool call failed, with the gRPC code a unary call answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    /// `INVALID_ARGUMENT` for a bad or escaping path or argument, `NOT_FOUND`,
    /// `FAILED_PRECONDITION` (a directory where a file was expected, a file too large...).
    pub code: Code,
    /// What went wrong, for the caller; never a path outside the root.
    pub message: String,
}

impl ToolError {
    /// A bad argument: an escaping path, a missing or mistyped argument.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: Code::InvalidArgument,
            message: message.into(),
        }
    }

    fn not_found(path: &str) -> Self {
        Self {
            code: Code::NotFound,
            message: format!("{path:?} does not exist"),
        }
    }

    fn precondition(message: impl Into<String>) -> Self {
        Self {
            code: Code::FailedPrecondition,
            message: message.into(),
        }
    }

    fn escape(path: &str) -> Self {
        Self::invalid(format!("{path:?} leads outside the root"))
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for ToolError {}

impl From<ToolError> for Status {
    fn from(error: ToolError) -> Self {
        Status::new(error.code, error.message)
    }
}

/// What a directory entry is. Symbolic links are reported as such, not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (which may point anywhere; tools refuse the ones that lead out).
    Symlink,
    /// Anything else (a socket, a FIFO, a device).
    Other,
}

impl EntryKind {
    /// `file`, `directory`, `symlink` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Directory => "directory",
            Self::Symlink => "symlink",
            Self::Other => "other",
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (lossily UTF-8).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// Its size in bytes (of the link itself for a symbolic link).
    pub size: u64,
}

/// One file found by [`Root::files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path relative to the root, with `/` separators.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The directory the tools work in; nothing outside it is read or written.
pub struct Root {
    /// The canonical path of the root.
    path: PathBuf,
    /// An open handle of the root, which every file is opened relative to.
    dir: Dir,
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Root").field("path", &self.path).finish()
    }
}

impl Root {
    /// Opens `path` as the root. It must exist and be a directory; symbolic links in it are
    /// resolved once, here.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref().canonicalize()?;
        if !path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "not a directory",
            ));
        }
        let dir = Dir::open_ambient_dir(&path, ambient_authority())?;
        Ok(Self { path, dir })
    }

    /// The canonical path of the root.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the UTF-8 text file at `path` (relative to the root), at most
    /// [`MAX_FILE_BYTES`].
    pub fn read_file(&self, path: &str) -> Result<String, ToolError> {
        let relative = relative_path(path, false)?;
        self.check_resolved(path, &relative)?;
        let metadata = self
            .dir
            .metadata(&relative)
            .map_err(|e| self.io_error(path, &relative, e))?;
        if metadata.is_dir() {
            return Err(ToolError::precondition(format!("{path:?} is a directory")));
        }
        if !metadata.is_file() {
            return Err(ToolError::precondition(format!(
                "{path:?} is not a regular file"
            )));
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(too_large(path));
        }
        let file = self
            .dir
            .open(&relative)
            .map_err(|e| self.io_error(path, &relative, e))?;
        // The file opened may not be the one inspected above, if it was replaced meanwhile.
        let opened = file.metadata().map_err(|e| internal(path, &e))?;
        if !opened.is_file() {
            return Err(ToolError::precondition(format!(
                "{path:?} is not a regular file"
            )));
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| internal(path, &e))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(path));
        }
        String::from_utf8(bytes)
            .map_err(|_| ToolError::precondition(format!("{path:?} is not UTF-8 text")))
    }

    /// Lists the directory at `path` (`""` or `"."` for the root itself), sorted by name, at
    /// most [`MAX_ENTRIES`] entries.
    pub fn list_dir(&self, path: &str) -> Result<Vec<Entry>, ToolError> {
        let relative = relative_path(path, true)?;
        self.check_resolved(path, &relative)?;
        let entries = self
            .open_dir(&relative)
            .and_then(|dir| dir.entries())
            .map_err(|e| self.io_error(path, &relative, e))?;
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| internal(path, &e))?;
            if listed.len() == MAX_ENTRIES {
                return Err(ToolError::precondition(format!(
                    "{path:?} has more than {MAX_ENTRIES} entries"
                )));
            }
            // `DirEntry::metadata` does not follow symbolic links.
            let metadata = entry.metadata().map_err(|e| internal(path, &e))?;
            let file_type = metadata.file_type();
            let kind = if file_type.is_symlink() {
                EntryKind::Symlink
            } else if file_type.is_dir() {
                EntryKind::Directory
            } else if file_type.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            listed.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                kind,
                size: metadata.len(),
            });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Creates or replaces the file at `path` with `content` (at most [`MAX_FILE_BYTES`]).
    /// Its directory must exist; returns the number of bytes written.
    pub fn write_file(&self, path: &str, content: &str) -> Result<u64, ToolError> {
        let relative = relative_path(path, false)?;
        if content.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(path));
        }
        self.check_resolved_for_write(path, &relative)?;
        if let Ok(metadata) = self.dir.metadata(&relative)
            && !metadata.is_file()
        {
            return Err(ToolError::precondition(format!(
                "{path:?} exists and is not a regular file"
            )));
        }
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let mut file = self
            .dir
            .open_with(&relative, &options)
            .map_err(|e| self.io_error(path, &relative, e))?;
        file.write_all(content.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| internal(path, &e))?;
        Ok(content.len() as u64)
    }

    /// Every regular file under the root, depth first in name order: at most
    /// [`MAX_ENTRIES`] files, at most [`MAX_DEPTH`] directories deep. Symbolic links are not
    /// followed.
    pub fn files(&self) -> Result<Vec<FileInfo>, ToolError> {
        let mut found = Vec::new();
        self.walk(&self.dir, "", 0, &mut found)?;
        Ok(found)
    }

    fn walk(
        &self,
        dir: &Dir,
        prefix: &str,
        depth: usize,
        found: &mut Vec<FileInfo>,
    ) -> Result<(), ToolError> {
        let mut entries = Vec::new();
        for entry in dir.entries().map_err(|e| internal(prefix, &e))? {
            let entry = entry.map_err(|e| internal(prefix, &e))?;
            let metadata = entry.metadata().map_err(|e| internal(prefix, &e))?;
            entries.push((entry.file_name(), metadata));
            if entries.len() > MAX_ENTRIES {
                break;
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, metadata) in entries {
            if found.len() == MAX_ENTRIES {
                return Ok(());
            }
            let Some(name) = name.to_str() else {
                continue;
            };
            let path = if prefix.is_empty() {
                name.to_owned()
            } else {
                format!("{prefix}/{name}")
            };
            let file_type = metadata.file_type();
            if file_type.is_file() {
                found.push(FileInfo {
                    path,
                    size: metadata.len(),
                });
            } else if file_type.is_dir() && depth + 1 < MAX_DEPTH {
                // Beneath `dir`: a link swapped in for the directory cannot lead out.
                let child = dir.open_dir(name).map_err(|e| internal(&path, &e))?;
                self.walk(&child, &path, depth + 1, found)?;
            }
        }
        Ok(())
    }

    fn open_dir(&self, relative: &Path) -> io::Result<Dir> {
        if relative.as_os_str().is_empty() {
            self.dir.try_clone()
        } else {
            self.dir.open_dir(relative)
        }
    }

    /// Resolves `relative` with every link followed and checks that it stays in the root.
    fn check_resolved(&self, path: &str, relative: &Path) -> Result<(), ToolError> {
        match self.path.join(relative).canonicalize() {
            Ok(resolved) if resolved.starts_with(&self.path) => Ok(()),
            Ok(_) => Err(ToolError::escape(path)),
            // Missing: nothing to read; a dangling link also lands here.
            Err(error) => Err(self.io_error(path, relative, error)),
        }
    }

    /// Like [`check_resolved`](Self::check_resolved) for a file that may not exist yet: its
    /// directory must resolve into the root, and if the name exists (as a link, even a
    /// dangling one) it must resolve into the root too.
    fn check_resolved_for_write(&self, path: &str, relative: &Path) -> Result<(), ToolError> {
        let full = self.path.join(relative);
        match full.symlink_metadata() {
            Ok(_) => match full.canonicalize() {
                Ok(resolved) if resolved.starts_with(&self.path) => Ok(()),
                // Outside, or a dangling link, which would create its target wherever it
                // points.
                _ => Err(ToolError::escape(path)),
            },
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                let parent = full.parent().unwrap_or(&self.path);
                match parent.canonicalize() {
                    Ok(resolved) if resolved.starts_with(&self.path) => Ok(()),
                    Ok(_) => Err(ToolError::escape(path)),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {
                        Err(ToolError::not_found(&parent_name(path)))
                    }
                    Err(error) => Err(internal(path, &error)),
                }
            }
            Err(error) => Err(self.io_error(path, relative, error)),
        }
    }

    /// Maps an I/O error on `path` to a tool error. cap-std refuses an escape with
    /// `PermissionDenied` (a link that changed after the check): the check is run again to
    /// tell an escape from a file the server may not open.
    fn io_error(&self, path: &str, relative: &Path, error: io::Error) -> ToolError {
        match error.kind() {
            io::ErrorKind::NotFound => {
                if self.path.join(relative).symlink_metadata().is_ok() {
                    // The name exists but does not resolve: a dangling link.
                    ToolError::invalid(format!("{path:?} is a link that leads nowhere"))
                } else {
                    ToolError::not_found(path)
                }
            }
            io::ErrorKind::NotADirectory => {
                ToolError::precondition(format!("{path:?} is not a directory"))
            }
            io::ErrorKind::IsADirectory => {
                ToolError::precondition(format!("{path:?} is a directory"))
            }
            io::ErrorKind::PermissionDenied => match self.path.join(relative).canonicalize() {
                Ok(resolved) if resolved.starts_with(&self.path) => {
                    ToolError::precondition(format!("{path:?}: permission denied"))
                }
                _ => ToolError::escape(path),
            },
            _ => internal(path, &error),
        }
    }
}

/// Checks a tool's path argument by its text and returns it as a relative path without `.`
/// components. `allow_root`: whether `""` and `"."` (the root itself) are accepted.
fn relative_path(path: &str, allow_root: bool) -> Result<PathBuf, ToolError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(ToolError::invalid(format!(
            "the path is longer than {MAX_PATH_BYTES} bytes"
        )));
    }
    if path.contains('\0') {
        return Err(ToolError::invalid("the path contains a NUL byte"));
    }
    let mut relative = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(name) => relative.push(name),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(ToolError::invalid(format!(
                    "{path:?}: `..` is not allowed; paths are relative to the root"
                )));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(ToolError::invalid(format!(
                    "{path:?}: absolute paths are not allowed; paths are relative to the root"
                )));
            }
        }
    }
    if relative.as_os_str().is_empty() && !allow_root {
        return Err(ToolError::invalid("the path names no file"));
    }
    Ok(relative)
}

fn parent_name(path: &str) -> String {
    match Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_string_lossy().into_owned(),
        _ => ".".to_owned(),
    }
}

fn too_large(path: &str) -> ToolError {
    ToolError::precondition(format!("{path:?} is larger than {MAX_FILE_BYTES} bytes"))
}

/// An unexpected I/O error. Its text comes from the OS about a path under the root, never the
/// root's own location.
fn internal(path: &str, error: &io::Error) -> ToolError {
    ToolError {
        code: Code::Internal,
        message: format!("{path:?}: {}", error.kind()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_by_their_text_first() {
        assert_eq!(relative_path("a/./b", false).unwrap(), Path::new("a/b"));
        assert_eq!(relative_path(".", true).unwrap(), Path::new(""));
        assert_eq!(relative_path("", true).unwrap(), Path::new(""));
        for bad in ["", ".", "./"] {
            assert_eq!(
                relative_path(bad, false).unwrap_err().code,
                Code::InvalidArgument
            );
        }
        for bad in ["../x", "a/../../x", "a/..", "/etc/passwd", "//x", "a\0b"] {
            let error = relative_path(bad, true).unwrap_err();
            assert_eq!(error.code, Code::InvalidArgument, "{bad:?}");
        }
        let long = "a/".repeat(MAX_PATH_BYTES);
        assert_eq!(
            relative_path(&long, true).unwrap_err().code,
            Code::InvalidArgument
        );
    }

    /// The last of the three checks holds on its own: opening beneath the root handle refuses
    /// links that lead out even when nothing checked the path before.
    #[cfg(unix)]
    #[test]
    fn the_root_handle_alone_refuses_links_out() {
        let scratch = tempfile::tempdir().unwrap();
        let root_path = scratch.path().join("root");
        std::fs::create_dir(&root_path).unwrap();
        std::fs::write(scratch.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink("../secret.txt", root_path.join("out")).unwrap();
        std::os::unix::fs::symlink(scratch.path(), root_path.join("up")).unwrap();
        let root = Root::open(&root_path).unwrap();
        assert!(root.dir.open("out").is_err());
        assert!(root.dir.open("up/secret.txt").is_err());
        assert!(root.dir.open("../secret.txt").is_err());
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        assert!(root.dir.open_with("up/new.txt", &options).is_err());
        assert!(!scratch.path().join("new.txt").exists());
        // A refused escape maps to INVALID_ARGUMENT even when only the open saw it.
        let error = root.dir.open("out").unwrap_err();
        assert_eq!(
            root.io_error("out", Path::new("out"), error).code,
            Code::InvalidArgument
        );
    }
}
