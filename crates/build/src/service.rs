//! Services created offline in the SYSTEM hive, as the Service Control
//! Manager would store them (`ControlSet00N\Services\<name>`, with N from
//! `Select\Current`).
//!
//! Two ways to run Docker:
//! * **nssm** — the service runs `nssm.exe`, which starts `docker.exe`
//!   with the values NSSM keeps under `Parameters` (`Application`,
//!   `AppParameters`, `AppDirectory`, `AppStdout`, `AppStderr`,
//!   `AppExit\(Default)`), all REG_EXPAND_SZ as NSSM writes them.
//! * **native** — what `dockerd --register-service` creates through the
//!   SCM (moby `cmd/dockerd/service_windows.go`): display name "Docker
//!   Engine", `"<dockerd.exe>" --run-service <args>`, automatic start,
//!   `DependOnService = ConDrv` on build 14393 only, failure actions
//!   restart / restart (60 s) / none with a 24 h reset, and an event log
//!   source under `EventLog\Application\<name>`.

use crate::error::{Error, Result};
use crate::spec::{DockerMode, DockerSpec};
use hive::value::{utf16z, REG_BINARY, REG_DWORD, REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ};
use hive::Hive;

/// SERVICE_WIN32_OWN_PROCESS.
pub const SERVICE_WIN32_OWN_PROCESS: u32 = 0x10;
/// SERVICE_AUTO_START.
pub const SERVICE_AUTO_START: u32 = 2;
/// SERVICE_ERROR_NORMAL.
pub const SERVICE_ERROR_NORMAL: u32 = 1;

/// Where the binaries go in the image.
pub const SYSTEM32: &str = "Windows\\System32";

/// One value written, for the report and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub key: String,
    pub name: String,
    pub data_type: u32,
    pub data: Vec<u8>,
}

/// The control set Windows boots: `ControlSet00N` from `Select\Current`.
pub fn current_control_set(h: &Hive) -> Result<String> {
    let sel = h.key("Select").ok_or_else(|| {
        Error::stage(
            "registry",
            "the SYSTEM hive has no Select key (is it a SYSTEM hive?)",
        )
    })?;
    let cur = sel
        .value("Current")
        .filter(|v| v.data_type == REG_DWORD && v.data.len() >= 4)
        .map(|v| u32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]))
        .ok_or_else(|| Error::stage("registry", "Select\\Current is not a DWORD"))?;
    if cur == 0 || cur > 999 {
        return Err(Error::stage(
            "registry",
            format!("Select\\Current = {cur} names no control set"),
        ));
    }
    let name = format!("ControlSet{cur:03}");
    if h.key(&name).is_none() {
        return Err(Error::stage(
            "registry",
            format!("Select\\Current points at {name}, which the hive lacks"),
        ));
    }
    Ok(name)
}

struct Writer<'a> {
    h: &'a mut Hive,
    out: Vec<Written>,
}

impl Writer<'_> {
    fn set(&mut self, key: &str, name: &str, data_type: u32, data: Vec<u8>) -> Result<()> {
        self.h.set_value(key, name, data_type, data.clone())?;
        self.out.push(Written {
            key: key.into(),
            name: name.into(),
            data_type,
            data,
        });
        Ok(())
    }
    fn dword(&mut self, key: &str, name: &str, v: u32) -> Result<()> {
        self.set(key, name, REG_DWORD, v.to_le_bytes().to_vec())
    }
    fn sz(&mut self, key: &str, name: &str, s: &str) -> Result<()> {
        self.set(key, name, REG_SZ, utf16z(s, true))
    }
    fn expand(&mut self, key: &str, name: &str, s: &str) -> Result<()> {
        self.set(key, name, REG_EXPAND_SZ, utf16z(s, true))
    }
}

/// REG_MULTI_SZ data: each string NUL-terminated, then one more NUL.
pub fn multi_sz(items: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    for s in items {
        b.extend_from_slice(&utf16z(s, true));
    }
    b.extend_from_slice(&[0, 0]);
    b
}

/// SERVICE_FAILURE_ACTIONS as the SCM stores it in `FailureActions`: reset
/// period (s), two unused string slots, the action count, the offset of
/// the action array (20), then {type, delay ms} pairs.
pub fn failure_actions(reset_seconds: u32, actions: &[(u32, u32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + 8 * actions.len());
    b.extend_from_slice(&reset_seconds.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(actions.len() as u32).to_le_bytes());
    b.extend_from_slice(&20u32.to_le_bytes());
    for (t, d) in actions {
        b.extend_from_slice(&t.to_le_bytes());
        b.extend_from_slice(&d.to_le_bytes());
    }
    b
}

/// The file name the daemon binary gets in System32.
pub fn binary_name(d: &DockerSpec) -> &'static str {
    match d.mode {
        DockerMode::Nssm => "docker.exe",
        DockerMode::Native => "dockerd.exe",
    }
}

/// Create the Docker service in `h` (a SYSTEM hive). `build` is the
/// image's Windows build number. Returns every value written.
pub fn add_docker_service(h: &mut Hive, d: &DockerSpec, build: u32) -> Result<Vec<Written>> {
    let cs = current_control_set(h)?;
    let key = format!("{cs}\\Services\\{}", d.service_name);
    if h.key(&key).is_some() {
        return Err(Error::stage(
            "registry",
            format!("the image already has a service named {:?}", d.service_name),
        ));
    }
    let exe = format!("%SystemRoot%\\System32\\{}", binary_name(d));
    let mut w = Writer { h, out: Vec::new() };
    w.dword(&key, "Type", SERVICE_WIN32_OWN_PROCESS)?;
    w.dword(&key, "Start", SERVICE_AUTO_START)?;
    w.dword(&key, "ErrorControl", SERVICE_ERROR_NORMAL)?;
    w.sz(&key, "ObjectName", "LocalSystem")?;
    match d.mode {
        DockerMode::Nssm => {
            w.expand(&key, "ImagePath", "%SystemRoot%\\System32\\nssm.exe")?;
            w.sz(&key, "DisplayName", "Docker")?;
            w.sz(&key, "Description", "Docker daemon, run by NSSM")?;
            let p = format!("{key}\\Parameters");
            w.expand(&p, "Application", &exe)?;
            w.expand(&p, "AppParameters", &d.args)?;
            w.expand(&p, "AppDirectory", "%SystemRoot%\\System32")?;
            w.expand(&p, "AppStdout", "%ProgramData%\\docker\\daemon.log")?;
            w.expand(&p, "AppStderr", "%ProgramData%\\docker\\daemon.log")?;
            w.dword(&p, "AppStopMethodConsole", 15000)?;
            w.sz(&format!("{p}\\AppExit"), "", "Restart")?;
        }
        DockerMode::Native => {
            let mut cmd = format!("\"{exe}\" --run-service");
            if !d.args.is_empty() {
                cmd.push(' ');
                cmd.push_str(&d.args);
            }
            w.expand(&key, "ImagePath", &cmd)?;
            w.sz(&key, "DisplayName", "Docker Engine")?;
            if build == 14393 {
                w.set(&key, "DependOnService", REG_MULTI_SZ, multi_sz(&["ConDrv"]))?;
            }
            // SC_ACTION_RESTART = 1, SC_ACTION_NONE = 0.
            w.set(
                &key,
                "FailureActions",
                REG_BINARY,
                failure_actions(86_400, &[(1, 60_000), (1, 60_000), (0, 0)]),
            )?;
            let ev = format!("{cs}\\Services\\EventLog\\Application\\{}", d.service_name);
            w.dword(&ev, "CustomSource", 1)?;
            w.sz(&ev, "EventMessageFile", &exe)?;
            w.dword(&ev, "TypesSupported", 7)?;
        }
    }
    Ok(w.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn system_hive() -> Hive {
        let mut h = Hive::new(5, "ROOT");
        h.set_value("Select", "Current", REG_DWORD, 1u32.to_le_bytes().to_vec())
            .unwrap();
        h.create_key("ControlSet001\\Services").unwrap();
        h
    }

    fn spec(mode: DockerMode) -> DockerSpec {
        DockerSpec {
            mode,
            binary: PathBuf::from("x"),
            nssm: None,
            args: "-D".into(),
            service_name: "docker".into(),
        }
    }

    #[test]
    fn nssm_service_values() {
        let mut h = system_hive();
        add_docker_service(&mut h, &spec(DockerMode::Nssm), 14393).unwrap();
        let k = h.key("ControlSet001\\Services\\docker").unwrap();
        assert_eq!(k.value("Type").unwrap().data, 0x10u32.to_le_bytes());
        assert_eq!(k.value("ImagePath").unwrap().data_type, REG_EXPAND_SZ);
        let p = h
            .key("ControlSet001\\Services\\docker\\Parameters")
            .unwrap();
        assert_eq!(
            p.value("Application").unwrap().data,
            utf16z("%SystemRoot%\\System32\\docker.exe", true)
        );
        // Twice is an error, not a silent overwrite.
        assert!(add_docker_service(&mut h, &spec(DockerMode::Nssm), 14393).is_err());
    }

    #[test]
    fn native_service_depends_on_condrv_only_on_14393() {
        let mut h = system_hive();
        add_docker_service(&mut h, &spec(DockerMode::Native), 14393).unwrap();
        let k = h.key("ControlSet001\\Services\\docker").unwrap();
        assert_eq!(
            k.value("DependOnService").unwrap().data,
            multi_sz(&["ConDrv"])
        );
        let mut h = system_hive();
        add_docker_service(&mut h, &spec(DockerMode::Native), 17763).unwrap();
        let k = h.key("ControlSet001\\Services\\docker").unwrap();
        assert!(k.value("DependOnService").is_none());
        assert_eq!(
            k.value("FailureActions").unwrap().data.len(),
            20 + 3 * 8,
            "three actions"
        );
    }

    #[test]
    fn control_set_comes_from_select() {
        let mut h = system_hive();
        h.set_value("Select", "Current", REG_DWORD, 2u32.to_le_bytes().to_vec())
            .unwrap();
        assert!(current_control_set(&h).is_err(), "ControlSet002 missing");
        h.create_key("ControlSet002").unwrap();
        assert_eq!(current_control_set(&h).unwrap(), "ControlSet002");
        assert!(current_control_set(&Hive::new(5, "R")).is_err());
    }
}
