//! Exit codes shared by every command of faultline, Jepsen's convention:
//! 0 valid, 1 invalid, 2 unknown, 254 bad usage / config / input, 255 internal
//! failure. Several codes (a suite's) merge into the worst by
//! [`severity`]: 0 < 2 < 1 < 254 < 255.

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

/// How bad an exit code is, for merging the codes of several runs (a
/// suite) into one: valid (0) < unknown (2) < invalid (1) < bad input (254)
/// < internal error (255). An unknown verdict ranks below an invalid one
/// (a bug found outweighs a question left open), and both below a run that
/// could not be judged at all. A code faultline never returns ranks as an
/// internal error.
pub fn severity(code: u8) -> u8 {
    match code {
        VALID => 0,
        UNKNOWN => 1,
        INVALID => 2,
        BAD_INPUT => 3,
        _ => 4,
    }
}

/// The worst of `codes` by [`severity`] (the first of equals); `VALID`
/// when there are none.
pub fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    codes.into_iter().fold(
        VALID,
        |acc, c| {
            if severity(c) > severity(acc) {
                c
            } else {
                acc
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_valid_unknown_invalid_bad_input_internal() {
        let order = [VALID, UNKNOWN, INVALID, BAD_INPUT, INTERNAL];
        for w in order.windows(2) {
            assert!(severity(w[0]) < severity(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(severity(101), severity(INTERNAL), "a panic is internal");
    }

    #[test]
    fn worst_picks_the_most_severe_code() {
        assert_eq!(worst([]), VALID);
        assert_eq!(worst([VALID, VALID]), VALID);
        assert_eq!(worst([VALID, UNKNOWN]), UNKNOWN);
        assert_eq!(worst([UNKNOWN, INVALID, VALID]), INVALID);
        assert_eq!(worst([INVALID, UNKNOWN]), INVALID);
        assert_eq!(worst([INVALID, BAD_INPUT, UNKNOWN]), BAD_INPUT);
        assert_eq!(worst([INTERNAL, BAD_INPUT, INVALID]), INTERNAL);
        assert_eq!(worst([BAD_INPUT, 101]), 101);
    }
}
