//! `wimforge build` with the experimental `packages.mode = "expand"`,
//! checked with outside tools only: cabextract gives the payloads and
//! manifests, gcab builds CBS-shaped test packages, 7-Zip reads the
//! original hives out of the WIM, ntfs-3g (`ntfscat`, `ntfsls`) reads the
//! Windows partition of the raw output, and `hivexregedit --export` shows
//! the hives before and after.
//!
//! * The real KB2999226 (.msu): its payloads are MSDelta (PA30) deltas
//!   behind a container index, which expand cannot decode: every file of
//!   every manifest must be reported as not done, nothing may be laid out
//!   or staged, and the hives must be byte-identical to the image's.
//! * A CBS-shaped package made here with gcab (update.mum -> sub-package
//!   .mum -> deployment -> components, payloads in component key form
//!   folders and at the cabinet's root, x86 components, two versions of a
//!   component, registry keys of every supported type, hostile
//!   destinations): each placed file is byte-equal to what cabextract
//!   gives, and the SOFTWARE and SYSTEM exports equal the originals plus
//!   exactly the expected values (the Docker service of the same build
//!   lands in the same SYSTEM hive).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// The Windows partition of a raw build output, as a file.
fn windows_partition(raw: &Path, report: &serde_json::Value, to: &Path) {
    let p = report["disk"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "windows")
        .unwrap_or_else(|| panic!("no windows partition in {report}"));
    cut(
        raw,
        p["start"].as_u64().unwrap(),
        p["size"].as_u64().unwrap(),
        to,
    );
}

fn ntfscat(img: &Path, path: &str) -> Option<Vec<u8>> {
    let out = run(Command::new("ntfscat").arg(img).arg(path));
    out.status.success().then_some(out.stdout)
}

/// Every name below the root of the NTFS image (ntfsls -R).
fn ntfs_listing(img: &Path) -> String {
    ok(Command::new("ntfsls").arg("-R").arg("-p").arg("/").arg(img))
}

/// The image's original hive, taken out of the WIM by 7-Zip.
fn original_hive(name: &str, dir: &Path) -> PathBuf {
    let out = dir.join(format!("orig-{name}"));
    std::fs::create_dir_all(&out).unwrap();
    ok(Command::new("7zz")
        .arg("e")
        .arg("-y")
        .arg(format!("-o{}", out.display()))
        .arg(demo_dir().join("demo.wim"))
        .arg(format!("Windows/System32/config/{name}")));
    out.join(name)
}

/// `hivexregedit --export` of a whole hive as key -> (value name -> data
/// text); keys relative to the root ("" is the root), continuation lines
/// joined.
fn export(hive: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = ok(Command::new("hivexregedit")
        .args(["--export", "--prefix", "R"])
        .arg(hive)
        .arg("\\"));
    let joined = text.replace("\\\n  ", "");
    let mut map: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut cur: Option<String> = None;
    for line in joined.lines() {
        if let Some(k) = line.strip_prefix("[R\\").and_then(|l| l.strip_suffix(']')) {
            let k = k.trim_end_matches('\\').to_string();
            map.entry(k.clone()).or_default();
            cur = Some(k);
        } else if let Some(k) = &cur {
            if line.is_empty() {
                continue;
            }
            let (name, data) = if let Some(rest) = line.strip_prefix("@=") {
                ("@".to_string(), rest.to_string())
            } else {
                let rest = line.strip_prefix('"').unwrap_or_else(|| panic!("{line}"));
                let end = rest.find("\"=").unwrap_or_else(|| panic!("{line}"));
                (rest[..end].to_string(), rest[end + 2..].to_string())
            };
            map.get_mut(k).unwrap().insert(name, data);
        }
    }
    map
}

fn hexlist(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn utf16z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain([0])
        .flat_map(|u| u.to_le_bytes())
        .collect()
}

/// The export text hivexregedit writes for each type.
fn sz(s: &str) -> String {
    format!("hex(1):{}", hexlist(&utf16z(s)))
}
fn expand_sz(s: &str) -> String {
    format!("hex(2):{}", hexlist(&utf16z(s)))
}
fn multi_sz(items: &[&str]) -> String {
    let mut b = Vec::new();
    for s in items {
        b.extend(utf16z(s));
    }
    b.extend([0, 0]);
    format!("hex(7):{}", hexlist(&b))
}
fn dword(v: u32) -> String {
    format!("dword:{v:08x}")
}

/// Add `key` and every parent of it to `map`.
fn add_key(map: &mut BTreeMap<String, BTreeMap<String, String>>, key: &str) {
    let mut path = String::new();
    for c in key.split('\\') {
        if !path.is_empty() {
            path.push('\\');
        }
        path.push_str(c);
        // Existing keys keep their name's case.
        if !map.keys().any(|k| k.eq_ignore_ascii_case(&path)) {
            map.insert(path.clone(), BTreeMap::new());
        }
    }
}

fn set(map: &mut BTreeMap<String, BTreeMap<String, String>>, key: &str, name: &str, data: String) {
    add_key(map, key);
    let k = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .unwrap()
        .clone();
    map.get_mut(&k).unwrap().insert(name.to_string(), data);
}

fn build(spec: &Path, out: &Path, report: &Path) -> serde_json::Value {
    ok(wimforge()
        .args(["-q", "build"])
        .arg(spec)
        .arg("-o")
        .arg(out)
        .arg("--json-report")
        .arg(report));
    serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The `name="..."` attribute in the text of one tag.
fn attr(tag_text: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag_text.find(&key)? + key.len();
    let j = tag_text[i..].find('"')?;
    Some(tag_text[i..i + j].to_string())
}

#[test]
fn real_kb2999226_msdelta_payloads_are_reported_and_nothing_else_changes() {
    let Some(msu) = fixture("cab/Windows6.1-KB2999226-x64.msu") else {
        return;
    };
    if !tools(&["cabextract", "ntfscat", "ntfsls", "7zz"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("kb.toml");
    std::fs::write(
        &spec,
        format!(
            "seed = 3\n[disk]\nsize = \"1 GiB\"\n[image]\nwim = {:?}\n[packages]\nmode = \"expand\"\ncabs = [{:?}]\n",
            demo_dir().join("demo.wim").display().to_string(),
            msu.display().to_string()
        ),
    )
    .unwrap();
    let out = dir.path().join("kb.raw");
    let report = build(&spec, &out, &dir.path().join("kb.json"));
    let p = &report["packages"][0];
    assert_eq!(p["name"], "Package_for_KB2999226");
    assert!(p["staged_as"].is_null(), "expand mode stages nothing: {p}");
    let e = &p["expand"];
    assert_eq!(e["files"].as_array().unwrap().len(), 0, "{e}");
    assert_eq!(e["registry"].as_array().unwrap().len(), 0, "{e}");
    let not_done = strings(&e["not_done"]);

    // The manifests and catalogs, independently: cabextract the MSU, then
    // its package CAB.
    let x = dir.path().join("x");
    ok(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(&x)
        .arg("-F")
        .arg("Windows6.1-KB2999226-x64.cab")
        .arg(&msu));
    let pkg = dir.path().join("pkg");
    ok(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(&pkg)
        .arg(x.join("Windows6.1-KB2999226-x64.cab")));
    let mut placed = 0;
    let mut cats = 0;
    for ent in std::fs::read_dir(&pkg).unwrap() {
        let path = ent.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".cat") {
            cats += 1;
            assert!(
                not_done
                    .iter()
                    .any(|n| n.contains(&name) && n.contains("catalog")),
                "catalog {name} not reported"
            );
        }
        if !name.ends_with(".manifest") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let ident = &text[text.find("<assemblyIdentity").unwrap()..];
        let arch = attr(ident, "processorArchitecture").unwrap();
        for (i, _) in text.match_indices("<file ") {
            let tag = &text[i..i + text[i..].find('>').unwrap()];
            let fname = attr(tag, "name").unwrap();
            let dest = attr(tag, "destinationPath").unwrap();
            assert_eq!(dest, "$(runtime.system32)\\", "{tag}");
            let folder = if arch == "x86" {
                "Windows\\SysWOW64"
            } else {
                "Windows\\System32"
            };
            let image_path = format!("{folder}\\{fname}");
            assert!(
                not_done.iter().any(|n| n.contains(&image_path)
                    && n.contains("MSDelta PA30")
                    && n.contains(attr(ident, "version").unwrap().as_str())),
                "{image_path} of {name} is not reported as an MSDelta payload:\n{}",
                not_done.join("\n")
            );
            placed += 1;
        }
    }
    // 4 API-forwarder manifests of 23 files, 4 UCRT manifests of 1.
    assert_eq!((placed, cats), (96, 6));
    for want in [
        "CBS registration of Package_for_KB2999226",
        "<trustInfo>",
        "category membership BootRecovery",
        "<applicable> rule",
    ] {
        assert!(
            not_done.iter().any(|n| n.contains(want)),
            "{want} missing from\n{}",
            not_done.join("\n")
        );
    }

    // Warnings: applicability (6.1 package, 10.0 image) and the summary.
    let warnings = strings(&report["warnings"]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("applies to") && w.contains("10.0.14393")),
        "{warnings:?}"
    );
    let summary = format!(
        "expand is experimental: {} items not done, see the report",
        not_done.len()
    );
    assert!(
        warnings.iter().any(|w| w.contains(&summary)),
        "{summary} in {warnings:?}"
    );
    assert!(strings(&report["setup_complete"]).is_empty());

    // The disk: no payload, no staged CAB, no SetupComplete, hives as
    // they were (byte for byte: they are not rewritten).
    let ntfs = dir.path().join("kb.ntfs");
    windows_partition(&out, &report, &ntfs);
    let listing = ntfs_listing(&ntfs).to_lowercase();
    for absent in [
        "ucrtbase.dll",
        "api-ms-win-crt",
        "syswow64",
        "packages",
        "setupcomplete.cmd",
    ] {
        assert!(
            !listing.contains(absent),
            "{absent} in the image:\n{listing}"
        );
    }
    for h in ["SOFTWARE", "SYSTEM"] {
        assert_eq!(
            ntfscat(&ntfs, &format!("Windows/System32/config/{h}")).unwrap(),
            std::fs::read(original_hive(h, dir.path())).unwrap(),
            "{h} changed"
        );
    }
}

/// A small deterministic pseudo-random payload.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const ASM: &str = "xmlns=\"urn:schemas-microsoft-com:asm.v3\" manifestVersion=\"1.0\"";
const TOKEN: &str = "31bf3856ad364e35";

fn ident(name: &str, version: &str, arch: &str) -> String {
    format!(
        "<assemblyIdentity name=\"{name}\" version=\"{version}\" processorArchitecture=\"{arch}\" language=\"neutral\" buildType=\"release\" publicKeyToken=\"{TOKEN}\" versionScope=\"nonSxS\" />"
    )
}

fn file(name: &str, dest: &str) -> String {
    format!(
        "  <file name=\"{name}\" destinationPath=\"{dest}\" sourceName=\"{name}\" sourcePath=\".\\\" importPath=\"$(build.nttree)\\\">\n    <securityDescriptor name=\"WRP_FILE_DEFAULT_SDDL\" />\n  </file>\n"
    )
}

/// Write the test package's files below `dir` and return (cabinet names
/// in gcab order).
fn write_package(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut put = |rel: &str, bytes: &[u8]| {
        let p = dir.join(rel.replace('\\', "/"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        names.push(rel.replace('\\', "/"));
    };
    let pkg = |name: &str, updates: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<assembly {ASM}>\n  <assemblyIdentity name=\"{name}\" version=\"10.0.14393.5\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"{TOKEN}\" />\n  <package identifier=\"KB0000001\" releaseType=\"Update\">\n{updates}  </package>\n</assembly>\n"
        )
    };
    put(
        "update.mum",
        pkg(
            "Package_for_Contoso",
            "    <update name=\"contoso-sub\">\n      <package integrate=\"hidden\">\n        <assemblyIdentity name=\"Package_1_for_Contoso\" version=\"10.0.14393.5\" language=\"neutral\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" />\n      </package>\n    </update>\n",
        )
        .as_bytes(),
    );
    put("update.cat", b"not a real catalog");
    put(
        "package_1_for_contoso~31bf3856ad364e35~amd64~~10.0.14393.5.mum",
        pkg(
            "Package_1_for_Contoso",
            &format!(
                "    <update name=\"contoso-main\">\n      <component>\n        {}\n      </component>\n    </update>\n",
                ident("contoso-deployment", "10.0.14393.5", "amd64")
            ),
        )
        .as_bytes(),
    );
    let dep = |id: String| {
        format!(
            "  <dependency discoverable=\"false\">\n    <dependentAssembly dependencyType=\"install\">\n      {id}\n    </dependentAssembly>\n  </dependency>\n"
        )
    };
    put(
        "amd64_contoso-deployment_31bf3856ad364e35_10.0.14393.5_none_0000000000000001.manifest",
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<assembly {ASM}>\n  {}\n  <deployment />\n{}{}{}</assembly>\n",
            ident("contoso-deployment", "10.0.14393.5", "amd64"),
            dep(ident("Contoso-Tools", "10.0.14393.4", "amd64")),
            dep(ident("Contoso-Tools", "10.0.14393.5", "amd64")),
            dep(ident("Contoso-Tools", "10.0.14393.5", "x86")),
        )
        .as_bytes(),
    );

    // Contoso-Tools 10.0.14393.5 amd64: every kind of file and value.
    let stem5 = "amd64_contoso-tools_31bf3856ad364e35_10.0.14393.5_none_00000000000000a5";
    let mut m = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<assembly {ASM}>\n  {}\n",
        ident("Contoso-Tools", "10.0.14393.5", "amd64")
    );
    m += &file("tool.dll", "$(runtime.system32)\\");
    m += &file("kernel32.dll", "$(runtime.system32)\\");
    m += &file("contoso.sys", "$(runtime.drivers)\\");
    m += "  <file name=\"app.exe\" destinationPath=\"$(runtime.programFiles)\\Contoso\\\" sourceName=\"app.exe\" sourcePath=\"bin\\\" />\n";
    m += "  <file name=\"flat.txt\" destinationPath=\"$(runtime.windows)\\Contoso\\\" sourceName=\"flat.txt\" />\n";
    m += "  <file name=\"data.bin\" destinationPath=\"$(runtime.commonFiles)\\Contoso\\\" />\n";
    m += "  <file name=\"renamed.dll\" destinationPath=\"$(runtime.system32)\\\" sourceName=\"orig.dll\" />\n";
    // Hostile or not doable.
    m += "  <file name=\"evil1.dll\" destinationPath=\"$(runtime.system32)\\..\\..\\\" />\n";
    m += "  <file name=\"..\\..\\evil2.dll\" destinationPath=\"$(runtime.system32)\\\" />\n";
    m += "  <file name=\"evil3.dll\" destinationPath=\"C:\\Windows\\\" />\n";
    m += "  <file name=\"evil4.dll\" destinationPath=\"$(runtime.userProfile)\\\" />\n";
    m += "  <file name=\"SYSTEM\" destinationPath=\"$(runtime.system32)\\config\\\" />\n";
    m += "  <file name=\"sxsonly.dll\" sourceName=\"sxsonly.dll\" />\n";
    m += "  <file name=\"missing.dll\" destinationPath=\"$(runtime.system32)\\\" />\n";
    m += r#"  <registryKeys>
    <registryKey keyName="HKEY_LOCAL_MACHINE\SOFTWARE\Contoso\Tools">
      <registryValue name="Version" valueType="REG_SZ" value="5" />
      <registryValue name="Path" valueType="REG_EXPAND_SZ" value="$(runtime.system32)\tool.dll" />
      <registryValue name="Home" valueType="REG_SZ" value="$(runtime.programFiles)\Contoso" />
      <registryValue name="List" valueType="REG_MULTI_SZ" value="&quot;alpha&quot;,&quot;beta gamma&quot;" />
      <registryValue name="Hex" valueType="REG_DWORD" value="0x0000002a" />
      <registryValue name="Dec" valueType="REG_DWORD" value="4000000000" />
      <registryValue name="Big" valueType="REG_QWORD" value="0x0123456789abcdef" />
      <registryValue name="Blob" valueType="REG_BINARY" value="00ff10ab" />
      <registryValue name="Nothing" valueType="REG_NONE" value="" />
      <registryValue name="" valueType="REG_SZ" value="default" />
      <registryValue name="BadDword" valueType="REG_DWORD" value="zz" />
      <registryValue name="Link" valueType="REG_LINK" value="x" />
      <securityDescriptor name="KEY_SDDL" />
    </registryKey>
    <registryKey keyName="HKEY_LOCAL_MACHINE\SOFTWARE\Contoso\Empty" />
    <registryKey keyName="HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\ContosoSvc\Parameters">
      <registryValue name="Level" valueType="REG_DWORD" value="3" />
    </registryKey>
    <registryKey keyName="HKEY_CLASSES_ROOT\.contoso">
      <registryValue name="" valueType="REG_SZ" value="Contoso.File" />
    </registryKey>
    <registryKey keyName="HKEY_CURRENT_USER\Software\Contoso">
      <registryValue name="User" valueType="REG_SZ" value="no" />
    </registryKey>
  </registryKeys>
  <memberships>
    <categoryMembership>
      <id name="Microsoft.Windows.Categories.Services" typeName="Service" />
      <categoryInstance subcategory="ContosoSvc">
        <serviceData name="ContosoSvc" displayName="Contoso" type="win32OwnProcess" startType="auto" />
      </categoryInstance>
    </categoryMembership>
  </memberships>
  <trustInfo><security /></trustInfo>
</assembly>
"#;
    put(&format!("{stem5}.manifest"), m.as_bytes());
    put(&format!("{stem5}\\tool.dll"), &payload(1, 3 << 20));
    put(&format!("{stem5}\\kernel32.dll"), &payload(2, 4096));
    put(&format!("{stem5}\\contoso.sys"), &payload(3, 777));
    put(&format!("{stem5}\\bin\\app.exe"), &payload(4, 10_000));
    put(&format!("{stem5}\\data.bin"), &payload(5, 0));
    put(&format!("{stem5}\\orig.dll"), &payload(6, 1234));
    put("flat.txt", b"a flat payload at the cabinet's root\r\n");
    put(&format!("{stem5}\\evil1.dll"), b"evil");
    put(&format!("{stem5}\\evil3.dll"), b"evil");
    put(&format!("{stem5}\\evil4.dll"), b"evil");
    put(&format!("{stem5}\\SYSTEM"), b"not a hive");
    put(&format!("{stem5}\\sxsonly.dll"), b"sxs");

    // The same component, one version older: its file and value lose.
    let stem4 = "amd64_contoso-tools_31bf3856ad364e35_10.0.14393.4_none_00000000000000a4";
    put(
        &format!("{stem4}.manifest"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<assembly {ASM}>\n  {}\n{}  <registryKeys>\n    <registryKey keyName=\"HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Tools\">\n      <registryValue name=\"Version\" valueType=\"REG_SZ\" value=\"4\" />\n      <registryValue name=\"OldOnly\" valueType=\"REG_DWORD\" value=\"1\" />\n    </registryKey>\n  </registryKeys>\n</assembly>\n",
            ident("Contoso-Tools", "10.0.14393.4", "amd64"),
            file("tool.dll", "$(runtime.system32)\\")
        )
        .as_bytes(),
    );
    put(&format!("{stem4}\\tool.dll"), &payload(7, 5000));

    // x86 (wow64) build: 32-bit folders and the redirected registry.
    let stem86 = "x86_contoso-tools_31bf3856ad364e35_10.0.14393.5_none_0000000000000086";
    put(
        &format!("{stem86}.manifest"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<assembly {ASM}>\n  {}\n{}  <file name=\"app.exe\" destinationPath=\"$(runtime.programFiles)\\Contoso\\\" />\n  <registryKeys>\n    <registryKey keyName=\"HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Tools\">\n      <registryValue name=\"Bits\" valueType=\"REG_SZ\" value=\"32\" />\n      <registryValue name=\"Dir\" valueType=\"REG_EXPAND_SZ\" value=\"$(runtime.system32)\" />\n    </registryKey>\n  </registryKeys>\n</assembly>\n",
            ident("Contoso-Tools", "10.0.14393.5", "x86"),
            file("tool.dll", "$(runtime.system32)\\")
        )
        .as_bytes(),
    );
    put(&format!("{stem86}\\tool.dll"), &payload(8, 70_000));
    put(&format!("{stem86}\\app.exe"), &payload(9, 3000));

    // Not reachable and not readable.
    put(
        "amd64_contoso-compressed_31bf3856ad364e35_10.0.14393.5_none_00000000000000dc.manifest",
        b"DCM\x01\x00\x11\x22\x33 delta bytes",
    );
    names
}

#[test]
fn expand_lays_out_payloads_and_registry_values_checked_by_outside_tools() {
    if !tools(&[
        "gcab",
        "cabextract",
        "ntfscat",
        "ntfsls",
        "7zz",
        "hivexregedit",
    ]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let names = write_package(&src);
    let cab = dir.path().join("Contoso-Package.cab");
    ok(Command::new("gcab")
        .arg("-c")
        .arg("-z")
        .arg(&cab)
        .args(&names)
        .current_dir(&src));
    // The payloads as cabextract sees them.
    let x = dir.path().join("x");
    ok(Command::new("cabextract")
        .arg("-q")
        .arg("-d")
        .arg(&x)
        .arg(&cab));
    let spec = dir.path().join("expand.toml");
    let bin = demo_dir().join("bin");
    std::fs::write(
        &spec,
        format!(
            "seed = 11\n[disk]\nsize = \"1 GiB\"\n[image]\nwim = {:?}\n[packages]\nmode = \"expand\"\ncabs = [{:?}]\n[docker]\nmode = \"nssm\"\nbinary = {:?}\nnssm = {:?}\n",
            demo_dir().join("demo.wim").display().to_string(),
            cab.display().to_string(),
            bin.join("docker.exe").display().to_string(),
            bin.join("nssm.exe").display().to_string(),
        ),
    )
    .unwrap();
    let out = dir.path().join("e.raw");
    let report = build(&spec, &out, &dir.path().join("e.json"));
    let p = &report["packages"][0];
    assert_eq!(p["name"], "Package_for_Contoso");
    assert!(p["staged_as"].is_null());
    assert!(
        p["warnings"].as_array().unwrap().is_empty(),
        "a 10.0.14393 package fits the image: {p}"
    );
    let e = &p["expand"];
    let not_done = strings(&e["not_done"]);
    let nd = not_done.join("\n");

    // Files: (image path, cabinet path of the payload).
    let stem5 = "amd64_contoso-tools_31bf3856ad364e35_10.0.14393.5_none_00000000000000a5";
    let stem86 = "x86_contoso-tools_31bf3856ad364e35_10.0.14393.5_none_0000000000000086";
    let expected = [
        ("Windows\\System32\\tool.dll", format!("{stem5}/tool.dll")),
        (
            "Windows\\System32\\kernel32.dll",
            format!("{stem5}/kernel32.dll"),
        ),
        (
            "Windows\\System32\\drivers\\contoso.sys",
            format!("{stem5}/contoso.sys"),
        ),
        (
            "Program Files\\Contoso\\app.exe",
            format!("{stem5}/bin/app.exe"),
        ),
        ("Windows\\Contoso\\flat.txt", "flat.txt".to_string()),
        (
            "Program Files\\Common Files\\Contoso\\data.bin",
            format!("{stem5}/data.bin"),
        ),
        (
            "Windows\\System32\\renamed.dll",
            format!("{stem5}/orig.dll"),
        ),
        ("Windows\\SysWOW64\\tool.dll", format!("{stem86}/tool.dll")),
        (
            "Program Files (x86)\\Contoso\\app.exe",
            format!("{stem86}/app.exe"),
        ),
    ];
    let files = e["files"].as_array().unwrap();
    assert_eq!(files.len(), expected.len(), "{e}");
    let ntfs = dir.path().join("e.ntfs");
    windows_partition(&out, &report, &ntfs);
    for (image_path, cab_path) in &expected {
        let want = std::fs::read(x.join(cab_path)).unwrap();
        let got = ntfscat(&ntfs, &image_path.replace('\\', "/"))
            .unwrap_or_else(|| panic!("{image_path} is not in the image"));
        assert!(got == want, "{image_path} differs from {cab_path}");
        let f = files
            .iter()
            .find(|f| f["path"] == *image_path)
            .unwrap_or_else(|| panic!("{image_path} not in the report"));
        assert_eq!(f["size"].as_u64().unwrap(), want.len() as u64);
    }
    // kernel32.dll was in the image: replaced.
    let injected = report["files"].as_array().unwrap();
    assert!(injected
        .iter()
        .any(|f| f["path"] == "Windows\\System32\\kernel32.dll" && f["replaced"] == true));
    // The older component's tool.dll lost.
    assert!(
        nd.contains("Contoso-Tools 10.0.14393.4 amd64: Windows\\System32\\tool.dll not laid out: superseded by Contoso-Tools 10.0.14393.5"),
        "{nd}"
    );
    // Hostile and undoable files: reported, never written anywhere.
    for (what, why) in [
        ("evil1.dll", "\"..\" is not allowed"),
        ("evil2.dll", "\"..\" is not allowed"),
        ("evil3.dll", "does not start with a $(runtime.*) variable"),
        ("evil4.dll", "unknown variable $(runtime.userProfile)"),
        ("\"SYSTEM\"", "hives are not replaced"),
        ("sxsonly.dll", "has no destinationPath"),
        ("missing.dll", "payload not found"),
    ] {
        assert!(
            not_done.iter().any(|n| n.contains(what) && n.contains(why)),
            "{what}: {why} missing from\n{nd}"
        );
    }
    let listing = ntfs_listing(&ntfs);
    for bad in ["evil", "sxsonly", "missing.dll"] {
        assert!(!listing.contains(bad), "{bad} in the image:\n{listing}");
    }
    assert_ne!(
        ntfscat(&ntfs, "Windows/System32/config/SYSTEM").unwrap(),
        b"not a hive"
    );
    for want in [
        "CBS registration of Package_for_Contoso",
        "catalog update.cat not registered",
        "security descriptor WRP_FILE_DEFAULT_SDDL of Windows\\System32\\tool.dll not applied",
        "key HKEY_LOCAL_MACHINE\\SOFTWARE\\Contoso\\Tools: security descriptor KEY_SDDL not applied",
        "service ContosoSvc (<serviceData>) not created",
        "category membership Service not run",
        "<trustInfo>",
        "\"BadDword\" not written",
        "\"Link\" not written: value type \"REG_LINK\" is not supported",
        "key \"HKEY_CURRENT_USER\\Software\\Contoso\": root HKEY_CURRENT_USER is per-user or volatile; not written (1 value(s))",
        "value \"Version\" of HKLM\\SOFTWARE\\Contoso\\Tools not written: superseded by Contoso-Tools 10.0.14393.5",
        "amd64_contoso-compressed_31bf3856ad364e35_10.0.14393.5_none_00000000000000dc.manifest: DCM-compressed",
    ] {
        assert!(nd.contains(want), "{want} missing from\n{nd}");
    }
    let warnings = strings(&report["warnings"]);
    assert!(warnings.iter().any(|w| w.contains(&format!(
        "expand is experimental: {} items not done",
        not_done.len()
    ))));
    // No first-boot install: only the Docker service's folder step.
    let sc = strings(&report["setup_complete"]).join("\n");
    assert!(!sc.to_lowercase().contains("dism"), "{sc}");
    assert!(!listing.contains("Contoso-Package.cab"));

    // SOFTWARE: the original plus exactly the expected values.
    let orig = export(&original_hive("SOFTWARE", dir.path()));
    let sw = dir.path().join("SOFTWARE.out");
    std::fs::write(
        &sw,
        ntfscat(&ntfs, "Windows/System32/config/SOFTWARE").unwrap(),
    )
    .unwrap();
    let got = export(&sw);
    let mut want = orig.clone();
    let t = "Contoso\\Tools";
    set(&mut want, t, "Version", sz("5"));
    set(
        &mut want,
        t,
        "Path",
        expand_sz("%SystemRoot%\\System32\\tool.dll"),
    );
    set(&mut want, t, "Home", sz("C:\\Program Files\\Contoso"));
    set(&mut want, t, "List", multi_sz(&["alpha", "beta gamma"]));
    set(&mut want, t, "Hex", dword(42));
    set(&mut want, t, "Dec", dword(4_000_000_000));
    set(
        &mut want,
        t,
        "Big",
        format!(
            "hex(b):{}",
            hexlist(&0x0123_4567_89ab_cdefu64.to_le_bytes())
        ),
    );
    set(&mut want, t, "Blob", "hex(3):00,ff,10,ab".into());
    set(&mut want, t, "Nothing", "hex(0):".into());
    set(&mut want, t, "@", sz("default"));
    set(&mut want, t, "OldOnly", dword(1));
    add_key(&mut want, "Contoso\\Empty");
    set(&mut want, "Classes\\.contoso", "@", sz("Contoso.File"));
    set(&mut want, "Wow6432Node\\Contoso\\Tools", "Bits", sz("32"));
    set(
        &mut want,
        "Wow6432Node\\Contoso\\Tools",
        "Dir",
        expand_sz("%SystemRoot%\\SysWOW64"),
    );
    assert_eq!(
        got, want,
        "SOFTWARE differs from the original + the manifests' values"
    );

    // SYSTEM: the original, the Docker service, and the manifest's value
    // under the control set Select\Current names.
    let orig = export(&original_hive("SYSTEM", dir.path()));
    assert_eq!(orig["Select"]["Current"], dword(1));
    let sy = dir.path().join("SYSTEM.out");
    std::fs::write(
        &sy,
        ntfscat(&ntfs, "Windows/System32/config/SYSTEM").unwrap(),
    )
    .unwrap();
    let mut got = export(&sy);
    let docker: Vec<String> = got
        .keys()
        .filter(|k| k.starts_with("ControlSet001\\Services\\docker"))
        .cloned()
        .collect();
    assert!(!docker.is_empty());
    assert_eq!(
        got["ControlSet001\\Services\\docker"]["Type"],
        dword(0x10),
        "the Docker service is in the same hive"
    );
    for k in docker {
        got.remove(&k);
    }
    let mut want = orig.clone();
    set(
        &mut want,
        "ControlSet001\\Services\\ContosoSvc\\Parameters",
        "Level",
        dword(3),
    );
    assert_eq!(
        got, want,
        "SYSTEM differs from the original + docker + the manifests' value"
    );

    // The report lists every value written, with its hive.
    let reg = e["registry"].as_array().unwrap();
    assert!(reg.iter().any(|v| v["hive"] == "SYSTEM"
        && v["key"] == "ControlSet001\\Services\\ContosoSvc\\Parameters"
        && v["name"] == "Level"
        && v["data_type"] == "REG_DWORD"));
    assert_eq!(reg.len(), 15, "{e}");
    assert!(strings(&e["keys_created"]).contains(&"SOFTWARE\\Contoso\\Empty".to_string()));

    // Same spec and seed: the same disk, byte for byte.
    let out2 = dir.path().join("e2.raw");
    build(&spec, &out2, &dir.path().join("e2.json"));
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(&out2).unwrap(),
        "two expand builds with seed 11 differ"
    );
}

#[test]
fn expand_of_a_package_cab_of_the_msu_matches_the_msu() {
    // The MSU and its package CAB (as cabextract gives it) expand to the
    // same plan.
    let (Some(msu), Some(inner)) = (
        fixture("cab/Windows6.1-KB2999226-x64.msu"),
        fixture("cab/Windows6.1-KB2999226-x64_inner-package.cab"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut lists = Vec::new();
    for (n, pkg) in [msu, inner].iter().enumerate() {
        let spec = dir.path().join(format!("s{n}.toml"));
        std::fs::write(
            &spec,
            format!(
                "[disk]\nsize = \"1 GiB\"\n[image]\nwim = {:?}\n[packages]\nmode = \"expand\"\ncabs = [{:?}]\n",
                demo_dir().join("demo.wim").display().to_string(),
                pkg.display().to_string()
            ),
        )
        .unwrap();
        let r = build(
            &spec,
            &dir.path().join(format!("o{n}.raw")),
            &dir.path().join(format!("r{n}.json")),
        );
        lists.push(strings(&r["packages"][0]["expand"]["not_done"]));
    }
    assert_eq!(lists[0], lists[1]);
    assert!(lists[0].len() > 100);
}
