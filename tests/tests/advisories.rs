//! Cargo.lock against the advisory minimums kept in `tests/advisories.toml`: every locked version
//! of jsonwebtoken, h2, hyper, rustls, rustls-webpki and aws-lc-sys is at or above the highest
//! version that fixes a known advisory. The RustSec database cannot be fetched where the suite
//! runs, so the table is in the repository and this test is the check.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The crates issue 8 names; each must have a row.
const TRACKED: [&str; 6] = [
    "jsonwebtoken",
    "h2",
    "hyper",
    "rustls",
    "rustls-webpki",
    "aws-lc-sys",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(rename = "crate")]
    crates: Vec<Crate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Crate {
    name: String,
    minimum: String,
    advisory: Vec<Advisory>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advisory {
    ids: Vec<String>,
    fixed: String,
    summary: String,
}

#[derive(Debug, Deserialize)]
struct Lock {
    package: Vec<Package>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    version: String,
}

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn table() -> Table {
    let path = workspace().join("tests/advisories.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every locked version of each package, by name.
fn locked() -> BTreeMap<String, Vec<String>> {
    let path = workspace().join("Cargo.lock");
    let text = std::fs::read_to_string(&path).unwrap();
    let lock: Lock =
        toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let mut versions = BTreeMap::<String, Vec<String>>::new();
    for package in lock.package {
        versions
            .entry(package.name)
            .or_default()
            .push(package.version);
    }
    versions
}

/// A version as SemVer orders it: the numbers, then a pre-release sorts before its release.
/// Build metadata (`+...`) is ignored.
#[derive(Debug, PartialEq, Eq)]
struct Version<'a> {
    numbers: [u64; 3],
    pre: Option<&'a str>,
}

fn parse(version: &str) -> Version<'_> {
    let version = version.split_once('+').map_or(version, |(v, _build)| v);
    let (release, pre) = match version.split_once('-') {
        Some((release, pre)) => (release, Some(pre)),
        None => (version, None),
    };
    let numbers: Vec<u64> = release
        .split('.')
        .map(|n| {
            n.parse()
                .unwrap_or_else(|_| panic!("bad version {version:?}"))
        })
        .collect();
    let numbers = numbers
        .try_into()
        .unwrap_or_else(|_| panic!("bad version {version:?}"));
    Version { numbers, pre }
}

impl Ord for Version<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (self.pre, other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => compare_pre(a, b),
            })
    }
}

impl PartialOrd for Version<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// SemVer 2.0 §11.4: identifiers compared one by one, numbers numerically and below words.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut a = a.split('.');
    let mut b = b.split('.');
    loop {
        let order = match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => x.cmp(y),
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

#[test]
fn every_locked_version_is_at_or_above_its_advisory_minimum() {
    let locked = locked();
    let mut failures = Vec::new();
    for krate in table().crates {
        let Some(versions) = locked.get(&krate.name) else {
            failures.push(format!(
                "{} is not in Cargo.lock any more; remove its row from tests/advisories.toml",
                krate.name
            ));
            continue;
        };
        for version in versions {
            if parse(version) < parse(&krate.minimum) {
                let below: Vec<&str> = krate
                    .advisory
                    .iter()
                    .filter(|advisory| parse(version) < parse(&advisory.fixed))
                    .map(|advisory| advisory.ids[0].as_str())
                    .collect();
                failures.push(format!(
                    "{} {version} is locked, below {} (unfixed: {}); run `cargo update -p {}`",
                    krate.name,
                    krate.minimum,
                    below.join(", "),
                    krate.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_advisory_table_is_complete_and_consistent() {
    let table = table();
    for name in TRACKED {
        assert!(
            table.crates.iter().any(|krate| krate.name == name),
            "no row for {name}"
        );
    }
    for krate in &table.crates {
        assert!(!krate.advisory.is_empty(), "{}: no advisory", krate.name);
        let highest = krate
            .advisory
            .iter()
            .map(|advisory| parse(&advisory.fixed))
            .max()
            .unwrap();
        assert_eq!(
            parse(&krate.minimum),
            highest,
            "{}: the minimum must be the highest fixed version",
            krate.name
        );
        for advisory in &krate.advisory {
            assert!(
                !advisory.summary.is_empty(),
                "{}: empty summary",
                krate.name
            );
            assert!(
                !advisory.ids.is_empty(),
                "{}: an advisory without ids",
                krate.name
            );
            for id in &advisory.ids {
                assert!(
                    well_formed(id),
                    "{}: malformed advisory id {id:?}",
                    krate.name
                );
            }
        }
    }
}

/// `RUSTSEC-YYYY-NNNN`, `CVE-YYYY-N...` or `GHSA-xxxx-xxxx-xxxx`.
fn well_formed(id: &str) -> bool {
    let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    match id.split('-').collect::<Vec<_>>().as_slice() {
        ["RUSTSEC", year, number] => digits(year, 4..=4) && digits(number, 4..=4),
        ["CVE", year, number] => digits(year, 4..=4) && digits(number, 4..=7),
        ["GHSA", a, b, c] => [a, b, c].iter().all(|part| {
            part.len() == 4
                && part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        }),
        _ => false,
    }
}

#[test]
fn versions_compare_as_semver_orders_them() {
    let ordered = [
        "0.4.2",
        "0.4.16",
        "0.23.5",
        "0.103.12",
        "0.104.0-alpha.1",
        "0.104.0-alpha.6",
        "0.104.0-alpha.10",
        "0.104.0-beta",
        "0.104.0",
        "1.2.2+spec-1.1.0",
        "10.3.0",
    ];
    for pair in ordered.windows(2) {
        assert!(parse(pair[0]) < parse(pair[1]), "{} < {}", pair[0], pair[1]);
    }
    assert_eq!(parse("1.2.2+build"), parse("1.2.2"));
    assert!(well_formed("RUSTSEC-2024-0003"));
    assert!(well_formed("GHSA-h395-gr6q-cpjc"));
    assert!(well_formed("CVE-2026-25537"));
    assert!(!well_formed("RUSTSEC-2024-3"));
    assert!(!well_formed("GHSA-H395-gr6q-cpjc"));
}
