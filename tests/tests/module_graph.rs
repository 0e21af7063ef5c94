//! No module of a workspace crate imports a module that imports it back.
//!
//! Each `.rs` file under a crate's `src/` is a module (`lib.rs` the root, `a/mod.rs` and `a.rs`
//! the module `a`, `a/b.rs` the module `a::b`; `main.rs` is the binary, another crate). A
//! module uses another when it names it or one of its items: in a `use` declaration (groups
//! expanded), or in a path in the code that starts with `crate::`, `super::`, `self::` or the
//! name of a child module the file declares. A path is resolved to the deepest module it names,
//! so `use crate::libpod::query::Query` is an edge to `libpod::query`, not to `libpod`; a name
//! a module re-exports resolves on to the module it comes from, so `use super::Route`, where the
//! parent says `pub use route::Route`, is an edge to `route`, not to the parent.
//! Inline modules (`mod tests { … }`) belong to their file; their `super::` is the file itself.
//! Comments and string literals are skipped.
//!
//! Re-exporting an item of one's own submodule (`pub use child::Item`, or `pub(crate) use`)
//! declares the module's public face: it is no use of the child. The module uses the child when
//! its own code names the item. So a parent that declares its children and re-exports their
//! items, with children that use each other's items through those re-exports, has no cycle,
//! while a child using an item the parent defines, with a parent whose code uses the child, has.
//!
//! A set of modules that reach each other (a strongly connected component of more than one
//! module; at its smallest, two modules that use each other) is a cycle, and the test names its
//! modules and the edges between them. There are none.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside its crate (`[]` is the crate root).
type ModPath = Vec<String>;

/// The crates whose modules are checked.
const CRATES: [&str; 4] = ["config", "gocompat", "composer", "proxy"];

#[test]
fn no_workspace_crate_has_modules_that_import_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut report = String::new();
    for krate in CRATES {
        let graph = Graph::of_crate(&root.join(krate).join("src"));
        assert!(
            graph.modules.len() > 5,
            "{krate}: only {} modules found",
            graph.modules.len()
        );
        for cycle in graph.cycles() {
            report.push_str(&format!("{krate}: {}\n", graph.describe(&cycle)));
        }
    }
    assert!(
        report.is_empty(),
        "modules that import each other:\n{report}"
    );
}

#[test]
fn the_checker_finds_a_cycle_through_groups_and_parents() {
    let graph = graph_of(&[
        ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
        ("main.rs", "use crate::c::C;\nfn main() {}\n"),
        // `a` names `b` through a group, `b` names `a` and an item of `a`'s child module.
        (
            "a/mod.rs",
            "pub mod inner;\nuse crate::{b::{self, B}, c};\npub struct A;\n",
        ),
        ("a/inner.rs", "pub fn f() -> crate::b::B { todo!() }\n"),
        (
            "b.rs",
            "// use crate::c; (a comment, not an edge)\npub struct B(crate::a::A);\nfn g() { let _ = \"crate::c\"; super::a::inner::f(); }\n",
        ),
        (
            "c.rs",
            "pub struct C;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]);
    assert_eq!(cycle_names(&graph), [["a", "a::inner", "b"]]);
    // The comment, the string, `main.rs` and the test module's `super::*` are no edges.
    assert!(!graph.edges[&module("b")].contains(&module("c")));
    assert!(graph.edges[&module("c")].is_empty());
    assert!(graph.edges[&Vec::new()].is_empty());
}

#[test]
fn re_exports_declare_and_lead_on_to_the_module_they_name() {
    let graph = graph_of(&[
        ("lib.rs", "pub mod p;\npub mod q;\n"),
        // `p` declares its children and re-exports their items (one renamed, one a module);
        // `p::a` uses `p::b`'s item through `p`'s re-export.
        (
            "p/mod.rs",
            "mod a;\nmod b;\npub use a::A;\npub(crate) use b::{self, B as Bee};\n",
        ),
        ("p/a.rs", "use super::Bee;\npub struct A(Bee);\n"),
        ("p/b.rs", "pub struct B;\n"),
        // `q`'s own code names the item it re-exports from `c`, and `c` uses an item `q` defines.
        (
            "q/mod.rs",
            "mod c;\npub use c::C;\npub struct Q;\nfn make() -> C { todo!() }\n",
        ),
        ("q/c.rs", "pub struct C(super::Q);\n"),
    ]);
    assert!(graph.edges[&module("p")].is_empty());
    assert_eq!(
        graph.edges[&module("p::a")],
        BTreeSet::from([module("p::b")])
    );
    assert_eq!(cycle_names(&graph), [["q", "q::c"]]);
}

/// The graph of a crate whose `src/` holds `files` (path under `src/`, text).
fn graph_of(files: &[(&str, &str)]) -> Graph {
    let dir = tempfile::tempdir().expect("temp dir");
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    Graph::of_crate(dir.path())
}

/// The module written `a::b`.
fn module(path: &str) -> ModPath {
    path.split("::").map(String::from).collect()
}

/// The graph's cycles, each as its modules' names.
fn cycle_names(graph: &Graph) -> Vec<Vec<String>> {
    graph
        .cycles()
        .iter()
        .map(|cycle| cycle.iter().map(display).collect())
        .collect()
}

/// The modules of one crate and the modules each depends on.
struct Graph {
    modules: BTreeSet<ModPath>,
    edges: BTreeMap<ModPath, BTreeSet<ModPath>>,
}

impl Graph {
    fn of_crate(src: &Path) -> Graph {
        let files = rust_files(src);
        let modules: BTreeSet<ModPath> = files.iter().map(|f| module_of(src, f)).collect();
        let scans: BTreeMap<ModPath, Scan> = files
            .iter()
            .map(|file| {
                let module = module_of(src, file);
                let text = std::fs::read_to_string(file).expect("read source");
                let scan = scan(&module, &tokens(&strip(&text)));
                (module, scan)
            })
            .collect();
        let names = Names {
            modules: &modules,
            exports: scans
                .values()
                .flat_map(|scan| &scan.exports)
                .map(|export| ((export.here.clone(), export.name.clone()), export))
                .collect(),
        };
        let edges = scans
            .iter()
            .map(|(module, scan)| (module.clone(), names.uses(module, scan)))
            .collect();
        Graph { modules, edges }
    }

    /// Every strongly connected component of more than one module, each sorted.
    fn cycles(&self) -> Vec<Vec<ModPath>> {
        let reach = |from: &ModPath| -> BTreeSet<ModPath> {
            let mut seen = BTreeSet::new();
            let mut todo = vec![from.clone()];
            while let Some(m) = todo.pop() {
                for t in self.edges.get(&m).into_iter().flatten() {
                    if seen.insert(t.clone()) {
                        todo.push(t.clone());
                    }
                }
            }
            seen
        };
        let reachable: BTreeMap<&ModPath, BTreeSet<ModPath>> =
            self.modules.iter().map(|m| (m, reach(m))).collect();
        let mut done = BTreeSet::new();
        let mut cycles = Vec::new();
        for m in &self.modules {
            if done.contains(m) || !reachable[m].contains(m) {
                continue;
            }
            let component: Vec<ModPath> = self
                .modules
                .iter()
                .filter(|o| reachable[m].contains(*o) && reachable[*o].contains(m))
                .cloned()
                .collect();
            done.extend(component.iter().cloned());
            cycles.push(component);
        }
        cycles
    }

    /// The edges among the modules of `cycle`.
    fn describe(&self, cycle: &[ModPath]) -> String {
        let members: BTreeSet<&ModPath> = cycle.iter().collect();
        let edges: Vec<String> = cycle
            .iter()
            .flat_map(|from| {
                self.edges[from]
                    .iter()
                    .filter(|to| members.contains(to))
                    .map(move |to| format!("{} -> {}", display(from), display(to)))
            })
            .collect();
        edges.join(", ")
    }
}

fn display(m: &ModPath) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// The library's source files: every `.rs` file under `dir` but the binary's `main.rs`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && path != dir.join("main.rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module a file under `src` defines.
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("file name");
    match last.as_str() {
        "mod.rs" => {}
        "lib.rs" if parts.is_empty() => {}
        _ => parts.push(last.trim_end_matches(".rs").to_string()),
    }
    parts
}

/// `text` without comments and with every string and char literal emptied.
fn strip(text: &str) -> String {
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
            b'r' if raw_string_hashes(&b[i..]).is_some() && !ident_byte(b, i) => {
                let hashes = raw_string_hashes(&b[i..]).unwrap_or(0);
                let close: Vec<u8> = std::iter::once(b'"')
                    .chain(std::iter::repeat_n(b'#', hashes))
                    .collect();
                i += 2 + hashes;
                while i < b.len() && !b[i..].starts_with(&close) {
                    i += 1;
                }
                i += close.len();
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A char literal ('x', '\n', '\u{..}'); a lifetime (`'a`) has no closing quote.
            b'\'' if char_literal_len(&b[i..]).is_some() => {
                i += char_literal_len(&b[i..]).unwrap_or(1);
                out.push_str("' '");
            }
            _ => {
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + len]);
                i += len;
            }
        }
    }
    out
}

/// True when the byte before `i` continues an identifier (so `r` is not a raw-string prefix).
fn ident_byte(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The number of `#` of a raw string starting at `s` (`r"`, `r#"`, …).
fn raw_string_hashes(s: &[u8]) -> Option<usize> {
    let hashes = s[1..].iter().take_while(|&&c| c == b'#').count();
    (s.get(1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The length of the char literal starting at `s`, if one does.
fn char_literal_len(s: &[u8]) -> Option<usize> {
    if s.get(1) == Some(&b'\\') {
        let end = s[2..].iter().position(|&c| c == b'\'')?;
        return Some(end + 3);
    }
    let ch = std::str::from_utf8(&s[1..s.len().min(6)])
        .ok()
        .or_else(|| std::str::from_utf8(&s[1..]).ok())?
        .chars()
        .next()?;
    let len = ch.len_utf8();
    (s.get(1 + len) == Some(&b'\'')).then_some(len + 2)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Ident(text[i..end].to_string()));
        } else if c == ':' && chars.peek().map(|&(_, d)| d) == Some(':') {
            chars.next();
            out.push(Token::PathSep);
        } else if !c.is_whitespace() {
            out.push(Token::Punct(c));
        }
    }
    out
}

/// A path a file names.
struct Named {
    /// The module the path is written in: the file's, or an inline module in it.
    here: ModPath,
    path: Vec<String>,
    /// The path is that of a re-export (`pub use`, `pub(crate) use`, …).
    reexport: bool,
}

/// A name a module re-exports, and the path it re-exports.
struct Export {
    here: ModPath,
    name: String,
    path: Vec<String>,
}

/// What one file says about other modules.
struct Scan {
    paths: Vec<Named>,
    exports: Vec<Export>,
    /// Identifiers the file's code uses on their own (not after `::` or `.`), outside `use`
    /// and `mod` declarations: where the file uses a name it re-exports.
    bare: BTreeSet<String>,
}

/// The paths, re-exports and bare identifiers of the file of `module`.
fn scan(module: &ModPath, tokens: &[Token]) -> Scan {
    // Child modules declared in the file (`mod x;`), which bare paths may start with.
    let children: BTreeSet<&str> = tokens
        .windows(3)
        .filter_map(|w| match w {
            [Token::Ident(m), Token::Ident(name), Token::Punct(';')] if m == "mod" => {
                Some(name.as_str())
            }
            _ => None,
        })
        .collect();
    let mut out = Scan {
        paths: Vec::new(),
        exports: Vec::new(),
        bare: BTreeSet::new(),
    };
    // The inline modules the scan is in, with the brace depth each opened at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let here: ModPath = module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        match &tokens[i] {
            Token::Ident(k) if k == "mod" => match (tokens.get(i + 1), tokens.get(i + 2)) {
                (Some(Token::Ident(name)), Some(Token::Punct('{'))) => {
                    depth += 1;
                    inline.push((name.clone(), depth));
                    i += 3;
                    continue;
                }
                // `mod x;` declares; its name is no use.
                (Some(Token::Ident(_)), _) => {
                    i += 2;
                    continue;
                }
                _ => {}
            },
            Token::Ident(k) if k == "use" => {
                let end = tokens[i..]
                    .iter()
                    .position(|t| *t == Token::Punct(';'))
                    .map_or(tokens.len(), |p| i + p);
                let reexport = is_public(&tokens[..i]);
                for (path, binds) in use_paths(&tokens[i + 1..end]) {
                    if let (true, Some(name)) = (reexport, binds) {
                        out.exports.push(Export {
                            here: here.clone(),
                            name,
                            path: path.clone(),
                        });
                    }
                    out.paths.push(Named {
                        here: here.clone(),
                        path,
                        reexport,
                    });
                }
                i = end + 1;
                continue;
            }
            Token::Ident(first)
                if matches!(first.as_str(), "crate" | "super" | "self")
                    || children.contains(first.as_str()) =>
            {
                let preceded_by_sep = i > 0 && tokens[i - 1] == Token::PathSep;
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while let (Some(Token::PathSep), Some(Token::Ident(seg))) =
                    (tokens.get(j), tokens.get(j + 1))
                {
                    path.push(seg.clone());
                    j += 2;
                }
                if !preceded_by_sep && path.len() > 1 {
                    out.paths.push(Named {
                        here: here.clone(),
                        path,
                        reexport: false,
                    });
                }
                i = j;
                continue;
            }
            Token::Ident(name) => {
                let before = i.checked_sub(1).map(|p| &tokens[p]);
                if !matches!(before, Some(Token::PathSep | Token::Punct('.'))) {
                    out.bare.insert(name.clone());
                }
            }
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// True when the tokens before a `use` make it public: `pub`, or `pub(…)`.
fn is_public(before: &[Token]) -> bool {
    let rest = match before.last() {
        Some(Token::Punct(')')) => {
            let open = before.iter().rposition(|t| *t == Token::Punct('('));
            &before[..open.unwrap_or(0)]
        }
        _ => before,
    };
    matches!(rest.last(), Some(Token::Ident(p)) if p == "pub")
}

/// The modules of a crate and the names they re-export, to resolve paths with.
struct Names<'a> {
    modules: &'a BTreeSet<ModPath>,
    /// Each re-export, by the module it is declared in and the name it binds.
    exports: BTreeMap<(ModPath, String), &'a Export>,
}

impl Names<'_> {
    /// The modules the file of `module` uses (itself excluded): what its paths name, less its
    /// re-exports of its own submodules' items, plus those items where its code names them.
    fn uses(&self, module: &ModPath, scan: &Scan) -> BTreeSet<ModPath> {
        let declared_below =
            |target: &ModPath| target.len() > module.len() && target.starts_with(module);
        let paths = scan.paths.iter().filter_map(|named| {
            let target = self.resolve(&named.here, &named.path)?;
            (!(named.reexport && declared_below(&target))).then_some(target)
        });
        let used_exports = scan
            .exports
            .iter()
            .filter(|export| scan.bare.contains(&export.name))
            .filter_map(|export| self.resolve(&export.here, &export.path));
        paths
            .chain(used_exports)
            .filter(|target| target != module)
            .collect()
    }

    /// The deepest module of the crate that `path`, written in module `here`, names; a name a
    /// module re-exports leads on to the module the re-export names.
    fn resolve(&self, here: &ModPath, path: &[String]) -> Option<ModPath> {
        self.resolve_within(here, path, 0)
    }

    fn resolve_within(&self, here: &ModPath, path: &[String], hops: usize) -> Option<ModPath> {
        let mut base = here.clone();
        let mut rest = path;
        match path.first()?.as_str() {
            "crate" => {
                base.clear();
                rest = &path[1..];
            }
            "self" => rest = &path[1..],
            "super" => {
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            _ => {}
        }
        // Inline modules are no files: a path from inside one starts at the file that holds it.
        while !self.modules.contains(&base) && !base.is_empty() {
            base.pop();
        }
        let mut target = base;
        for seg in rest {
            let mut deeper = target.clone();
            deeper.push(seg.clone());
            if self.modules.contains(&deeper) {
                target = deeper;
                continue;
            }
            // A bound on the hops keeps a misread loop of re-exports finite.
            let export = self.exports.get(&(target.clone(), seg.clone()));
            match export.filter(|_| hops < 16) {
                Some(export) => {
                    target = self.resolve_within(&export.here, &export.path, hops + 1)?;
                }
                None => break,
            }
        }
        Some(target)
    }
}

/// The paths of a `use` tree (the tokens between `use` and `;`), groups expanded, each with
/// the name it binds (its alias, or its last segment; none for `as _` and globs, whose names
/// the scan does not know).
fn use_paths(tree: &[Token]) -> Vec<(Vec<String>, Option<String>)> {
    fn walk(tree: &[Token], prefix: &[String], out: &mut Vec<(Vec<String>, Option<String>)>) {
        let mut path = prefix.to_vec();
        let mut alias = None;
        let mut glob = false;
        let mut i = 0;
        while i < tree.len() {
            match &tree[i] {
                // `as NAME`: the alias is no path segment, but the name bound.
                Token::Ident(k) if k == "as" => {
                    if let Some(Token::Ident(name)) = tree.get(i + 1) {
                        alias = Some(name.clone());
                    }
                    i += 1;
                }
                Token::Ident(seg) => path.push(seg.clone()),
                Token::Punct('*') => glob = true,
                Token::Punct('{') => {
                    let mut depth = 0;
                    let mut start = i + 1;
                    for (j, token) in tree.iter().enumerate().skip(i) {
                        match token {
                            Token::Punct('{') => depth += 1,
                            Token::Punct('}') => {
                                depth -= 1;
                                if depth == 0 {
                                    walk(&tree[start..j], &path, out);
                                    break;
                                }
                            }
                            Token::Punct(',') if depth == 1 => {
                                walk(&tree[start..j], &path, out);
                                start = j + 1;
                            }
                            _ => {}
                        }
                    }
                    return;
                }
                _ => {}
            }
            i += 1;
        }
        if path.len() > prefix.len() || !prefix.is_empty() {
            // `a::{self}` binds `a`.
            let last = path.iter().rev().find(|seg| *seg != "self").cloned();
            let binds = alias.or(last).filter(|name| name != "_" && !glob);
            out.push((path, binds));
        }
    }
    let mut out = Vec::new();
    let tree = match tree.first() {
        Some(Token::PathSep) => &tree[1..],
        _ => tree,
    };
    walk(tree, &[], &mut out);
    out
}
