//! `audit completions SHELL` and `audit man --out-dir DIR`, generated from the command line's
//! own definitions (clap_complete, clap_mangen), so they never disagree with `--help`.

use std::path::PathBuf;

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
    after_help = "Writes audit.1 and one page per subcommand (audit-snapshot.1, \
audit-policy-validate.1, ...). Install with: audit man --out-dir /usr/local/share/man/man1"
)]
pub struct ManArgs {
    /// Where the pages go (made if missing)
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
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
    let out = |source: std::io::Error| Error::Output {
        what: args.out_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&args.out_dir).map_err(out)?;
    let mut written = Vec::new();
    let mut stack = vec![(String::from("audit"), Cli::command())];
    while let Some((name, cmd)) = stack.pop() {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            stack.push((format!("{name}-{}", sub.get_name()), sub.clone()));
        }
        let cmd = cmd.name(name.clone());
        let path = args.out_dir.join(format!("{name}.1"));
        crate::app::output::write_atomically(&path, |w| clap_mangen::Man::new(cmd).render(w))?;
        written.push(path);
    }
    written.sort();
    ctx.emit(|w| {
        for p in &written {
            writeln!(w, "{}", p.display())?;
        }
        Ok(())
    })?;
    Ok(ExitCode::Ok)
}
