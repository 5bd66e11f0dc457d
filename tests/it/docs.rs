//! The documentation holds together: every relative link of the README, `deploy/README.md` and
//! `docs/*.md` names a file that exists and, with a `#anchor`, a heading of that file; the README
//! stays a way in, short enough to read.

use std::path::{Path, PathBuf};

/// The most lines the README may have: the manual lives in `docs/`.
const README_MAX_LINES: usize = 400;

/// The Markdown files whose links are checked: the README, the deploy guide and every page of
/// `docs/`.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("deploy/README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// The text outside fenced code blocks, line by line (a fence's own lines left out too).
fn prose(markdown: &str) -> Vec<&str> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => lines.push(line),
            _ => {}
        }
    }
    lines
}

/// `text` without its inline code spans (a run of backticks up to the next run of the same
/// length), which may span lines and hold brackets that are no link.
fn without_code_spans(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let run = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + run..];
        let closing = "`".repeat(run);
        match after.find(&closing) {
            Some(end) => rest = &after[end + run..],
            None => {
                out.push_str(&rest[start..start + run]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The destination of an inline link whose `(` has just been read: up to the matching `)`,
/// without an optional title; `<...>` destinations kept whole.
fn destination(after_paren: &str) -> String {
    if let Some(inner) = after_paren.strip_prefix('<') {
        return inner.split('>').next().unwrap_or_default().to_string();
    }
    let mut depth = 0usize;
    let mut end = after_paren.len();
    for (i, c) in after_paren.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                end = i;
                break;
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    let inside = after_paren[..end].trim();
    inside
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Every link and image target of a Markdown text: inline (`[text](target)`, `![alt](target)`)
/// and reference definitions (`[label]: target`), outside code.
fn link_targets(markdown: &str) -> Vec<String> {
    let text = without_code_spans(&prose(markdown).join("\n"));
    let mut targets: Vec<String> = text
        .match_indices("](")
        .map(|(i, _)| destination(&text[i + 2..]))
        .collect();
    for line in text.lines() {
        let line = line.trim_start();
        if let Some((label, target)) = line.strip_prefix('[').and_then(|l| l.split_once("]:"))
            && !label.is_empty()
            && !label.contains(']')
        {
            targets.extend(target.split_whitespace().next().map(str::to_string));
        }
    }
    targets
}

/// Whether a link target leaves the repository (a URL or a mail address).
fn is_external(target: &str) -> bool {
    target.starts_with("mailto:") || target.contains("://")
}

/// GitHub's anchor for a heading: its text without Markdown links' targets and backticks, lower
/// case, every character but letters, digits, spaces, `-` and `_` dropped, spaces made `-`.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(i) = rest.find("](") {
        text.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        rest = after.find(')').map_or("", |end| &after[end + 1..]);
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's ATX headings outside code, in order, a repeated one with
/// GitHub's `-1`, `-2` suffixes.
fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in prose(markdown) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let text = line[hashes..].trim().trim_end_matches('#').trim();
        let base = slug(text);
        let repeats = seen
            .iter()
            .filter(|s| **s == base || s.strip_prefix(&format!("{base}-")).is_some_and(is_digits))
            .count();
        seen.push(if repeats == 0 {
            base
        } else {
            format!("{base}-{repeats}")
        });
    }
    seen
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())
}

/// What is wrong with one relative link of `file`: the file it names is missing, or the anchor
/// names no heading of it.
fn link_problem(file: &Path, target: &str) -> Option<String> {
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let linked = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().unwrap().join(path)
    };
    if !linked.exists() {
        return Some(format!("{}: {target}: no such file", file.display()));
    }
    if anchor.is_empty() {
        return None;
    }
    let text = std::fs::read_to_string(&linked).unwrap_or_default();
    if anchors(&text).iter().any(|a| a == anchor) {
        return None;
    }
    Some(format!(
        "{}: {target}: no heading with that anchor",
        file.display()
    ))
}

/// Every broken relative link of `files`.
fn broken_links(files: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for target in link_targets(&text) {
            if !is_external(&target) {
                problems.extend(link_problem(file, &target));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_of_the_readme_and_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = documents(root);
    assert!(files.len() > 3, "the docs pages are found: {files:?}");
    let links: usize = files
        .iter()
        .map(|f| link_targets(&std::fs::read_to_string(f).unwrap()).len())
        .sum();
    assert!(links > 50, "the links are found: {links}");
    let problems = broken_links(&files);
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_is_a_way_in() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, at most {README_MAX_LINES}"
    );
    // CI runs the README's test command; it stays the one it names.
    assert!(
        readme.contains("\ncargo test --locked\n"),
        "the README names the test command"
    );
}

#[test]
fn a_heading_gives_githubs_anchor() {
    assert_eq!(
        slug("Trust (what `verify` proves)"),
        "trust-what-verify-proves"
    );
    assert_eq!(slug("The signer's state"), "the-signers-state");
    assert_eq!(
        slug("Metrics, completions and man pages"),
        "metrics-completions-and-man-pages"
    );
    assert_eq!(
        slug("`audit diff` and `audit log`"),
        "audit-diff-and-audit-log"
    );
    assert_eq!(slug("Naming a moment (WHEN)"), "naming-a-moment-when");
    assert_eq!(slug("See [the guide](docs/a.md) now"), "see-the-guide-now");
    let text = "# Top\n## Same\n```sh\n# not a heading\n```\n## Same\n#nospace\n### Same ###\n";
    assert_eq!(anchors(text), ["top", "same", "same-1", "same-2"]);
}

#[test]
fn links_are_found_outside_code_only() {
    let text = "See [a](a.md), ![img](img/x.png \"title\") and [`deploy/`](deploy/README.md#x).\n\
        Not `[code](code.md)` nor\n```\n[fenced](fenced.md)\n```\n\
        [ref]: ref.md\n[url](https://example.com/a) [mail](mailto:a@b.c) [nested](a_(b).md)\n";
    let targets = link_targets(text);
    assert_eq!(
        targets,
        [
            "a.md",
            "img/x.png",
            "deploy/README.md#x",
            "https://example.com/a",
            "mailto:a@b.c",
            "a_(b).md",
            "ref.md",
        ]
    );
    assert!(is_external("https://example.com/a") && is_external("mailto:a@b.c"));
    assert!(!is_external("../docs/trust.md#the-chain"));
}

#[test]
fn a_broken_link_or_anchor_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/page.md"), "# A page\n\n## The part\n").unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(
        &readme,
        "# Top\n\n[good](docs/page.md#the-part) [self](#top) [gone](docs/missing.md) \
         [bad anchor](docs/page.md#the-parts) [bad self](#bottom)\n",
    )
    .unwrap();
    let problems = broken_links(&[readme]);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].ends_with("docs/missing.md: no such file"),
        "{problems:#?}"
    );
    assert!(problems[1].ends_with("docs/page.md#the-parts: no heading with that anchor"));
    assert!(problems[2].ends_with("#bottom: no heading with that anchor"));
}
