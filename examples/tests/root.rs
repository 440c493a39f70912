//! The file tools' confinement: every way out of the root (`..`, absolute paths, links that
//! point out, to a file or a directory, dangling or not, for reading, listing and writing) is
//! INVALID_ARGUMENT, and nothing outside the root is read or written. Links that stay inside
//! are followed.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use mcp_auth_example::root::{EntryKind, MAX_FILE_BYTES, Root};
use tonic::Code;

/// A scratch directory with `root/` (the tools' root) and `outside/` beside it.
struct Fixture {
    _scratch: tempfile::TempDir,
    root_path: PathBuf,
    outside: PathBuf,
    root: Root,
}

const SECRET: &str = "the secret outside the root\n";

fn fixture() -> Fixture {
    let scratch = tempfile::tempdir().unwrap();
    let root_path = scratch.path().join("root");
    let outside = scratch.path().join("outside");
    std::fs::create_dir_all(root_path.join("docs/deep")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root_path.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(root_path.join("docs/deep/note.md"), "# note\n").unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    std::fs::write(scratch.path().join("beside.txt"), SECRET).unwrap();
    // Links that lead out: to a file, to a directory, absolute, relative, dangling.
    symlink(outside.join("secret.txt"), root_path.join("abs-link")).unwrap();
    symlink("../outside/secret.txt", root_path.join("rel-link")).unwrap();
    symlink("../outside", root_path.join("out-dir")).unwrap();
    symlink("../../outside", root_path.join("docs/up-two")).unwrap();
    symlink(outside.join("not-yet.txt"), root_path.join("dangling-out")).unwrap();
    symlink("/", root_path.join("slash")).unwrap();
    // Links that stay in.
    symlink("hello.txt", root_path.join("in-link")).unwrap();
    symlink("docs/deep", root_path.join("in-dir")).unwrap();
    let root = Root::open(&root_path).unwrap();
    Fixture {
        _scratch: scratch,
        root_path,
        outside,
        root,
    }
}

impl Fixture {
    /// Asserts that the outside is as it was: the secret unchanged and no new file.
    fn assert_outside_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(self.outside.join("secret.txt")).unwrap(),
            SECRET
        );
        let mut names: Vec<String> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["secret.txt"]);
        let scratch = self.root_path.parent().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(scratch)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["beside.txt", "outside", "root"]);
        assert_eq!(
            std::fs::read_to_string(scratch.join("beside.txt")).unwrap(),
            SECRET
        );
    }
}

/// The paths that must never be let out, each with why.
const ESCAPES: &[(&str, &str)] = &[
    ("../beside.txt", "parent directory"),
    (
        "docs/../../beside.txt",
        "parent directory after a normal one",
    ),
    ("docs/..", "parent directory at the end"),
    (
        "./../outside/secret.txt",
        "parent after a current directory",
    ),
    ("/etc/passwd", "absolute path"),
    ("//etc/passwd", "absolute path, doubled slash"),
    ("abs-link", "absolute link to a file outside"),
    ("rel-link", "relative link to a file outside"),
    (
        "out-dir/secret.txt",
        "through a link to a directory outside",
    ),
    (
        "docs/up-two/secret.txt",
        "through a nested link that climbs out",
    ),
    ("slash/etc/passwd", "through a link to /"),
    ("dangling-out", "a dangling link whose target is outside"),
];

#[test]
fn read_file_refuses_every_escape() {
    let f = fixture();
    for (path, why) in ESCAPES {
        let error = f.root.read_file(path).unwrap_err();
        assert_eq!(
            error.code,
            Code::InvalidArgument,
            "{why}: {path:?}: {error}"
        );
        assert!(!error.message.contains(SECRET.trim()), "{why}: leaked");
        assert!(
            !error.message.contains(f.root_path.to_str().unwrap()),
            "{why}: the root's location leaked: {error}"
        );
    }
    f.assert_outside_untouched();
}

#[test]
fn list_dir_refuses_every_escape() {
    let f = fixture();
    let mut escapes = ESCAPES.to_vec();
    escapes.extend([
        ("out-dir", "a link to a directory outside"),
        ("slash", "a link to /"),
        ("..", "the parent itself"),
        ("/", "the file system root"),
    ]);
    for (path, why) in escapes {
        let error = f.root.list_dir(path).unwrap_err();
        assert_eq!(
            error.code,
            Code::InvalidArgument,
            "{why}: {path:?}: {error}"
        );
    }
}

#[test]
fn write_file_refuses_every_escape_and_writes_nothing_outside() {
    let f = fixture();
    let mut escapes = ESCAPES.to_vec();
    escapes.extend([
        (
            "out-dir/new.txt",
            "a new file through a link to a directory outside",
        ),
        (
            "docs/up-two/new.txt",
            "a new file through a nested link that climbs out",
        ),
        ("../new.txt", "a new file in the parent"),
        ("/tmp/new.txt", "a new file at an absolute path"),
    ]);
    for (path, why) in escapes {
        let error = f.root.write_file(path, "overwritten").unwrap_err();
        assert_eq!(
            error.code,
            Code::InvalidArgument,
            "{why}: {path:?}: {error}"
        );
    }
    f.assert_outside_untouched();
}

#[test]
fn inside_the_root_tools_work_and_links_that_stay_in_are_followed() {
    let f = fixture();
    assert_eq!(f.root.read_file("hello.txt").unwrap(), "hello\n");
    assert_eq!(f.root.read_file("./docs/deep/note.md").unwrap(), "# note\n");
    assert_eq!(f.root.read_file("in-link").unwrap(), "hello\n");
    assert_eq!(f.root.read_file("in-dir/note.md").unwrap(), "# note\n");

    let names: Vec<(String, EntryKind)> = f
        .root
        .list_dir("")
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert!(names.contains(&("docs".to_owned(), EntryKind::Directory)));
    assert!(names.contains(&("hello.txt".to_owned(), EntryKind::File)));
    // Listed as links, not followed.
    assert!(names.contains(&("out-dir".to_owned(), EntryKind::Symlink)));
    assert_eq!(f.root.list_dir(".").unwrap().len(), names.len());
    assert_eq!(f.root.list_dir("in-dir").unwrap()[0].name, "note.md");

    assert_eq!(f.root.write_file("docs/new.txt", "new").unwrap(), 3);
    assert_eq!(
        std::fs::read_to_string(f.root_path.join("docs/new.txt")).unwrap(),
        "new"
    );
    // Through a link that stays in: the target is replaced, inside the root.
    f.root.write_file("in-link", "replaced\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(f.root_path.join("hello.txt")).unwrap(),
        "replaced\n"
    );

    // Resources: regular files only, links not followed (so nothing outside shows up).
    let files: Vec<String> = f
        .root
        .files()
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(files, ["docs/deep/note.md", "docs/new.txt", "hello.txt"]);
    f.assert_outside_untouched();
}

#[test]
fn other_failures_have_their_own_codes() {
    let f = fixture();
    let code = |r: Result<String, mcp_auth_example::root::ToolError>| r.unwrap_err().code;
    assert_eq!(code(f.root.read_file("missing.txt")), Code::NotFound);
    assert_eq!(code(f.root.read_file("docs")), Code::FailedPrecondition);
    assert_eq!(code(f.root.read_file("")), Code::InvalidArgument);
    assert_eq!(
        f.root.list_dir("hello.txt").unwrap_err().code,
        Code::FailedPrecondition
    );
    assert_eq!(
        f.root
            .write_file("no/such/dir/x.txt", "x")
            .unwrap_err()
            .code,
        Code::NotFound
    );
    assert_eq!(
        f.root.write_file("docs", "x").unwrap_err().code,
        Code::FailedPrecondition
    );
    let big = "x".repeat(MAX_FILE_BYTES as usize + 1);
    assert_eq!(
        f.root.write_file("big.txt", &big).unwrap_err().code,
        Code::FailedPrecondition
    );
    std::fs::write(f.root_path.join("big.txt"), &big).unwrap();
    assert_eq!(code(f.root.read_file("big.txt")), Code::FailedPrecondition);
    std::fs::write(f.root_path.join("binary.bin"), [0xff, 0xfe, 0x00]).unwrap();
    assert_eq!(
        code(f.root.read_file("binary.bin")),
        Code::FailedPrecondition
    );
}

#[test]
fn a_fifo_is_not_read() {
    let f = fixture();
    let fifo = f.root_path.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // Opening a FIFO for reading would block until a writer comes; it is refused first.
    let error = f.root.read_file("pipe").unwrap_err();
    assert_eq!(error.code, Code::FailedPrecondition);
}
