//! The layering of `src/`: every `crate::` path in a module's code names its own module or a
//! layer below it. A path that points up or sideways fails here with the file and line.

use std::path::{Path, PathBuf};

/// The top-level modules by layer, lowest first; a module may use its own layer's modules only
/// when the list says so (none do: the modules of a layer are independent of each other).
const LAYERS: [&[&str]; 7] = [
    &["task", "trust"],
    &["net"],
    &["tencent", "store", "policy"],
    &["report", "sim"],
    &["notify"],
    &["app"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line, without its `//` comment (a `//` inside a string literal ends the scan
/// early, which can only hide a path, never invent one).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// The top-level modules a line of code names through `crate::`, including each member of a
/// `crate::{a, b::c}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `tcss_audit::` or another word ending in "crate"
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut item = String::new();
            for c in group[..end].chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.push(item);
        } else {
            found.push(rest.to_string());
        }
    }
    found
        .into_iter()
        .map(|p| {
            p.trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

#[test]
fn no_module_uses_a_layer_above_it_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = layer_of(&module).unwrap_or_else(|| {
            panic!(
                "src/{} is in no layer: add `{module}` to LAYERS",
                rel.display()
            )
        });
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for used in crate_paths(code_of(line)) {
                checked += 1;
                // Its own module; the shared test helpers, which only `cfg(test)` code names.
                if used == module || used == "test_support" {
                    continue;
                }
                match layer_of(&used) {
                    Some(l) if l < own => {}
                    Some(l) => wrong.push(format!(
                        "src/{}:{}: `{module}` (layer {own}) uses `{used}` (layer {l}): {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    )),
                    None => wrong.push(format!(
                        "src/{}:{}: `crate::{used}` is in no layer: {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    )),
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate paths were found: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports that break the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_finds_grouped_and_inline_paths() {
    assert_eq!(crate_paths("use crate::store::Store;"), ["store"]);
    assert_eq!(
        crate_paths("use crate::{app::Error, task::{diff, when}};"),
        ["app", "task"]
    );
    assert_eq!(
        crate_paths("let x = crate::policy::builtin(); y(crate::report::short(h))"),
        ["policy", "report"]
    );
    assert!(crate_paths("use tcss_audit::store::Store;").is_empty());
    assert_eq!(
        crate_paths(code_of("let a = 1; // crate::cli::run")),
        Vec::<String>::new()
    );
}

/// Every HTTP client is made by `net`, which owns trust, proxy, the plain-HTTP rule and answer
/// bounds: a client built anywhere else would miss one of them.
#[test]
fn only_the_network_layer_builds_an_http_client() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    let mut found = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = code_of(line);
            if [
                "Client::builder",
                "ClientBuilder",
                ".bytes().await",
                ".text().await",
            ]
            .iter()
            .any(|p| code.contains(p))
            {
                if rel.starts_with("net") {
                    found += 1;
                } else {
                    wrong.push(format!("src/{}:{}: {}", rel.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(found > 0, "the scan finds the network layer's own builder");
    assert!(wrong.is_empty(), "outside src/net/:\n{}", wrong.join("\n"));
}
