//! `audit completions SHELL` and `audit man --out-dir DIR`, generated from the command line's
//! own definitions (clap_complete, clap_mangen), so they never disagree with `--help`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::{Cli, Context};
use crate::app::{Error, ExitCode};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Install: bash: audit completions bash > /etc/bash_completion.d/audit \
(or ~/.local/share/bash-completion/completions/audit); zsh: audit completions zsh > \
\"${fpath[1]}/_audit\"; fish: audit completions fish > ~/.config/fish/completions/audit.fish."
)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Without --out-dir, prints audit.1. With it, writes audit.1 and one page per \
subcommand (audit-snapshot.1, audit-policy-validate.1, ...). Install with: audit man --out-dir \
/usr/local/share/man/man1. The pages' date is SOURCE_DATE_EPOCH's when set, else today's."
)]
pub struct ManArgs {
    /// Where every page goes (made if missing); without it, only audit.1, on stdout
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs, ctx: &Context) -> Result<ExitCode, Error> {
    let mut cmd = Cli::command();
    ctx.emit(|w| {
        clap_complete::generate(args.shell, &mut cmd, "audit", w);
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}

pub fn man(args: &ManArgs, ctx: &Context) -> Result<ExitCode, Error> {
    let date = page_date(ctx)?;
    let Some(dir) = &args.out_dir else {
        let page = render_page("audit", Cli::command(), &date)?;
        ctx.emit(|w| w.write_all(page.as_bytes()))?;
        eprintln!("audit man: printed audit.1 only; audit man --out-dir DIR writes every page");
        return Ok(ExitCode::Ok);
    };
    let written = write_pages(dir, &date)?;
    ctx.emit(|w| {
        for p in &written {
            writeln!(w, "{}", p.display())?;
        }
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}

/// Writes audit.1 and a page per subcommand, and returns their paths, sorted.
fn write_pages(dir: &Path, date: &str) -> Result<Vec<PathBuf>, Error> {
    let out = |source: std::io::Error| Error::Output {
        what: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(out)?;
    let mut written = Vec::new();
    let mut stack = vec![(String::from("audit"), Cli::command())];
    while let Some((name, cmd)) = stack.pop() {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        let page = render_page(&name, cmd, date)?;
        let path = dir.join(format!("{name}.1"));
        crate::app::output::write_atomically(&path, |w| w.write_all(page.as_bytes()))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

/// One page as roff. The help subcommands get no page of their own, so no page lists them;
/// characters beyond ASCII become roff escapes, which groff reads whatever the page's encoding.
fn render_page(name: &str, cmd: clap::Command, date: &str) -> Result<String, Error> {
    let cmd = cmd.name(name.to_string()).disable_help_subcommand(true);
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd)
        .date(date)
        .render(&mut roff)
        .map_err(|source| Error::Output {
            what: format!("{name}.1"),
            source,
        })?;
    Ok(String::from_utf8_lossy(&roff)
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("\\[u{:04X}]", c as u32),
        })
        .collect())
}

/// The pages' date: SOURCE_DATE_EPOCH's when set, so that a packaged build's pages are
/// reproducible, else today's.
fn page_date(ctx: &Context) -> Result<String, Error> {
    let Some(epoch) = std::env::var_os("SOURCE_DATE_EPOCH") else {
        return Ok(ctx.clock.now().format("%Y-%m-%d").to_string());
    };
    epoch
        .to_str()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d").to_string())
        .ok_or_else(|| {
            Error::Usage(format!(
                "SOURCE_DATE_EPOCH {epoch:?} is not seconds since 1970"
            ))
        })
}
