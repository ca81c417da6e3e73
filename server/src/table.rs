//! The command table: every command declared once — name, arity, flags, key positions, ACL
//! categories, documentation and handler. Dispatch, arity errors, key-length checks, `COMMAND`
//! and `COMMAND DOCS` all read this one table.

use crate::engine::Ctx;
use crate::reply::CmdResult;

pub type Handler = fn(&mut Ctx<'_>, &[bytes::Bytes]) -> CmdResult;

/// One argument, for `COMMAND DOCS` (which is where redis-cli takes its hints from).
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// Redis arg types: key, string, integer, double, pattern, unix-time, pure-token, oneof, block.
    pub kind: &'static str,
    pub token: Option<&'static str>,
    /// The version that added the argument, when later than the command.
    pub since: Option<&'static str>,
    pub optional: bool,
    pub multiple: bool,
    /// For `oneof` and `block`.
    pub children: &'static [Arg],
}

/// Shorthand constructors for argument docs.
pub const fn arg(name: &'static str, kind: &'static str) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        since: None,
        optional: false,
        multiple: false,
        children: &[],
    }
}

impl Arg {
    pub const fn opt(mut self) -> Arg {
        self.optional = true;
        self
    }
    pub const fn many(mut self) -> Arg {
        self.multiple = true;
        self
    }
    pub const fn since(mut self, v: &'static str) -> Arg {
        self.since = Some(v);
        self
    }
    pub const fn token(mut self, t: &'static str) -> Arg {
        self.token = Some(t);
        self
    }
    pub const fn of(mut self, children: &'static [Arg]) -> Arg {
        self.children = children;
        self
    }
}

/// A pure-token argument (`NX`, `GET`, …).
pub const fn tok(t: &'static str) -> Arg {
    Arg {
        name: t,
        kind: "pure-token",
        token: Some(t),
        since: None,
        optional: false,
        multiple: false,
        children: &[],
    }
}

/// One command or subcommand.
#[derive(Debug)]
pub struct Command {
    /// Lower case; subcommands are `container|sub`.
    pub name: &'static str,
    /// Redis convention: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub acl: &'static [&'static str],
    /// Command tips (COMMAND INFO), e.g. `nondeterministic_output`.
    pub tips: &'static [&'static str],
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub args: &'static [Arg],
    /// (version, change) pairs for COMMAND DOCS.
    pub history: &'static [(&'static str, &'static str)],
    /// Deprecated since a version, replaced by (COMMAND DOCS).
    pub deprecated: Option<(&'static str, &'static str)>,
    pub key_specs: &'static [KeySpec],
    pub subcommands: &'static [Command],
    /// `None` for containers whose subcommands have handlers.
    pub handler: Option<Handler>,
}

impl Command {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    /// Indices of the key arguments in `argv` (positions from the table; a negative last key
    /// counts from the end as Redis does).
    pub fn key_indices(&self, argc: usize) -> impl Iterator<Item = usize> {
        let (first, step) = (self.first_key, self.step.max(1));
        let last = if self.last_key < 0 {
            argc as i32 + self.last_key
        } else {
            self.last_key
        };
        let valid = first > 0 && last >= first && (last as usize) < argc;
        (first..=last)
            .step_by(step as usize)
            .filter(move |_| valid)
            .map(|i| i as usize)
    }

    /// The subcommand for `sub`, by case-insensitive name.
    pub fn subcommand(&self, sub: &[u8]) -> Option<&'static Command> {
        let sub = std::str::from_utf8(sub).ok()?;
        self.subcommands.iter().find(|c| {
            c.name
                .split_once('|')
                .is_some_and(|(_, s)| s.eq_ignore_ascii_case(sub))
        })
    }
}

/// One key specification, as `COMMAND INFO` reports it (begin-search by index, find-keys by
/// range).
#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: &'static [&'static str],
    pub index: i32,
    /// Begin the search at this keyword (searching from argument `index`) instead of at a fixed
    /// index: XREAD's `STREAMS`.
    pub keyword: Option<&'static str>,
    pub lastkey: i32,
    pub keystep: i32,
    pub limit: i32,
}

pub const fn ks(flags: &'static [&'static str], index: i32, lastkey: i32, keystep: i32) -> KeySpec {
    KeySpec {
        notes: None,
        keyword: None,
        flags,
        index,
        lastkey,
        keystep,
        limit: 0,
    }
}

/// A key spec whose keys follow a keyword: `keyword` searched from argument `startfrom`, then
/// keys in a range (`limit`: the keys are 1/limit of what follows, as XREAD's key/ID halves).
pub const fn ks_keyword(
    flags: &'static [&'static str],
    keyword: &'static str,
    startfrom: i32,
    lastkey: i32,
    keystep: i32,
    limit: i32,
) -> KeySpec {
    KeySpec {
        notes: None,
        flags,
        index: startfrom,
        keyword: Some(keyword),
        lastkey,
        keystep,
        limit,
    }
}

impl KeySpec {
    pub const fn notes(mut self, notes: &'static str) -> Self {
        self.notes = Some(notes);
        self
    }
}

/// Starts a command row; the `const` builder methods below fill in the rest.
pub const fn cmd(name: &'static str, arity: i32, handler: Handler) -> Command {
    Command {
        name,
        arity,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl: &[],
        tips: &[],
        group: "generic",
        summary: "",
        since: "1.0.0",
        complexity: "O(1)",
        args: &[],
        history: &[],
        deprecated: None,
        key_specs: &[],
        subcommands: &[],
        handler: Some(handler),
    }
}

/// A container command (CLIENT, CONFIG, …): dispatch goes to its subcommands.
pub const fn container(name: &'static str, subcommands: &'static [Command]) -> Command {
    Command {
        name,
        arity: -2,
        flags: &[],
        first_key: 0,
        last_key: 0,
        step: 0,
        acl: &[],
        tips: &[],
        group: "generic",
        summary: "",
        since: "1.0.0",
        complexity: "Depends on subcommand.",
        args: &[],
        history: &[],
        deprecated: None,
        key_specs: &[],
        subcommands,
        handler: None,
    }
}

impl Command {
    pub const fn flags(mut self, f: &'static [&'static str]) -> Self {
        self.flags = f;
        self
    }
    pub const fn keys(
        mut self,
        first: i32,
        last: i32,
        step: i32,
        specs: &'static [KeySpec],
    ) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self.key_specs = specs;
        self
    }
    pub const fn tips(mut self, t: &'static [&'static str]) -> Self {
        self.tips = t;
        self
    }
    pub const fn acl(mut self, a: &'static [&'static str]) -> Self {
        self.acl = a;
        self
    }
    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        complexity: &'static str,
        summary: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.complexity = complexity;
        self.summary = summary;
        self
    }
    /// Lets a container run on its own when called with no subcommand (`COMMAND`).
    pub const fn bare(mut self, arity: i32, handler: Handler) -> Self {
        self.arity = arity;
        self.handler = Some(handler);
        self
    }
    pub const fn history(mut self, h: &'static [(&'static str, &'static str)]) -> Self {
        self.history = h;
        self
    }
    /// COMMAND DOCS `doc_flags deprecated`, with the version and the replacement.
    pub const fn deprecated(mut self, since: &'static str, replaced_by: &'static str) -> Self {
        self.deprecated = Some((since, replaced_by));
        self
    }
    pub const fn args(mut self, a: &'static [Arg]) -> Self {
        self.args = a;
        self
    }
}
