//! `Windows\Setup\Scripts\SetupComplete.cmd`: the script Windows Setup runs
//! once, as Local System, after setup and before the first logon. ASCII
//! with CRLF line ends; every command is announced and its output appended
//! to `%SystemRoot%\Setup\Scripts\SetupComplete.log` (the shape
//! NanoServerImageGenerator uses). Setup ignores its exit codes and it
//! must not reboot the machine, so packages that need a restart get it
//! from whoever runs the VM.

/// Image path of the script.
pub const PATH: &str = "Windows\\Setup\\Scripts\\SetupComplete.cmd";

/// One step of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Why (becomes a `REM` line).
    pub comment: String,
    pub command: String,
}

/// Install a staged package with the in-box servicing stack.
pub fn dism_add_package(image_path: &str) -> String {
    format!(
        "dism.exe /online /add-package /packagepath:%SystemDrive%\\{image_path} /quiet /norestart"
    )
}

/// Quote a string for `echo` inside the script: `%` doubled, and the
/// characters cmd treats specially escaped with `^`.
fn echo_safe(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '%' => o.push_str("%%"),
            '&' | '|' | '<' | '>' | '^' | '(' | ')' => {
                o.push('^');
                o.push(c);
            }
            _ => o.push(c),
        }
    }
    o
}

/// The script text (ASCII, CRLF). Non-ASCII input is refused earlier by
/// spec validation; here it is replaced by `?` as a last guard.
pub fn render(steps: &[Step]) -> Vec<u8> {
    let mut lines = vec![
        "@ECHO OFF".to_string(),
        "REM Written by wimforge build. Runs once after Windows Setup, as Local System."
            .to_string(),
        "set SCLOG=%SystemRoot%\\Setup\\Scripts\\SetupComplete.log".to_string(),
        "echo SetupComplete started %DATE% %TIME% >> %SCLOG%".to_string(),
    ];
    for s in steps {
        lines.push(format!("REM {}", s.comment));
        lines.push(format!(
            "echo Executing: {} >> %SCLOG%",
            echo_safe(&s.command)
        ));
        lines.push(format!("{} >> %SCLOG% 2>&1", s.command));
        lines.push("echo Exit code %ERRORLEVEL% >> %SCLOG%".to_string());
    }
    lines.push("echo SetupComplete finished %DATE% %TIME% >> %SCLOG%".to_string());
    let mut out = Vec::new();
    for l in lines {
        for c in l.chars() {
            out.push(if c.is_ascii() { c as u8 } else { b'?' });
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_ascii_crlf_and_logs_each_command() {
        let s = render(&[Step {
            comment: "x".into(),
            command: "echo 100% & ver".into(),
        }]);
        assert!(s.is_ascii());
        let text = String::from_utf8(s).unwrap();
        assert!(text.ends_with("\r\n"));
        assert!(!text.replace("\r\n", "").contains('\n'));
        assert!(text.contains("echo Executing: echo 100%% ^& ver >> %SCLOG%\r\n"));
        assert!(text.contains("echo 100% & ver >> %SCLOG% 2>&1\r\n"));
    }
}
