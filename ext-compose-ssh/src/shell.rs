//! Turning an argv into one line for a remote shell. ssh joins its arguments with
//! spaces and hands the result to the remote user's shell, so every word must be
//! quoted; `shlex` does the quoting, and refuses what cannot be quoted (NUL).

use std::borrow::Cow;

/// A word that no shell quoting can carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument {0:?} cannot be passed to a remote shell (it contains a NUL byte)")]
pub struct Unquotable(pub String);

/// Quotes one word for a POSIX shell.
pub fn quote(word: &str) -> Result<Cow<'_, str>, Unquotable> {
    shlex::try_quote(word).map_err(|_| Unquotable(word.to_string()))
}

/// Quotes every word and joins them with spaces: the shell splits the line back
/// into exactly these words.
pub fn join<S: AsRef<str>>(argv: &[S]) -> Result<String, Unquotable> {
    let words = argv
        .iter()
        .map(|w| quote(w.as_ref()).map(Cow::into_owned))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Strings that would do damage if any reached a shell unquoted.
    pub const HOSTILE: &[&str] = &[
        "plain",
        "",
        " ",
        "two words",
        "it's",
        "\"double\"",
        "$(touch /tmp/sandboxer-pwned)",
        "`touch /tmp/sandboxer-pwned`",
        "; touch /tmp/sandboxer-pwned",
        "&& touch /tmp/sandboxer-pwned",
        "| touch /tmp/sandboxer-pwned",
        "> /tmp/sandboxer-pwned",
        "line\nbreak; touch /tmp/sandboxer-pwned",
        "tab\there",
        "$HOME ${PATH} $1 $@ $*",
        "*",
        "~",
        "\\",
        "'\\''",
        "--option=value",
        "-e",
        "#comment",
        "ünïcödé ✓ 日本",
        "{a,b}",
        "!!",
        "\u{1b}[31mred",
    ];

    #[test]
    fn a_shell_splits_the_joined_line_back_into_the_same_words() {
        let line = join(HOSTILE).unwrap();
        // `printf '%s\0'` prints each argument it got, NUL-terminated.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {line}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<String> = out
            .stdout
            .split(|b| *b == 0)
            .filter(|_| true)
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect();
        let mut expected: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
        expected.push(String::new()); // after the last NUL
        assert_eq!(got, expected);
        assert!(!std::path::Path::new("/tmp/sandboxer-pwned").exists());
    }

    #[test]
    fn every_word_is_quoted_so_nothing_is_interpreted() {
        for word in HOSTILE {
            let quoted = quote(word).unwrap();
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {quoted}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), *word, "{quoted}");
        }
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert!(quote("a\0b").is_err());
        assert!(join(&["ok", "a\0b"]).is_err());
    }
}
