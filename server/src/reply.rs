//! Error replies shared by many commands, with Redis's exact texts.

use std::borrow::Cow;

/// An error reply (`-<text>`). `text` starts with the error code (`ERR`, `WRONGTYPE`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyError(pub Cow<'static, str>);

impl ReplyError {
    pub fn new(text: impl Into<Cow<'static, str>>) -> Self {
        ReplyError(text.into())
    }
}

impl From<&'static str> for ReplyError {
    fn from(s: &'static str) -> Self {
        ReplyError(Cow::Borrowed(s))
    }
}

impl From<String> for ReplyError {
    fn from(s: String) -> Self {
        ReplyError(Cow::Owned(s))
    }
}

pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";

/// `ERR wrong number of arguments for '<cmd>' command` (the name lower-cased, as Redis).
pub fn wrong_arity(name: &str) -> ReplyError {
    ReplyError::new(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

/// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
pub fn unknown_subcommand(cmd: &str, sub: &[u8]) -> ReplyError {
    ReplyError::new(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        printable(sub, 128),
        cmd.to_ascii_uppercase()
    ))
}

/// Redis's `addReplySubcommandSyntaxError`: `ERR unknown subcommand or wrong number of arguments
/// for '<sub>'. Try <CMD> HELP.`, with the subcommand as the client wrote it.
pub fn subcommand_syntax(cmd: &str, sub: &[u8]) -> ReplyError {
    ReplyError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        printable(sub, 128),
        cmd.to_ascii_uppercase()
    ))
}

/// Redis's `addReplyErrorSdsSafe`: CR and LF become spaces, the trailing ones too (the reply
/// writer drops trailing CR/LF, as `addReplyErrorFormat` does, which most errors go through).
pub fn crlf_to_spaces(text: String) -> String {
    text.replace(['\r', '\n'], " ")
}

/// Client bytes as text for an error message: lossy UTF-8, cut at `max` characters.
pub fn printable(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(b).chars().take(max).collect()
}

pub type CmdResult = Result<(), ReplyError>;
