//! Hostile input for the policy loader: random TOML-ish text never panics, and every diagnostic
//! points inside the text it is about.

use proptest::prelude::*;
use tcss_audit::policy::{Diagnostic, Level, PolicyError, load_paths, load_str};

const NAME: &str = "hostile.toml";

/// A diagnostic names the file, and a 1-based line and column (in characters) inside `text`; the
/// column may be one past the end of its line.
fn assert_within(d: &Diagnostic, text: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&d.file, NAME, "{}", d);
    let (Some(line), Some(col)) = (d.line, d.col) else {
        return Err(TestCaseError::fail(format!("no position: {d}")));
    };
    let lines: Vec<&str> = text.split('\n').collect();
    prop_assert!(
        line >= 1 && line <= lines.len(),
        "line {} of {}: {}",
        line,
        lines.len(),
        d
    );
    let width = lines[line - 1].chars().count();
    prop_assert!(
        col >= 1 && col <= width + 1,
        "column {} of {}: {}",
        col,
        width,
        d
    );
    Ok(())
}

/// Loads `text` and checks what must hold whatever it is.
fn assert_sound(text: &str) -> Result<(), TestCaseError> {
    match load_str(NAME, text) {
        Ok(loaded) => {
            for d in &loaded.warnings {
                prop_assert_eq!(d.level, Level::Warning);
                assert_within(d, text)?;
            }
        }
        Err(e) => {
            prop_assert!(
                e.errors().next().is_some(),
                "refused without an error: {}",
                e
            );
            for d in &e.diagnostics {
                assert_within(d, text)?;
            }
            prop_assert!(!e.to_string().is_empty());
        }
    }
    Ok(())
}

/// The error a file must give; fails the test if it loaded.
fn refused(text: &str) -> PolicyError {
    match load_str(NAME, text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e,
    }
}

const VALID: &str = r#"[policy]
name = "hostile"

[[rule]]
id = "H-1"
title = "Scanning is on"
severity = "high"
field = "Enable"
op = "eq"
value = true
remediation = "Turn the scheduled scan on."
"#;

/// One line of something like a policy file: headers, known keys with values of any type,
/// broken syntax, odd characters.
fn line() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "id",
        "title",
        "severity",
        "kind",
        "field",
        "op",
        "value",
        "when",
        "window",
        "duration",
        "remediation",
        "name",
        "description",
        "rule",
        "target",
        "reason",
        "owner",
        "expires",
        "config",
        "history",
        "now",
        "expect_fail",
        "expect_pass",
        "at",
        "Enable",
        "ScanType",
    ]);
    let value = prop_oneof![
        prop::sample::select(vec![
            "true",
            "\"high\"",
            "\"critical\"",
            "\"eq\"",
            "\"within\"",
            "\"max_duration\"",
            "\"history\"",
            "\"Enable\"",
            "\"ScanType\"",
            "\"Images[*].Force\"",
            "\"ScanTime\"",
            "\"LastScanTime\"",
            "\"48h\"",
            "\"30d\"",
            "\"-1h\"",
            "\"99999999999999999999d\"",
            "[\"00:00\", \"06:00\"]",
            "[\"vul\", \"risk\"]",
            "[]",
            "[[1], [2]]",
            "{}",
            "{ Enable = false, ScanType = [\"vul\"] }",
            "{ field = \"Enable\", op = \"eq\", value = 1 }",
            "[{ at = \"2026-01-01T00:00:00Z\", config = {} }]",
            "2027-01-31",
            "1979-05-27T07:32:00Z",
            "\"2027-02-30\"",
            "\"\"",
            "nan",
            "-inf",
            "9223372036854775807",
            "-0",
            "1e308",
            "'''",
            "\"\\u0000\"",
            "\"unterminated",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        "\"\\PC{0,12}\"".prop_map(|s| s.replace('\\', "")),
    ];
    prop_oneof![
        4 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => prop::sample::select(vec![
            "[policy]", "[[rule]]", "[[waiver]]", "[[test]]", "[rule]", "[[rule.when]]",
            "[rule.when]", "[[test.history]]", "[policy", "", "# comment", "=", "[[]]",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,30}",
    ]
}

fn toml_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(line(), 0..30).prop_map(|lines| lines.join("\n")),
        // A valid file with a few lines spliced in anywhere.
        prop::collection::vec((any::<prop::sample::Index>(), line()), 1..6).prop_map(|edits| {
            let mut lines: Vec<String> = VALID.lines().map(str::to_string).collect();
            for (at, l) in edits {
                let i = at.index(lines.len() + 1);
                lines.insert(i, l);
            }
            lines.join("\n")
        }),
        // Any text at all, and CR, tabs and BOMs where lines are counted.
        "\\PC{0,200}",
        "[\\r\\n\\t \u{feff}\u{2028}a=\\[\\]\"'#.]{0,60}",
    ]
}

proptest! {
    #[test]
    fn the_loader_never_panics_and_every_diagnostic_is_inside_the_text(text in toml_ish()) {
        assert_sound(&text)?;
    }

    #[test]
    fn a_valid_file_cut_anywhere_never_panics(at in 0usize..VALID.len()) {
        assert_sound(&VALID[..at])?;
    }
}

#[test]
fn example_a_valid_file_loads() {
    let loaded = load_str(NAME, VALID).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn example_a_value_of_the_wrong_type_is_an_error_at_its_line() {
    let text = VALID.replace("value = true", "value = \"yes\"");
    let e = refused(&text);
    let d = e.errors().next().unwrap();
    assert_eq!(d.line, Some(10), "{e}");
    assert!(e.to_string().contains("H-1"), "{e}");
}

#[test]
fn example_deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [100, 10_000, 200_000] {
        for text in [
            format!("{VALID}\nx = {}1{}", "[".repeat(depth), "]".repeat(depth)),
            format!(
                "{VALID}\nx = {}1{}",
                "{a = ".repeat(depth),
                "}".repeat(depth)
            ),
            format!("{}\n{}", "[a]\n".repeat(depth.min(5_000)), VALID),
        ] {
            let e = refused(&text);
            for d in &e.diagnostics {
                assert!(d.line.is_some() && d.col.is_some(), "{d}");
            }
        }
    }
}

#[test]
fn example_huge_strings_do_not_panic() {
    let huge = "é".repeat(500_000);
    let text = VALID.replace("Scanning is on", &huge);
    assert!(load_str(NAME, &text).is_ok());
    let text = VALID.replace("\"eq\"", &format!("\"{huge}\""));
    let e = refused(&text);
    let d = e.errors().next().unwrap();
    assert_eq!((d.line, d.col), (Some(9), Some(6)), "{d}");
    assert!(
        d.message.contains("contains_all"),
        "the valid ops are listed: {d}"
    );
    assert!(
        d.message.len() < 1000,
        "the huge op is not quoted back whole: {} bytes",
        d.message.len()
    );
}

#[test]
fn example_duplicate_keys_are_an_error_at_the_second() {
    let text = format!("{VALID}op = \"ne\"\n");
    let e = refused(&text);
    let d = e.errors().next().unwrap();
    assert_eq!(d.line, Some(12), "{e}");
    assert!(d.message.contains("duplicate key `op`"), "{e}");
}

#[test]
fn example_invalid_utf8_in_a_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let mut bytes = VALID.as_bytes().to_vec();
    bytes.extend_from_slice(b"title2 = \"\xff\xfe\"\n");
    std::fs::write(&path, bytes).unwrap();
    let e = load_paths(&[path]).unwrap_err();
    let message = e.to_string();
    assert!(message.contains("bad.toml"), "{message}");
}

#[test]
fn example_random_bytes_as_text_never_panic() {
    for text in [
        "\u{feff}[policy]\nname = \"x\"",
        "\r\n\r\n[[rule]]\r\nid = 1\r",
        "[[rule]]\nid = \"\u{0}\"",
        "a = \"\"\"\n\n\n",
        "[[test]]\nconfig = { Enable = [[[[[]]]]] }\nexpect_fail = [1, 2]",
        "[[waiver]]\nrule = \"H-1\"\nexpires = 2027-13-45",
    ] {
        match load_str(NAME, text) {
            Ok(_) => {}
            Err(e) => {
                for d in &e.diagnostics {
                    assert!(d.line.is_some(), "{text:?}: {d}");
                }
            }
        }
    }
}
