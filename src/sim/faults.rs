//! Scripted faults: the `--faults` syntax and the script consumed one item per request.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

/// What the stand-in does to one request instead of (or to) its normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No fault: the normal answer.
    Ok,
    /// HTTP 500 with a short text body.
    Http500,
    /// HTTP 503 with a short text body.
    Http503,
    /// No answer until the stand-in shuts down; the client's timeout must fire.
    Hang,
    /// HTTP 200 whose body is not JSON.
    Garbage,
    /// The normal answer (the request is carried out) with only its first half sent.
    Truncate,
    /// `RequestLimitExceeded`.
    Limit,
    /// `InternalError`.
    Internal,
    /// `AuthFailure.SignatureFailure`.
    Auth,
    /// `UnauthorizedOperation`: the caller may not do this (an Update refused).
    Refuse,
    /// An Update answered with success that does not change the task (it "does not take").
    NoTake,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::Ok,
        Fault::Http500,
        Fault::Http503,
        Fault::Hang,
        Fault::Garbage,
        Fault::Truncate,
        Fault::Limit,
        Fault::Internal,
        Fault::Auth,
        Fault::Refuse,
        Fault::NoTake,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Ok => "ok",
            Fault::Http500 => "http500",
            Fault::Http503 => "http503",
            Fault::Hang => "hang",
            Fault::Garbage => "garbage",
            Fault::Truncate => "truncate",
            Fault::Limit => "limit",
            Fault::Internal => "internal",
            Fault::Auth => "auth",
            Fault::Refuse => "refuse",
            Fault::NoTake => "notake",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The most one item may repeat, so that a typo such as `ok*10000000000` cannot exhaust memory.
pub const MAX_REPEAT: u32 = 100_000;

/// Parses `NAME[*N],...` (e.g. `http503*2,hang,ok`) into the faults of consecutive requests.
pub fn parse_faults(spec: &str) -> Result<Vec<Fault>, String> {
    let mut out = Vec::new();
    if spec.trim().is_empty() {
        return Ok(out);
    }
    for (i, item) in spec.split(',').enumerate() {
        let item = item.trim();
        let at = format!("fault item {} (`{item}`)", i + 1);
        if item.is_empty() {
            return Err(format!(
                "fault item {} is empty: separate items with single commas",
                i + 1
            ));
        }
        let (name, count) = match item.split_once('*') {
            None => (item, 1),
            Some((name, n)) => {
                let n: u32 = n.trim().parse().map_err(|_| {
                    format!("{at}: the repeat count after `*` must be a whole number from 1 to {MAX_REPEAT}")
                })?;
                if n == 0 || n > MAX_REPEAT {
                    return Err(format!(
                        "{at}: the repeat count must be from 1 to {MAX_REPEAT}"
                    ));
                }
                (name.trim(), n)
            }
        };
        let lower = name.to_ascii_lowercase();
        let fault = Fault::ALL
            .into_iter()
            .find(|f| f.name() == lower)
            .ok_or_else(|| {
                let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "{at}: unknown fault `{name}`; expected one of {}",
                    names.join(", ")
                )
            })?;
        out.extend(std::iter::repeat_n(fault, count as usize));
    }
    Ok(out)
}

/// The remaining script, shared by all connections; after it runs out every answer is normal.
#[derive(Debug, Default)]
pub struct Script(Mutex<VecDeque<Fault>>);

impl Script {
    pub fn new(faults: Vec<Fault>) -> Self {
        Self(Mutex::new(faults.into()))
    }

    /// The fault for the next request, in arrival order.
    pub fn next(&self) -> Fault {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or(Fault::Ok)
    }

    pub fn remaining(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_repeats_expand_in_order() {
        let faults =
            parse_faults("http503*2, hang,OK,truncate*1,limit,internal,auth,garbage,http500")
                .unwrap();
        assert_eq!(
            faults,
            [
                Fault::Http503,
                Fault::Http503,
                Fault::Hang,
                Fault::Ok,
                Fault::Truncate,
                Fault::Limit,
                Fault::Internal,
                Fault::Auth,
                Fault::Garbage,
                Fault::Http500,
            ]
        );
        assert!(parse_faults("").unwrap().is_empty());
        assert!(parse_faults("  ").unwrap().is_empty());
    }

    #[test]
    fn bad_specs_say_which_item_and_why() {
        let cases = [
            (
                "ok,boom",
                "item 2 (`boom`): unknown fault `boom`; expected one of ok, http500",
            ),
            ("ok,,hang", "fault item 2 is empty"),
            ("hang*0", "from 1 to"),
            ("hang*x", "whole number"),
            ("hang*", "whole number"),
            ("hang*100001", "from 1 to 100000"),
            ("*3", "unknown fault ``"),
            ("ok,", "fault item 2 is empty"),
        ];
        for (spec, why) in cases {
            let err = parse_faults(spec).unwrap_err();
            assert!(err.contains(why), "{spec:?}: {err:?} lacks {why:?}");
        }
    }

    #[test]
    fn the_script_runs_out_into_normal_answers() {
        let script = Script::new(vec![Fault::Limit, Fault::Hang]);
        assert_eq!(script.next(), Fault::Limit);
        assert_eq!(script.remaining(), 1);
        assert_eq!(script.next(), Fault::Hang);
        assert_eq!(script.next(), Fault::Ok);
        assert_eq!(script.next(), Fault::Ok);
    }
}
