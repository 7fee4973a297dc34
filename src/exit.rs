//! Exit codes shared by every command of faultline, Jepsen's convention:
//! 0 valid, 1 invalid, 2 unknown, 254 bad usage / config / input, 255 internal
//! failure.

use crate::checker::Validity;

/// The history was checked and is valid.
pub const VALID: u8 = 0;
/// The history was checked and is invalid: a bug was found.
pub const INVALID: u8 = 1;
/// The checker could not decide (time or memory budget, or an unknown op).
pub const UNKNOWN: u8 = 2;
/// Bad usage, configuration or input: the user has something to fix.
pub const BAD_INPUT: u8 = 254;
/// faultline itself failed.
pub const INTERNAL: u8 = 255;

/// The exit code for a verdict.
pub fn for_validity(v: Validity) -> u8 {
    match v {
        Validity::Valid => VALID,
        Validity::Invalid => INVALID,
        Validity::Unknown => UNKNOWN,
    }
}

/// An error that ends a command, with the exit code it maps to. Library
/// modules have their own `thiserror` enums; the CLI edge wraps them in this.
#[derive(Debug)]
pub enum CliError {
    /// The user's input is wrong (flags, YAML, history file): exit 254.
    BadInput(anyhow::Error),
    /// faultline failed on its own: exit 255.
    Internal(anyhow::Error),
}

impl CliError {
    /// Bad input with a message.
    pub fn bad_input(e: impl Into<anyhow::Error>) -> Self {
        CliError::BadInput(e.into())
    }

    /// An internal failure with a message.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        CliError::Internal(e.into())
    }

    /// The exit code this error maps to.
    pub fn code(&self) -> u8 {
        match self {
            CliError::BadInput(_) => BAD_INPUT,
            CliError::Internal(_) => INTERNAL,
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::BadInput(e) | CliError::Internal(e) => write!(f, "{e:#}"),
        }
    }
}

/// The result of one command: a verdict (for commands that check something,
/// `Valid` otherwise) or an error.
pub type CmdResult = Result<Validity, CliError>;
