//! Unsafe code in Python, JavaScript and shell: dynamic evaluation, command execution, file
//! deletion, network access, unsafe deserialisation, permissions, privilege escalation, fork
//! bombs and disk wipes.

use std::sync::LazyLock;

use super::util::{Hit, Re, Rule, after, before, char_before, run_rules};
use super::{Finding, SecurityCheck, Sensitivity, Severity};

use Sensitivity::{High as H, Low as L, Medium as M};
use Severity::{Critical, High, Low, Medium};

pub(super) const KINDS: &[&str] = &[
    "python_eval",
    "js_eval",
    "php_eval",
    "powershell_eval",
    "python_dynamic_import",
    "os_system",
    "subprocess_shell",
    "subprocess_popen",
    "child_process_exec",
    "child_process_spawn",
    "child_process_import",
    "file_deletion",
    "rm_rf",
    "network_request",
    "raw_socket",
    "pipe_to_shell",
    "download_and_execute",
    "reverse_shell",
    "unsafe_deserialization",
    "chmod_777",
    "sudo",
    "fork_bomb",
    "disk_wipe",
    "tls_verification_disabled",
    "dangerous_import",
];

fn hint(kind: &str) -> &'static str {
    match kind {
        "python_eval" | "js_eval" | "php_eval" | "powershell_eval" | "python_dynamic_import" => {
            "Do not evaluate dynamic code; parse the data (e.g. ast.literal_eval, JSON.parse) or dispatch on a fixed set of operations."
        }
        "os_system" | "subprocess_shell" | "child_process_exec" => {
            "Run commands without a shell, with an argument list and validated inputs."
        }
        "subprocess_popen" | "child_process_spawn" | "child_process_import" => {
            "Make sure spawned commands and their arguments cannot be influenced by untrusted input."
        }
        "file_deletion" | "rm_rf" => {
            "Restrict deletions to an explicit, validated path inside the working directory."
        }
        "network_request" | "raw_socket" => {
            "Check that network access is expected, goes to an allow-listed host and sends no private data."
        }
        "pipe_to_shell" => {
            "Download scripts to a file, verify their checksum or signature, then run them."
        }
        "download_and_execute" => {
            "Verify a downloaded script's checksum or signature before running it."
        }
        "reverse_shell" => "This opens a remote shell; remove it.",
        "unsafe_deserialization" => {
            "Never deserialise untrusted data with pickle/marshal/unsafe YAML; use JSON or yaml.safe_load."
        }
        "chmod_777" => {
            "Grant the least permissions needed (e.g. 644 for files, 755 for directories)."
        }
        "sudo" => "Avoid running commands as root; explain why elevated privileges are needed.",
        "fork_bomb" => "This exhausts the machine's processes; remove it.",
        "disk_wipe" => "This destroys a disk or file system; remove it.",
        "tls_verification_disabled" => {
            "Keep TLS certificate verification on; trust a specific CA instead."
        }
        _ => "Review this import: it gives the code access to the operating system.",
    }
}

/// A call with empty parentheses (`eval()`) is a mention in prose, not a call on data; a method
/// call (`model.eval(…)`, `regex.exec(…)`) is a different function.
fn real_call(h: &Hit<'_, '_>) -> bool {
    let rest = after(h.text, h.end(), 8).trim_start();
    !rest.starts_with(')') && char_before(h.text, h.start()) != Some('.')
}

fn looks_js(text: &str, at: usize) -> bool {
    static JS: LazyLock<Re> = LazyLock::new(|| {
        Re::new(r"\b(?:const|let|var|function)\s|=>|console\.|require\(|document\.|window\.|;\s*$")
    });
    let window = format!("{}{}", before(text, at, 300), after(text, at, 300));
    JS.is_match(&window)
}

fn eval_call(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    if !real_call(h) {
        return None;
    }
    let def = before(h.text, h.start(), 12);
    if def.ends_with("def ") || def.ends_with("function ") {
        return None;
    }
    let name = h.group(1);
    let arg = after(h.text, h.end(), 4).trim_start();
    let kind = if arg.starts_with('$') {
        "php_eval"
    } else if name.starts_with("exec") && h.text.contains("child_process") {
        "child_process_exec"
    } else if looks_js(h.text, h.start()) && name == "eval" {
        "js_eval"
    } else {
        kind
    };
    Some((kind, sev))
}

fn call(h: &Hit<'_, '_>, kind: &'static str, sev: Severity) -> Option<(&'static str, Severity)> {
    let rest = after(h.text, h.end(), 8).trim_start();
    (!rest.starts_with(')')).then_some((kind, sev))
}

/// `yaml.load` is safe with `SafeLoader`/`CSafeLoader`/`BaseLoader`.
fn yaml_load(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let args = after(h.text, h.end(), 200);
    let args = args.split(')').next().unwrap_or("");
    if args.trim().is_empty() || args.contains("SafeLoader") || args.contains("BaseLoader") {
        return None;
    }
    Some((kind, sev))
}

fn torch_load(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    let args = after(h.text, h.end(), 200);
    let args = args.split('\n').next().unwrap_or("");
    (!args.contains("weights_only=True") && !args.trim_start().starts_with(')'))
        .then_some((kind, sev))
}

/// `rm -rf` is critical on `/`, `~`, `$HOME` or a bare `*`, high on absolute paths and unquoted
/// variables, a warning on relative build directories.
fn rm_target(h: &Hit<'_, '_>, kind: &'static str, _: Severity) -> Option<(&'static str, Severity)> {
    let target = h.group(1).trim_matches(['"', '\'']);
    let root = matches!(
        target,
        "/" | "/*"
            | "~"
            | "~/"
            | "~/*"
            | "*"
            | "$HOME"
            | "$HOME/"
            | "${HOME}"
            | "/home"
            | "/usr"
            | "/etc"
            | "/var"
            | "/boot"
            | "/bin"
            | "/lib"
            | "/opt"
            | "C:\\"
            | ".*"
    ) || h.group(0).contains("--no-preserve-root");
    let severity = if root {
        Critical
    } else if target.starts_with('/') || target.starts_with('~') || target.contains('$') {
        High
    } else {
        Low
    };
    Some((kind, severity))
}

fn child_process_bare(
    h: &Hit<'_, '_>,
    kind: &'static str,
    sev: Severity,
) -> Option<(&'static str, Severity)> {
    (h.text.contains("child_process") && real_call(h)).then_some((kind, sev))
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let h = hint;
    vec![
        // Dynamic evaluation.
        Rule::new("python_eval", r"\b(eval|exec)\s*\(", High, L, h("python_eval")).check(eval_call),
        Rule::new(
            "python_eval",
            r#"\bcompile\s*\([^)\n]{0,200}["']exec["']"#,
            High,
            L,
            h("python_eval"),
        ),
        Rule::new("python_dynamic_import", r"\b__import__\s*\(", High, L, h("python_dynamic_import")).check(call),
        Rule::new("python_dynamic_import", r"\bimportlib\.import_module\s*\(", Low, H, h("python_dynamic_import")),
        Rule::new("js_eval", r"\bnew\s+Function\s*\(", High, L, h("js_eval")).check(call),
        Rule::new(
            "js_eval",
            r"\bvm\.(?:runInNewContext|runInThisContext|runInContext|compileFunction)\s*\(|\bnew\s+vm\.Script\s*\(",
            High,
            L,
            h("js_eval"),
        ),
        Rule::new(
            "powershell_eval",
            r"(?i)\b(?:Invoke-Expression|iex)\s+(?:-Command\s+)?\$\w+|\bInvoke-Expression\s+\(",
            High,
            L,
            h("powershell_eval"),
        ),
        Rule::new("js_eval", r#"\bset(?:Timeout|Interval)\s*\(\s*["'`]"#, Medium, M, h("js_eval")),
        // Command execution.
        Rule::new(
            "os_system",
            r"\bos\.(?:system|popen|exec[lv]p?e?|spawn[lv]p?e?)\s*\(|\bcommands\.getoutput\s*\(|\bpty\.spawn\s*\(|\bRuntime\.getRuntime\(\)\.exec\s*\(|\b(?:shell_exec|passthru|proc_open)\s*\(|\bsystem\s*\(\s*\$",
            High,
            L,
            h("os_system"),
        )
        .check(call),
        Rule::new(
            "subprocess_shell",
            r"(?s)\bsubprocess\.(?:run|call|check_call|check_output|Popen|getoutput|getstatusoutput)\s*\(.{0,400}?\bshell\s*=\s*True",
            High,
            L,
            h("subprocess_shell"),
        ),
        Rule::new("subprocess_shell", r"\bsubprocess\.(?:getoutput|getstatusoutput)\s*\(", High, L, h("subprocess_shell")).check(call),
        Rule::new("subprocess_popen", r"\bsubprocess\.Popen\s*\(", Medium, M, h("subprocess_popen")).check(call),
        Rule::new(
            "subprocess_popen",
            r"\bsubprocess\.(?:run|call|check_call|check_output)\s*\(",
            Low,
            H,
            h("subprocess_popen"),
        ),
        Rule::new(
            "child_process_exec",
            r"\b(?:child_process|childProcess|cp|proc)\s*\.\s*(?:exec|execSync)\s*\(",
            High,
            L,
            h("child_process_exec"),
        ),
        Rule::new(
            "child_process_spawn",
            r"\b(?:child_process|childProcess|cp|proc)\s*\.\s*(?:spawn|spawnSync|execFile|execFileSync|fork)\s*\(",
            Medium,
            M,
            h("child_process_spawn"),
        ),
        Rule::new("child_process_exec", r"\bexecSync\s*\(", High, L, h("child_process_exec")).check(child_process_bare),
        Rule::new("child_process_spawn", r"\b(?:spawn|spawnSync|execFile)\s*\(", Medium, M, h("child_process_spawn"))
            .check(child_process_bare),
        Rule::new(
            "child_process_import",
            r#"\brequire\s*\(\s*["'](?:node:)?child_process["']\s*\)|\bfrom\s+["'](?:node:)?child_process["']"#,
            Medium,
            M,
            h("child_process_import"),
        ),
        // Deletion.
        Rule::new(
            "file_deletion",
            r"\bos\.(?:remove|unlink|rmdir|removedirs)\s*\(|\bshutil\.rmtree\s*\(|\bfs(?:\.promises)?\.(?:unlink|unlinkSync|rm|rmSync|rmdir|rmdirSync)\s*\(|\brimraf(?:\.sync)?\s*\(",
            Medium,
            M,
            h("file_deletion"),
        )
        .check(call),
        Rule::new("file_deletion", r"\.unlink\(\)|\bRemove-Item\b[^\n]*-Recurse", Low, H, h("file_deletion")),
        Rule::new(
            "rm_rf",
            r#"\brm\s+(?:-[a-zA-Z]*[rR][a-zA-Z]*\s+|--recursive\s+)(?:-[a-zA-Z-]+\s+)*(?:--no-preserve-root\s+)?("[^"\n]*"|'[^'\n]*'|[^\s;&|]+)"#,
            High,
            M,
            h("rm_rf"),
        )
        .check(rm_target),
        Rule::new(
            "rm_rf",
            r"(?i)\b(?:rd|rmdir)\s+/s\s+/q\s+[a-z]:\\|\bdel\s+/[fsq]\s+/[fsq]\s+/[fsq]\s+[a-z]:\\|\bformat\s+c:",
            Critical,
            L,
            h("rm_rf"),
        ),
        // Network.
        Rule::new("network_request", r"\brequests\.(?:get|head|options)\s*\(", Low, M, h("network_request")).check(call),
        Rule::new(
            "network_request",
            r"\brequests\.(?:post|put|patch|delete|request)\s*\(|\burllib\.request\.urlopen\s*\(|\burllib2?\.urlopen\s*\(|\bhttp\.client\.HTTPS?Connection\s*\(|\bhttpx\.(?:post|put|Client)\s*\(",
            Medium,
            M,
            h("network_request"),
        )
        .check(call),
        Rule::new(
            "network_request",
            r#"\bfetch\s*\(\s*["'`]https?://|\baxios\.(?:get|post|put|delete)\s*\(|\bhttpx\.get\s*\("#,
            Low,
            M,
            h("network_request"),
        ),
        Rule::new("network_request", r"(?m)(?:^|[;&|]\s*|\$\s+)(?:curl|wget)\s", Low, H, h("network_request")),
        Rule::new(
            "raw_socket",
            r"\bsocket\.socket\s*\(|\bnet\.(?:connect|createConnection)\s*\(|\bnew\s+net\.Socket\s*\(",
            Medium,
            M,
            h("raw_socket"),
        ),
        Rule::new(
            "pipe_to_shell",
            r"(?i)\b(?:curl|wget)\b[^|\n;]{0,300}\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:(?:ba|z|k|da|fi)?sh|python[0-9.]*|perl|ruby|node)\b",
            Critical,
            L,
            h("pipe_to_shell"),
        ),
        Rule::new(
            "pipe_to_shell",
            r#"(?i)\b(?:ba|z)?sh\s+(?:-c\s+)?["']?\$\(\s*(?:curl|wget)\b|\b(?:ba|z)?sh\s+<\(\s*(?:curl|wget)\b|\b(?:iex|Invoke-Expression)\b[^\n]{0,80}(?:DownloadString|Invoke-WebRequest|iwr|irm|Invoke-RestMethod)|(?:DownloadString|iwr|irm|Invoke-WebRequest|Invoke-RestMethod)[^\n|]{0,200}\|\s*iex\b"#,
            Critical,
            L,
            h("pipe_to_shell"),
        ),
        Rule::new(
            "download_and_execute",
            r"(?i)\b(?:curl|wget)\b[^\n|;]{0,200}?\s(?:-o|-O|--output(?:-document)?)\s*[\x22']?(\S+?)[\x22']?\s*&&[^\n]{0,120}?(?:&&|;)\s*(?:(?:ba|z)?sh\s+|sudo\s+|\./|/tmp/|python3?\s+)",
            High,
            M,
            h("download_and_execute"),
        ),
        Rule::new(
            "reverse_shell",
            r"\bnc(?:at)?\s+[^\n|;]*-[a-z]*[ec]\s+\S*(?:sh|cmd(?:\.exe)?)\b|/dev/tcp/[0-9a-zA-Z.\-]+/[0-9]+|\bbash\s+-i\s+>&|\bsocat\b[^\n]*\bexec:",
            Critical,
            L,
            h("reverse_shell"),
        ),
        // Deserialisation.
        Rule::new(
            "unsafe_deserialization",
            r"\b(?:c?[Pp]ickle|dill|cloudpickle|marshal|jsonpickle)\.(?:loads?|decode|Unpickler)\s*\(|\byaml\.unsafe_load(?:_all)?\s*\(|\bunserialize\s*\(|\brequire\s*\(\s*[\x22']node-serialize[\x22']\s*\)",
            High,
            L,
            h("unsafe_deserialization"),
        )
        .check(call),
        Rule::new("unsafe_deserialization", r"\byaml\.load(?:_all)?\s*\(", High, L, h("unsafe_deserialization"))
            .check(yaml_load),
        Rule::new(
            "unsafe_deserialization",
            r"\b(?:joblib\.load|pd\.read_pickle|pandas\.read_pickle|shelve\.open|yaml\.full_load)\s*\(|\bnew\s+ObjectInputStream\s*\(",
            Medium,
            M,
            h("unsafe_deserialization"),
        )
        .check(call),
        Rule::new("unsafe_deserialization", r"\btorch\.load\s*\(", Medium, M, h("unsafe_deserialization")).check(torch_load),
        // Permissions and privilege.
        Rule::new(
            "chmod_777",
            r"\bchmod\s+(?:-[a-zA-Z]+\s+)*(?:0?777|a\+rwx|ugo\+rwx|o\+w)\b|\b(?:os|fs)\.chmod(?:Sync)?\s*\([^)\n]*0o?777",
            High,
            L,
            h("chmod_777"),
        ),
        Rule::new(
            "sudo",
            r"(?m)(?:^|[;&|(`]|\$\(|\$\s)\s*sudo\s+(?:-[a-zA-Z]+\s+)*[a-z./]",
            Medium,
            M,
            h("sudo"),
        ),
        // Resource and disk destruction.
        Rule::new(
            "fork_bomb",
            r"(?s):\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:|\bwhile\s+True\s*:\s*\n?\s*os\.fork\s*\(\s*\)|%0\s*\|\s*%0|\bfork\s*\(\s*\)\s*;\s*\}?\s*while|\bwhile\s*\(\s*(?:1|true)\s*\)\s*\{?\s*fork\s*\(\s*\)",
            Critical,
            L,
            h("fork_bomb"),
        ),
        Rule::new(
            "disk_wipe",
            r"\bdd\s+[^\n]*\bof=/dev/(?:sd[a-z]|nvme[0-9]|hd[a-z]|disk[0-9]|xvd[a-z]|mmcblk[0-9])|\bmkfs(?:\.[a-z0-9]+)?\s+(?:-[a-zA-Z]+\s+)*/dev/|>\s*/dev/sd[a-z]\b|\bshred\s+[^\n]*/dev/|\bwipefs\s+-a\b",
            Critical,
            L,
            h("disk_wipe"),
        ),
        Rule::new(
            "tls_verification_disabled",
            r#"\bverify\s*=\s*False\b|\brejectUnauthorized\s*:\s*false\b|\bNODE_TLS_REJECT_UNAUTHORIZED\s*=\s*["']?0|\bInsecureSkipVerify\s*:\s*true\b|\bssl\._create_unverified_context\s*\(|\bCERT_NONE\b|\bcheck_hostname\s*=\s*False\b"#,
            Medium,
            M,
            h("tls_verification_disabled"),
        ),
        Rule::new("tls_verification_disabled", r"\bcurl\s+[^\n]*(?:\s-k\b|--insecure\b)", Low, M, h("tls_verification_disabled")),
        Rule::new(
            "dangerous_import",
            r"(?m)^\s*(?:import\s+(?:os|subprocess|socket|ctypes|pickle|shutil)\b|from\s+(?:os|subprocess|ctypes|pickle)\s+import\b)",
            Low,
            H,
            h("dangerous_import"),
        ),
    ]
});

pub(super) fn scan(text: &str, s: Sensitivity, out: &mut Vec<Finding>) {
    run_rules(&RULES, SecurityCheck::CodeSafety, text, s, hint, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        super::super::util::failing_kinds(text, SecurityCheck::CodeSafety)
    }

    #[test]
    fn patterns_compile() {
        super::super::util::assert_rules(&RULES, KINDS);
    }

    #[test]
    fn dangerous_code() {
        assert_eq!(kinds("result = eval(user_input)"), vec!["python_eval"]);
        assert_eq!(kinds("const f = eval(req.body.code);"), vec!["js_eval"]);
        assert_eq!(
            kinds("subprocess.run(cmd, shell=True)"),
            vec!["subprocess_shell"]
        );
        assert_eq!(
            kinds("curl -fsSL https://get.example.sh | bash"),
            vec!["pipe_to_shell"]
        );
        assert_eq!(
            kinds("curl -fsSL https://get.example.sh | sudo bash"),
            vec!["pipe_to_shell", "sudo"]
        );
        assert_eq!(
            kinds("data = pickle.loads(request.data)"),
            vec!["unsafe_deserialization"]
        );
        assert_eq!(
            kinds("cfg = yaml.load(open(p))"),
            vec!["unsafe_deserialization"]
        );
        assert_eq!(
            kinds("sudo rm -rf / --no-preserve-root"),
            vec!["sudo", "rm_rf"]
        );
        assert_eq!(kinds(":(){ :|:& };:"), vec!["fork_bomb"]);
    }

    #[test]
    fn safe_code() {
        assert!(kinds("model.eval()\nx = ast.literal_eval(s)\np = re.compile(r'\\d+')").is_empty());
        assert!(kinds("cfg = yaml.load(f, Loader=yaml.SafeLoader)").is_empty());
        assert!(kinds("subprocess.run([\"git\", \"status\"], check=True)").is_empty());
        assert!(kinds("Never call eval() on user input; avoid pickle.loads() too.").is_empty());
        assert!(kinds("rm -rf node_modules && npm ci").is_empty());
        assert!(
            kinds("curl -s https://api.github.com/repos/o/r | jq .stargazers_count").is_empty()
        );
        assert!(kinds("m = pattern.exec(line);").is_empty());
    }
}
