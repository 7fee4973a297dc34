//! POSIX shell quoting: an argv becomes one command line that the login
//! shell on the host splits back into exactly the same words.

/// `word` as one POSIX shell word: left bare when it holds only characters
/// no shell treats specially, else in single quotes (a `'` inside becomes
/// `'\''`). The empty string is `''`.
pub fn quote(word: &str) -> String {
    let bare = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:,+@%=".contains(&b));
    // `=` is harmless inside a word but not as its first character in some
    // shells' assignment parsing only when a name precedes it; `~` and `#`
    // are not in the bare set, so they are always quoted.
    if bare {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command line that runs `argv` (each element one word).
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// What `sh` makes of `line`: its words, one per NUL-terminated item.
    fn sh_words(line: &str) -> Vec<String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("for w in {line}; do printf '%s\\0' \"$w\"; done"))
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{line}: {out:?}");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .split_terminator('\0')
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote("/var/lib/faultline/n1"), "/var/lib/faultline/n1");
        assert_eq!(quote("--id=n1"), "--id=n1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn nasty_words_come_back_unchanged_through_a_real_shell() {
        let nasty = [
            "",
            " ",
            "a b",
            "it's",
            "''",
            "\"",
            "$HOME",
            "${x:-y}",
            "`id`",
            "$(id)",
            "a;b",
            "a&&b",
            "a|b",
            "*",
            "?",
            "[a]",
            "~",
            "~root",
            "#comment",
            "a\nb",
            "tab\there",
            "back\\slash",
            "!bang",
            "{a,b}",
            "-n",
            "x=1",
            "é ü 漢",
            "'\\''",
            ">out",
            "<in",
        ];
        let line = command_line(&nasty);
        assert_eq!(sh_words(&line), nasty);
    }
}
