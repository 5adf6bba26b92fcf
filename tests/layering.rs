//! The crate's layering, kept true by a test so the picture in docs/architecture.md cannot rot.
//!
//! `src/` holds `lib.rs`, `main.rs` and `error.rs` beside one folder per stage. A folder may use
//! the folders before it in [`ORDER`] (the order data flows), never those after it; `core` is at
//! the bottom and `cli` at the top. Inside a folder, the sibling files (not `mod.rs`, which is the
//! folder's hub) must not form a cycle. There is no allow-list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top.
const ORDER: [&str; 15] = [
    "core", "observe", "sample", "forecast", "capacity", "plan", "reactive", "govern", "control", "actuate", "train",
    "sim", "serve", "evaluate", "cli",
];

/// What the crate root may hold besides the stage folders.
const ROOT_FILES: [&str; 3] = ["lib.rs", "main.rs", "error.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The file's code with comments and string literals blanked, so that a path in a doc comment or
/// a message is not counted as a use.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'r' && (b[i..].starts_with(b"r\"") || b[i..].starts_with(b"r#")) && !is_ident(b, i) {
            // Raw string r"..." or r#"..."#; `r#ident` raw identifiers are code.
            let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
            if b.get(i + 1 + hashes) == Some(&b'"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let from = i + 2 + hashes;
                i = text[from..].find(&close).map_or(b.len(), |e| from + e + close.len());
                out.push_str("\"\"");
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            // A one-character literal such as '"'.
            i += 3;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// Every `crate::a::b…` path in `code` (groups `crate::{a, b::c}` expanded), as segment lists.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top(&group[..end]) {
                out.push(segments(item.trim()));
            }
        } else {
            out.push(segments(rest));
        }
    }
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn segments(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let seg: String = rest
            .trim_start_matches("r#")
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if seg.is_empty() {
            break;
        }
        let raw = rest.starts_with("r#");
        rest = &rest[seg.len() + if raw { 2 } else { 0 }..];
        out.push(seg);
        match rest.strip_prefix("::") {
            Some(r) if !r.starts_with('{') && !r.starts_with('*') => rest = r,
            _ => break,
        }
    }
    out
}

struct Crate {
    /// Path below `src/`, and the file's code.
    files: Vec<(PathBuf, String)>,
}

fn load() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files = paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(&src).unwrap().to_path_buf(), code_only(&text))
        })
        .collect();
    Crate { files }
}

fn folder(rel: &Path) -> Option<String> {
    let mut c = rel.components();
    let first = c.next()?.as_os_str().to_string_lossy().to_string();
    c.next().map(|_| first)
}

#[test]
fn the_root_holds_only_lib_main_and_error() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            if !ORDER.contains(&name.as_str()) {
                bad.push(format!("src/{name}/ is not a stage folder in the declared order"));
            }
        } else if !ROOT_FILES.contains(&name.as_str()) {
            bad.push(format!("src/{name} belongs in a stage folder"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn no_folder_uses_a_later_one() {
    let rank = |f: &str| ORDER.iter().position(|o| *o == f);
    let krate = load();
    let mut bad = BTreeSet::new();
    let mut edges = 0;
    for (rel, code) in &krate.files {
        let Some(from) = folder(rel) else {
            // lib.rs declares the folders; main.rs is the binary (checked below); error.rs is root.
            continue;
        };
        let Some(r_from) = rank(&from) else { continue };
        for path in crate_paths(code) {
            let Some(to) = path.first() else { continue };
            let Some(r_to) = rank(to) else { continue };
            edges += 1;
            if r_to > r_from {
                bad.insert(format!(
                    "src/{}: `crate::{}` points up: {from} may use only folders before it ({})",
                    rel.display(),
                    path.join("::"),
                    ORDER[..r_from].join(", ")
                ));
            }
        }
    }
    assert!(
        edges > 100,
        "the scan found only {edges} crate paths: is it reading src/?"
    );
    assert!(bad.is_empty(), "{}", bad.into_iter().collect::<Vec<_>>().join("\n"));
}

#[test]
fn core_imports_nothing_else_in_the_crate() {
    let krate = load();
    let mut bad = Vec::new();
    for (rel, code) in krate.files.iter().filter(|(r, _)| folder(r).as_deref() == Some("core")) {
        for path in crate_paths(code) {
            if path
                .first()
                .is_some_and(|f| f != "core" && f != "Error" && f != "Result" && f != "error")
            {
                bad.push(format!("src/{}: `crate::{}`", rel.display(), path.join("::")));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn main_only_calls_the_cli() {
    let krate = load();
    let (_, main) = krate.files.iter().find(|(r, _)| r == Path::new("main.rs")).unwrap();
    let mut rest = main.as_str();
    let mut bad = Vec::new();
    while let Some(at) = rest.find("scale::") {
        rest = &rest[at + "scale::".len()..];
        let seg = segments(rest);
        if seg.first().is_some_and(|s| s != "cli") {
            bad.push(format!("src/main.rs: `scale::{}`", seg.join("::")));
        }
    }
    assert!(
        bad.is_empty(),
        "main.rs parses and calls cli::run only:\n{}",
        bad.join("\n")
    );
}

/// Which sibling module a path names, from a file in `dir` (a folder below src/).
fn sibling(path: &[String], dir: &[String], siblings: &BTreeSet<String>, via_super: bool) -> Option<String> {
    let rest: &[String] = if via_super {
        path
    } else {
        // crate::a::b::x names sibling x of a file in src/a/b/.
        let d: Vec<&str> = dir.iter().map(String::as_str).collect();
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        if p.len() <= d.len() || p[..d.len()] != d[..] {
            return None;
        }
        &path[dir.len()..]
    };
    rest.first().filter(|s| siblings.contains(*s)).cloned()
}

#[test]
fn sibling_files_form_no_cycle() {
    let krate = load();
    // folder (as segments) → file stem → the siblings it uses
    let mut folders: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut stems: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for (rel, _) in &krate.files {
        let dir: Vec<String> = rel
            .parent()
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        let stem = rel.file_stem().unwrap().to_string_lossy().to_string();
        if !dir.is_empty() && stem != "mod" {
            stems.entry(dir.clone()).or_default().insert(stem.clone());
        }
        // A sibling folder (x/mod.rs) is a sibling module too.
        if stem == "mod" && dir.len() >= 2 {
            let parent = dir[..dir.len() - 1].to_vec();
            stems.entry(parent).or_default().insert(dir[dir.len() - 1].clone());
        }
    }
    for (rel, code) in &krate.files {
        let dir: Vec<String> = rel
            .parent()
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        let stem = rel.file_stem().unwrap().to_string_lossy().to_string();
        if dir.is_empty() || stem == "mod" {
            continue;
        }
        let Some(sibs) = stems.get(&dir) else { continue };
        let mut uses = BTreeSet::new();
        for p in crate_paths(code) {
            if let Some(s) = sibling(&p, &dir, sibs, false) {
                uses.insert(s);
            }
        }
        let mut rest = code.as_str();
        while let Some(at) = rest.find("super::") {
            let before = rest[..at].chars().last();
            rest = &rest[at + "super::".len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let items = match rest.strip_prefix('{') {
                Some(g) => split_top(&g[..matching_brace(g)])
                    .into_iter()
                    .map(|s| segments(s.trim()))
                    .collect(),
                None => vec![segments(rest)],
            };
            for p in items {
                if let Some(s) = sibling(&p, &dir, sibs, true) {
                    uses.insert(s);
                }
            }
        }
        uses.remove(&stem);
        folders.entry(dir).or_default().insert(stem, uses);
    }
    let mut cycles = Vec::new();
    for (dir, graph) in &folders {
        // Depth-first search for a back edge; report the cycle's files.
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            stack: &mut Vec<String>,
            done: &mut BTreeSet<String>,
            found: &mut Vec<Vec<String>>,
        ) {
            if let Some(i) = stack.iter().position(|s| s == n) {
                found.push(stack[i..].to_vec());
                return;
            }
            if !done.insert(n.to_string()) {
                return;
            }
            stack.push(n.to_string());
            for m in g.get(n).into_iter().flatten() {
                visit(m, g, stack, done, found);
            }
            stack.pop();
        }
        let mut done = BTreeSet::new();
        let mut found = Vec::new();
        for n in graph.keys() {
            visit(n, graph, &mut Vec::new(), &mut done, &mut found);
        }
        for c in found {
            let files: Vec<String> = c.iter().map(|s| format!("src/{}/{s}.rs", dir.join("/"))).collect();
            cycles.push(format!("{} → {}", files.join(" → "), files[0]));
        }
    }
    assert!(
        cycles.is_empty(),
        "sibling files use each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_scanner_reads_paths_as_written() {
    // (code, expected crate paths)
    let cases: [(&str, Vec<Vec<&str>>); 5] = [
        ("use crate::core::time::Clock;", vec![vec!["core", "time", "Clock"]]),
        (
            "use crate::{Error, serve::tick::{tick, TickContext}};",
            vec![vec!["Error"], vec!["serve", "tick"]],
        ),
        ("let x = \"crate::serve\"; // crate::cli", vec![]),
        (
            "let y = my_crate::serve::x; crate::r#loop::f()",
            vec![vec!["loop", "f"]],
        ),
        (
            "/* crate::cli */ crate::plan::horizontal::plan(1)",
            vec![vec!["plan", "horizontal", "plan"]],
        ),
    ];
    for (code, want) in cases {
        let got = crate_paths(&code_only(code));
        let want: Vec<Vec<String>> = want
            .into_iter()
            .map(|p| p.into_iter().map(String::from).collect())
            .collect();
        assert_eq!(got, want, "{code}");
    }
}
