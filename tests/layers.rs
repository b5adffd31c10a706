//! The house keeps its layers: every import points down the map written at
//! the top of `src/lib.rs` (and copied in `docs/development.md`), siblings of
//! a layer never import each other, and no files import each other in a
//! loop, in the orchestrator or in the workspace's other crates.
//!
//! Imports are read from the source: `use crate::…`, `use super::…`,
//! `use self::…`, `use child::…` of a `mod child;` declared in the file (a
//! folder's face re-exporting its pieces), grouped forms too, and paths
//! written inline (`crate::log::Line::warn(…)`). Comments, strings and `#[cfg(test)]`
//! modules are not part of the house. A failure names the two files.

#[path = "layers/reader.rs"]
mod reader;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use reader::{code_of, declared_modules, paths_used, segments};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One crate's source: module path (`["engine", "pool"]`) -> file.
struct Crate {
    modules: BTreeMap<Vec<String>, PathBuf>,
}

impl Crate {
    /// Every module file under `src`, reached from `root_file` through `mod` lines.
    fn read(src: &Path, root_file: &str) -> Crate {
        let mut modules = BTreeMap::new();
        let mut todo = vec![(Vec::new(), src.join(root_file))];
        while let Some((path, file)) = todo.pop() {
            let code = code_of(&std::fs::read_to_string(&file).unwrap());
            let dir = if path.is_empty() || file.ends_with("mod.rs") {
                file.parent().unwrap().to_path_buf()
            } else {
                file.with_extension("")
            };
            for child in declared_modules(&code) {
                let candidates = [
                    dir.join(format!("{child}.rs")),
                    dir.join(&child).join("mod.rs"),
                ];
                if let Some(found) = candidates.into_iter().find(|c| c.exists()) {
                    let mut sub = path.clone();
                    sub.push(child);
                    todo.push((sub, found));
                }
            }
            modules.insert(path, file);
        }
        Crate { modules }
    }

    /// The file of the longest prefix of `path` that is a module.
    fn resolve(&self, path: &[String]) -> Option<&PathBuf> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n]))
    }

    /// file -> the files it imports (itself left out).
    fn imports(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut out = BTreeMap::new();
        for (module, file) in &self.modules {
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            let children = declared_modules(&code);
            let mut to = BTreeSet::new();
            for path in paths_used(&code, &children) {
                let absolute = match path.first().map(String::as_str) {
                    Some("crate") => path[1..].to_vec(),
                    Some("super") => {
                        let mut base = module.clone();
                        let mut rest = &path[..];
                        while rest.first().map(String::as_str) == Some("super") {
                            base.pop();
                            rest = &rest[1..];
                        }
                        base.extend(rest.iter().cloned());
                        base
                    }
                    Some("self") => {
                        let mut base = module.clone();
                        base.extend(path[1..].iter().cloned());
                        base
                    }
                    // `pub use child::X;` of a `mod child;` declared here.
                    Some(first) if children.iter().any(|c| c == first) => {
                        let mut base = module.clone();
                        base.extend(path.iter().cloned());
                        base
                    }
                    _ => continue,
                };
                if let Some(target) = self.resolve(&absolute) {
                    if target != file {
                        to.insert(target.clone());
                    }
                }
            }
            out.insert(file.clone(), to);
        }
        out
    }
}

/// The layers of `lib.rs`'s map: top-level module -> its layer.
fn map(text: &str) -> (String, BTreeMap<String, u32>) {
    let lines: Vec<String> = text
        .split("```text")
        .skip(1)
        .map(|block| {
            let block = &block[..block.find("```").unwrap_or(block.len())];
            block
                .lines()
                .map(|l| l.trim_start_matches("//!").trim().to_string())
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
        })
        .find(|lines| lines.first().is_some_and(|l| l.starts_with("layer ")))
        .expect("a ```text block of layer lines");
    let mut layers = BTreeMap::new();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "layer", "map line {line:?}");
        let n: u32 = words[1].parse().unwrap();
        for module in &words[3..] {
            assert!(
                layers.insert(module.to_string(), n).is_none(),
                "{module} twice"
            );
        }
    }
    (lines.join("\n"), layers)
}

fn rel(p: &Path) -> String {
    p.strip_prefix(ROOT).unwrap_or(p).display().to_string()
}

/// A loop of files importing each other: its files, and one import in it.
fn cycles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<String> {
    let mut found = Vec::new();
    for (from, tos) in graph {
        for to in tos {
            // Does `to` reach `from`? Then from -> to is an import in a loop.
            let mut seen = BTreeSet::new();
            let mut todo = vec![to];
            while let Some(f) = todo.pop() {
                if f == from {
                    found.push(format!(
                        "{} imports {}, which imports it back",
                        rel(from),
                        rel(to)
                    ));
                    break;
                }
                if seen.insert(f) {
                    todo.extend(graph.get(f).into_iter().flatten());
                }
            }
        }
    }
    found
}

#[test]
fn imports_point_down_the_map_and_never_loop() {
    let src = Path::new(ROOT).join("src");
    let (block, layers) = map(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let krate = Crate::read(&src, "lib.rs");
    let module_of = |file: &Path| -> String {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        first.trim_end_matches(".rs").to_string()
    };
    let graph = krate.imports();
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        if from.ends_with("src/lib.rs") {
            continue;
        }
        let here = module_of(from);
        let Some(&mine) = layers.get(&here) else {
            wrong.push(format!("{} is in no layer of the map", rel(from)));
            continue;
        };
        for to in tos {
            let there = module_of(to);
            if there == here {
                continue;
            }
            match layers.get(&there) {
                Some(&theirs) if theirs < mine => {}
                Some(&theirs) => wrong.push(format!(
                    "{} (layer {mine}) imports {} (layer {theirs})",
                    rel(from),
                    rel(to)
                )),
                None => wrong.push(format!("{} imports {}, in no layer", rel(from), rel(to))),
            }
        }
    }
    wrong.extend(cycles(&graph));
    assert!(
        wrong.is_empty(),
        "the house is out of order:\n{}",
        wrong.join("\n")
    );
    let dev = std::fs::read_to_string(Path::new(ROOT).join("docs/development.md")).unwrap();
    assert_eq!(
        map(&dev).0,
        block,
        "docs/development.md's map differs from lib.rs's"
    );
}

#[test]
fn the_other_crates_have_no_loops() {
    for (dir, root) in [("bench", "main.rs"), ("demo", "main.rs"), ("sim", "lib.rs")] {
        let src = Path::new(ROOT).join(dir).join("src");
        if !src.join(root).exists() {
            continue;
        }
        let graph = Crate::read(&src, root).imports();
        let loops = cycles(&graph);
        assert!(loops.is_empty(), "{dir}:\n{}", loops.join("\n"));
    }
}

#[test]
fn the_reader_sees_what_the_compiler_sees() {
    let code = code_of(
        "use crate::{a, b::{c, d::E}};\n// use crate::x;\nlet s = \"crate::y\";\nfn f() { super::z::g(); crate::w::H::new() }\n#[cfg(test)]\nmod tests { use crate::t; }\nmod real;\npub use real::{X, Y};\nfn h() { real::f() }\n",
    );
    let mut paths = paths_used(&code, &declared_modules(&code));
    paths.sort();
    let want: Vec<Vec<String>> = [
        "crate::a",
        "crate::b::c",
        "crate::b::d::E",
        "crate::w::H::new",
        "real::X",
        "real::Y",
        "real::f",
        "super::z::g",
    ]
    .iter()
    .map(|p| segments(p))
    .collect();
    assert_eq!(paths, want);
    assert_eq!(declared_modules(&code), ["real"]);
    let mut graph = BTreeMap::new();
    graph.insert(PathBuf::from("a"), BTreeSet::from([PathBuf::from("b")]));
    graph.insert(PathBuf::from("b"), BTreeSet::from([PathBuf::from("a")]));
    assert_eq!(cycles(&graph).len(), 2);
}
