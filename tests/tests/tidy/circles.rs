//! No import circles: within each module folder, the sibling modules' uses of one
//! another (`super::x`, `crate::…::x`) form no cycle, so each can be read, tested
//! and moved on its own. Test code (`#[cfg(test)]` to the end of a file) and
//! comments do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The module folders whose siblings must not import in a circle, with the path
/// by which `crate::` names the folder's modules.
const FOLDERS: &[(&str, &str)] = &[
    ("core/src", "crate::"),
    ("core/src/api", "crate::api::"),
    ("core/src/exthost", "crate::exthost::"),
    ("core/src/operations", "crate::operations::"),
    ("core/src/profile", "crate::profile::"),
    ("core/src/store", "crate::store::"),
    ("server/src", "crate::"),
    ("server/src/e2b", "crate::e2b::"),
    ("cli/src", "crate::"),
    ("mcp/src", "crate::"),
    ("e2b/src", "crate::"),
    ("ext-e2b/src", "crate::"),
    ("ext-daytona/src", "crate::"),
    ("ext-protocol/src", "crate::"),
    ("ext-protocol/src/sdk", "crate::sdk::"),
    ("ext-compose-ssh/src", "crate::"),
    ("conformance/src", "crate::"),
    ("conformance/src/scenarios", "crate::scenarios::"),
];

/// A module's code without its tests and comments.
fn code_of(path: &Path) -> String {
    let mut files = vec![];
    if path.is_dir() {
        let mut stack = vec![path.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    files.push(p);
                }
            }
        }
    } else {
        files.push(path.to_path_buf());
    }
    let mut code = String::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// Whether `code` names sibling module `name` (as `super::name`, inside a
/// `super::{…}` group, or by its `crate::` path).
fn names(code: &str, name: &str, crate_path: &str) -> bool {
    let word_after = |text: &str, at: usize| {
        !text[at..]
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    };
    for prefix in ["super::", crate_path] {
        let needle = format!("{prefix}{name}");
        let starts_a_path = |at: usize| {
            !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
        };
        if code
            .match_indices(&needle)
            .any(|(at, _)| starts_a_path(at) && word_after(code, at + needle.len()))
        {
            return true;
        }
    }
    code.match_indices("super::{").any(|(at, _)| {
        let group = &code[at + 8..];
        let group = &group[..group.find('}').unwrap_or(group.len())];
        group
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == name)
    })
}

/// The strongly connected groups of more than one module (Tarjan).
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut group = vec![];
                while let Some(w) = self.stack.pop() {
                    group.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if group.len() > 1 {
                    group.sort();
                    self.found.push(group);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        found: vec![],
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

/// The uses among the sibling modules of `folder`.
fn graph_of(folder: &Path, crate_path: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(folder).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let module = path.is_dir() || path.extension().is_some_and(|e| e == "rs");
        if module && !["mod", "lib", "main"].contains(&name.as_str()) {
            modules.insert(name, code_of(&path));
        }
    }
    modules
        .iter()
        .map(|(name, code)| {
            let uses = modules
                .keys()
                .filter(|other| *other != name && names(code, other, crate_path))
                .cloned()
                .collect();
            (name.clone(), uses)
        })
        .collect()
}

#[test]
fn no_module_folder_has_an_import_circle() {
    let mut found = vec![];
    for (folder, crate_path) in FOLDERS {
        let graph = graph_of(&super::workspace().join(folder), crate_path);
        for circle in circles(&graph) {
            let edges: Vec<String> = circle
                .iter()
                .map(|m| {
                    let within: Vec<&String> =
                        graph[m].iter().filter(|u| circle.contains(u)).collect();
                    format!("{m} → {within:?}")
                })
                .collect();
            found.push(format!("{folder}: {}", edges.join("; ")));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn a_circle_is_found() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(circles(&graph), [["a", "b", "c"]]);
    assert!(names(
        "use super::{Core, pools};",
        "pools",
        "crate::operations::"
    ));
    assert!(names(
        "crate::operations::pools::claim",
        "pools",
        "crate::operations::"
    ));
    assert!(!names("super::pools_x", "pools", "crate::"));
}
