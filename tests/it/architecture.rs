//! The shape of the code, checked (docs/architecture.md): within each crate the files form a DAG (no
//! file imports one that imports it), and no source file is over 900 lines.
//!
//! The import graph is read from the source text: a file imports another when it names a path into
//! it (`use crate::a::b`, `super::x`, `crate::a::f()`, or a child module's name), where a name a
//! module re-exports (`pub use b::X`) counts as the module that defines it. Paths within one file
//! (its inline modules, `use super::*` in its tests) are not edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each crate's source folder: the workspace's members and the root package.
fn crates() -> Vec<PathBuf> {
    let root = crate::manifest_dir();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = manifest.lines().find(|l| l.starts_with("members")).expect("workspace members");
    let mut dirs: Vec<PathBuf> = members.split('"').skip(1).step_by(2).map(|m| root.join(m).join("src")).collect();
    dirs.push(root.join("src"));
    dirs
}

/// Source text without comments, strings and character literals (which could hold a `crate::`).
fn code_of(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                // A raw string: r"…" or r#"…"#.
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    if j >= b.len() {
                        break;
                    }
                    if b[j] == b'"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&b'#')) {
                        j += 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                out.push_str("\"\"");
                i = j;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            b'\'' if b.get(i + 1) == Some(&b'\\') || b.get(i + 2) == Some(&b'\'') => {
                // A character literal ('"', '\'', '\u{..}'); lifetimes are left alone.
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("' '");
            }
            _ => {
                // Whole UTF-8 characters.
                let c = text[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The paths a use tree names: `a::{b, c::{d, e}}` gives `a::b`, `a::c::d`, `a::c::e`; a renamed
/// one (`a::b as c`) comes as `a::b@c`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ").replace(" as ", "@");
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree.trim_end_matches("::").to_string()];
    };
    let prefix = &tree[..open];
    let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut current) = (0, String::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| {
            if p == "self" { vec![prefix.trim_end_matches("::").to_string()] } else { expand(&format!("{prefix}{p}")) }
        })
        .collect()
}

/// One source file: its module path (`a::b`, `""` for the crate root) and its code.
struct File {
    module: Vec<String>,
    code: String,
    path: PathBuf,
}

fn files_of(src: &Path) -> Vec<File> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(src, &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src).unwrap().with_extension("");
            let mut module: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
            if module.last().is_some_and(|m| m == "mod")
                || (module.len() == 1 && (module[0] == "lib" || module[0] == "main"))
            {
                module.pop();
            }
            let code = code_of(&std::fs::read_to_string(&p).unwrap());
            File { module, code, path: p }
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The import graph of one crate's files: file index → the files it imports.
fn graph(files: &[File]) -> BTreeMap<usize, BTreeSet<usize>> {
    let by_module: BTreeMap<&[String], usize> =
        files.iter().enumerate().map(|(i, f)| (f.module.as_slice(), i)).collect();
    // Names each file re-exports, with the absolute path they come from.
    let uses: Vec<Vec<(usize, bool, String, String)>> = files.iter().map(|f| use_trees(&f.code)).collect();
    let inline: Vec<Vec<(usize, usize)>> = files.iter().map(|f| inline_modules(&f.code)).collect();
    let depth = |file: usize, at: usize| inline[file].iter().filter(|(a, b)| *a <= at && at < *b).count();
    // `depth`: the inline modules (`mod tests { … }`) around the path; their `self`, `super` and
    // children are within the file.
    let absolute = |file: usize, depth: usize, path: &str| -> Option<Vec<String>> {
        let mut segs: Vec<String> = path.split("::").filter(|s| !s.is_empty() && *s != "*").map(String::from).collect();
        let here = &files[file].module;
        let first = segs.first()?.clone();
        Some(match first.as_str() {
            "crate" => segs.split_off(1),
            "self" if depth > 0 => return None,
            "self" => here.iter().cloned().chain(segs.into_iter().skip(1)).collect(),
            "super" => {
                let ups = segs.iter().take_while(|s| *s == "super").count();
                let ups = ups.checked_sub(depth).filter(|u| *u > 0)?;
                let base = here.len().checked_sub(ups)?;
                here[..base].iter().cloned().chain(segs.into_iter().skip(ups + depth)).collect()
            }
            _ if depth > 0 => return None,
            // A child module of this file's module, named bare.
            _ => {
                let mut child = here.clone();
                child.push(first);
                if !by_module.contains_key(child.as_slice()) {
                    return None;
                }
                here.iter().cloned().chain(segs).collect()
            }
        })
    };
    // `None`: re-exported from another crate (no edge within this one).
    let mut reexports: BTreeMap<usize, BTreeMap<String, Option<Vec<String>>>> = BTreeMap::new();
    for (i, us) in uses.iter().enumerate() {
        for (at, public, path, name) in us {
            if !public || name.is_empty() || name == "*" {
                continue;
            }
            let abs = absolute(i, depth(i, *at), path);
            reexports.entry(i).or_default().insert(name.clone(), abs);
        }
    }
    // The file that defines what an absolute path names, following re-exports.
    fn resolve(
        mut segs: Vec<String>,
        by_module: &BTreeMap<&[String], usize>,
        reexports: &BTreeMap<usize, BTreeMap<String, Option<Vec<String>>>>,
        hops: usize,
    ) -> Option<usize> {
        for n in (0..=segs.len()).rev() {
            if let Some(&file) = by_module.get(&segs[..n]) {
                if hops < 8
                    && let Some(next) = segs.get(n)
                    && let Some(target) = reexports.get(&file).and_then(|r| r.get(next))
                {
                    let Some(target) = target else { return None };
                    if target != &segs {
                        let mut followed = target.clone();
                        followed.extend(segs.drain(n + 1..));
                        return resolve(followed, by_module, reexports, hops + 1).or(Some(file));
                    }
                }
                return Some(file);
            }
        }
        None
    }
    let mut g: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let mut paths: Vec<(usize, String)> = uses[i].iter().map(|(at, _, p, _)| (*at, p.clone())).collect();
        paths.extend(inline_paths(&f.code));
        for (at, p) in paths {
            let Some(abs) = absolute(i, depth(i, at), &p) else { continue };
            let Some(target) = resolve(abs, &by_module, &reexports, 0) else { continue };
            if target != i {
                g.entry(i).or_default().insert(target);
            }
        }
    }
    g
}

/// The use trees of a file: (offset, public, path, the name it brings in) per path named.
fn use_trees(code: &str) -> Vec<(usize, bool, String, String)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("use ") {
        let at = from + found;
        let before = &code[..at];
        let starts_item = before.chars().last().is_none_or(|c| !is_ident(c));
        let public = before.trim_end().ends_with("pub") || before.trim_end().ends_with(')');
        let Some(end) = code[at + 4..].find(';') else { break };
        if starts_item {
            for p in expand(&code[at + 4..at + 4 + end]) {
                let (path, name) = match p.split_once('@') {
                    Some((path, alias)) => (path.to_string(), alias.to_string()),
                    None => (p.clone(), p.rsplit("::").next().unwrap_or_default().to_string()),
                };
                out.push((at, public, path, name));
            }
        }
        from = at + 4 + end;
    }
    out
}

/// The byte ranges of a file's inline modules (`mod name { … }`).
fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("mod ") {
        let at = from + found;
        from = at + 4;
        if at > 0 && is_ident(b[at - 1] as char) {
            continue;
        }
        let mut j = at + 4;
        while j < b.len() && is_ident(b[j] as char) {
            j += 1;
        }
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) != Some(&b'{') {
            continue;
        }
        let mut depth = 0;
        let mut k = j;
        while k < b.len() {
            match b[k] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        out.push((j, k));
    }
    out
}

/// Paths written in code, with their offsets: `crate::…`, `super::…`, `self::…` and `ident::…`
/// (bare, possibly a child module).
fn inline_paths(code: &str) -> Vec<(usize, String)> {
    // Bytes as characters: identifiers are ASCII, and any other byte ends one.
    let chars: Vec<char> = code.bytes().map(|b| if b.is_ascii() { b as char } else { ' ' }).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let mut j = i;
            let mut path = String::new();
            loop {
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                path.extend(&chars[start..j]);
                if j + 2 < chars.len() && chars[j] == ':' && chars[j + 1] == ':' && is_ident(chars[j + 2]) {
                    path.push_str("::");
                    j += 2;
                } else {
                    break;
                }
            }
            if path.contains("::") {
                out.push((i, path));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The cycles of a graph: its strongly connected components of more than one file.
fn cycles(n: usize, g: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    // Kosaraju: finish order on g, then components on the reversed graph.
    fn visit(v: usize, g: &BTreeMap<usize, BTreeSet<usize>>, seen: &mut Vec<bool>, order: &mut Vec<usize>) {
        seen[v] = true;
        for &w in g.get(&v).into_iter().flatten() {
            if !seen[w] {
                visit(w, g, seen, order);
            }
        }
        order.push(v);
    }
    let mut seen = vec![false; n];
    let mut order = Vec::new();
    for v in 0..n {
        if !seen[v] {
            visit(v, g, &mut seen, &mut order);
        }
    }
    let mut reversed: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (&v, ws) in g {
        for &w in ws {
            reversed.entry(w).or_default().insert(v);
        }
    }
    let mut seen = vec![false; n];
    let mut out = Vec::new();
    for &v in order.iter().rev() {
        if seen[v] {
            continue;
        }
        let mut component = Vec::new();
        visit(v, &reversed, &mut seen, &mut component);
        if component.len() > 1 {
            component.sort_unstable();
            out.push(component);
        }
    }
    out
}

fn cycles_of(files: &[File]) -> Vec<Vec<String>> {
    let g = graph(files);
    cycles(files.len(), &g)
        .into_iter()
        .map(|c| c.into_iter().map(|i| files[i].path.display().to_string()).collect())
        .collect()
}

#[test]
fn the_files_of_every_crate_form_a_dag() {
    let mut found = Vec::new();
    for src in crates() {
        let files = files_of(&src);
        assert!(files.len() > 1 || src.ends_with("generate/src") || !files.is_empty(), "{}", src.display());
        found.extend(cycles_of(&files));
    }
    assert!(found.is_empty(), "files importing each other (directly or round a loop): {found:#?}");
}

#[test]
fn no_source_file_is_over_900_lines() {
    let root = crate::manifest_dir();
    let mut long = Vec::new();
    for src in crates() {
        let crate_dir = src.parent().unwrap().to_path_buf();
        for dir in ["src", "tests", "benches"] {
            let dir = crate_dir.join(dir);
            if !dir.is_dir() || (crate_dir == root && dir.ends_with("src") && dir != root.join("src")) {
                continue;
            }
            for f in files_of(&dir) {
                let lines = std::fs::read_to_string(&f.path).unwrap().lines().count();
                if lines > 900 {
                    long.push(format!("{} ({lines} lines)", f.path.display()));
                }
            }
        }
    }
    assert!(long.is_empty(), "over 900 lines: {long:?}");
}

/// The check finds what it is for: a cycle through a re-export, a cycle through `super`, and none
/// where a module only re-exports its children.
#[test]
fn the_import_check_finds_planted_cycles() {
    let file = |module: &str, text: &str| File {
        module: module.split("::").filter(|s| !s.is_empty()).map(String::from).collect(),
        code: code_of(text),
        path: PathBuf::from(if module.is_empty() { "lib.rs".to_string() } else { format!("{module}.rs") }),
    };
    let clean = [
        file("", "mod a; mod b; pub use a::Thing; pub use b::Other;"),
        file("a", "// use crate::b; (a comment)\nconst S: &str = \"crate::b::X\";\npub struct Thing;"),
        file("b", "use crate::Thing; pub struct Other(Thing);"),
    ];
    assert!(cycles_of(&clean).is_empty(), "{:?}", cycles_of(&clean));
    let through_reexport = [
        file("", "mod a; mod b; pub use a::Thing;"),
        file("a", "pub struct Thing(crate::b::Other);"),
        file("b", "use crate::Thing; pub struct Other(Box<Thing>);"),
    ];
    assert_eq!(cycles_of(&through_reexport), vec![vec!["a.rs".to_string(), "b.rs".to_string()]]);
    let through_super = [
        file("", "mod p;"),
        file("p", "mod c; pub use c::C; pub struct P;"),
        file("p::c", "use super::P; pub struct C(P);"),
    ];
    assert_eq!(cycles_of(&through_super), vec![vec!["p.rs".to_string(), "p::c.rs".to_string()]]);
    let renamed = [
        file("", "mod a; pub use other_crate as a_name; pub use a::F;"),
        file("a", "use crate::a_name::X; pub struct F;"),
    ];
    assert!(cycles_of(&renamed).is_empty(), "a name re-exported from another crate is no edge");
    let tests_inline = [file("", "mod a;"), file("a", "pub fn f() {}\nmod tests { use super::*; }")];
    assert!(cycles_of(&tests_inline).is_empty());
}
