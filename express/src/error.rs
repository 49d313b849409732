//! The two ways a command can fail, and their exit codes.

use std::fmt;

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The command line was wrong (unknown option, bad value, missing
    /// argument). Exit status 2, like optparse in mod_wsgi-express.
    Usage {
        /// The subcommand whose `--help` the user should read, if known.
        command: Option<&'static str>,
        message: String,
    },
    /// The command line was fine but the work could not be done (module not
    /// found, server root not writable, Apache not executable). Exit status 1.
    Fatal(String),
}

impl Error {
    pub fn usage(command: Option<&'static str>, message: impl Into<String>) -> Self {
        Error::Usage {
            command,
            message: message.into(),
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        Error::Fatal(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage { .. } => 2,
            Error::Fatal(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage { command, message } => {
                write!(f, "error: {message}")?;
                match command {
                    Some(cmd) => write!(
                        f,
                        "\nRun 'wsgirt-express {cmd} --help' for the list of options."
                    ),
                    None => write!(f, "\nRun 'wsgirt-express --help' for the list of commands."),
                }
            }
            Error::Fatal(message) => write!(f, "error: {message}"),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Error::usage(None, "x").exit_code(), 2);
        assert_eq!(Error::fatal("x").exit_code(), 1);
    }

    #[test]
    fn usage_error_points_at_command_help() {
        let text = Error::usage(Some("start-server"), "unknown option '--nope'").to_string();
        assert!(text.starts_with("error: unknown option '--nope'"));
        assert!(text.contains("wsgirt-express start-server --help"));
    }
}
