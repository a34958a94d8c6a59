//! `wimforge package info` on the real KB2999226 package cabinet (LZX:21)
//! and on its .msu (an MSZIP cabinet of cabinets): the identity printed is
//! the one in update.mum as cabextract extracts it.

mod support;

use std::process::Command;
use support::*;

/// update.mum of the package cabinet, extracted by cabextract.
fn mum_by_cabextract(cab: &std::path::Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    ok(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(tmp.path())
        .args(["-F", "update.mum"])
        .arg(cab));
    String::from_utf8(std::fs::read(tmp.path().join("update.mum")).unwrap()).unwrap()
}

fn check_identity(j: &serde_json::Value, mum: &str) {
    let p = &j["package"];
    let id = &p["identity"];
    // The values, and that cabextract's copy of update.mum says the same.
    assert_eq!(id["name"], "Package_for_KB2999226");
    assert_eq!(id["version"], "6.1.1.6");
    assert_eq!(id["processor_architecture"], "amd64");
    assert_eq!(id["language"], "neutral");
    assert_eq!(id["public_key_token"], "31bf3856ad364e35");
    assert!(mum.contains(
        r#"<assemblyIdentity name="Package_for_KB2999226" version="6.1.1.6" language="neutral" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" />"#
    ));
    assert_eq!(p["identifier"], "KB2999226");
    assert_eq!(p["release_type"], "Update");
    assert!(mum.contains(
        r#"<package identifier="KB2999226" applicabilityEvaluation="deep" releaseType="Update""#
    ));
    let parents = p["parents"].as_array().unwrap();
    assert_eq!(parents.len(), 1);
    let pid: Vec<&str> = parents[0]["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        pid,
        [
            "Microsoft-Windows-Client-Features-Package",
            "Microsoft-Windows-Server-Features-Package"
        ]
    );
    assert_eq!(parents[0]["identities"][0]["version"], "6.1.7601.17514");
    assert_eq!(parents[0]["identities"][0]["build_type"], "release");
    let updates = p["updates"].as_array().unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["name"], "2999226-4_neutral_PACKAGE");
    assert_eq!(updates[0]["kind"], "package");
    assert_eq!(updates[0]["identity"]["name"], "Package_for_KB2999226_RTM");
    assert!(mum.contains(r#"<assemblyIdentity name="Package_for_KB2999226_RTM" version="6.1.1.6""#));
}

#[test]
fn package_cab_identity_matches_update_mum() {
    if !have("cabextract") {
        return;
    }
    let Some(cab) = fixture("cab/Windows6.1-KB2999226-x64_inner-package.cab") else {
        return;
    };
    let mum = mum_by_cabextract(&cab);
    let out = ok(wimforge().args(["package", "info", "--json"]).arg(&cab));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    check_identity(&j, &mum);
    assert!(j["msu"].is_null());
    let text = ok(wimforge().args(["package", "info"]).arg(&cab));
    assert!(
        text.contains("Package:          Package_for_KB2999226\n"),
        "{text}"
    );
    assert!(
        text.contains("Public key token: 31bf3856ad364e35\n"),
        "{text}"
    );
    assert!(text.contains("Release type:     Update\n"), "{text}");
}

#[test]
fn msu_lists_inner_cabinets_and_reads_the_package() {
    if !have("cabextract") {
        return;
    }
    let (Some(msu), Some(cab)) = (
        fixture("cab/Windows6.1-KB2999226-x64.msu"),
        fixture("cab/Windows6.1-KB2999226-x64_inner-package.cab"),
    ) else {
        return;
    };
    let mum = mum_by_cabextract(&cab);
    let out = ok(wimforge().args(["package", "info", "--json"]).arg(&msu));
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    check_identity(&j, &mum);
    assert_eq!(j["msu"]["package_cabinet"], "Windows6.1-KB2999226-x64.cab");
    let inner: Vec<(String, u64)> = j["msu"]["inner_cabinets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["size"].as_u64().unwrap(),
            )
        })
        .collect();
    // The same names and sizes as cabextract -l shows for the .msu.
    let l = ok(Command::new("cabextract").arg("-l").arg(&msu));
    for (n, s) in &inner {
        assert!(
            l.contains(&format!("{s:>10} | ")) && l.contains(n.as_str()),
            "{n} {s}\n{l}"
        );
    }
    assert_eq!(
        inner,
        [
            ("WSUSSCAN.cab".to_string(), 171_784),
            ("Windows6.1-KB2999226-x64.cab".to_string(), 851_797)
        ]
    );
    let text = ok(wimforge().args(["package", "info"]).arg(&msu));
    assert!(
        text.contains("851797  Windows6.1-KB2999226-x64.cab  (package)"),
        "{text}"
    );
}

#[test]
fn applicability_warnings() {
    let Some(cab) = fixture("cab/Windows6.1-KB2999226-x64_inner-package.cab") else {
        return;
    };
    let check = |v: &str, arch: &str| -> serde_json::Value {
        let out = ok(wimforge()
            .args([
                "package",
                "info",
                "--json",
                "--image-version",
                v,
                "--image-arch",
                arch,
            ])
            .arg(&cab));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["applicability"].clone()
    };
    // Parent 6.1.7601.17514, build EQ, service GE.
    assert_eq!(check("6.1.7601.17514", "amd64"), serde_json::json!([]));
    assert_eq!(check("6.1.7601.23000", "x64"), serde_json::json!([]));
    let w = check("6.1.7601.16000", "amd64");
    assert_eq!(w[0]["kind"], "version");
    let w = check("10.0.14393.0", "amd64");
    assert_eq!(w[0]["kind"], "version");
    let w = check("6.1.7601.17514", "x86");
    let kinds: Vec<&str> = w
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"architecture"), "{w}");
    let out = run(wimforge()
        .args(["package", "info", "--image-version", "10.0"])
        .arg(&cab));
    assert!(!out.status.success());
}

#[test]
fn non_package_cab_is_a_clear_error() {
    let Some(cab) = fixture("cab/gcab/test-none.cab") else {
        return;
    };
    let out = run(wimforge().args(["package", "info"]).arg(&cab));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no update.mum"));
}
