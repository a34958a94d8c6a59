//! `wimforge hive dump` and `wimforge bcd dump` on the real hives in
//! `shared/fixtures/real/hive/`, checked against hivex.

#[path = "hive_util/mod.rs"]
mod hive_util;
mod support;

use hive_util::{diff, hivex_export, parse_dump_json};
use support::{fixture, have, ok, wimforge};

const HIVES: &[&str] = &[
    "hive/nt-hive_testhive",
    "hive/regipy_BCD",
    "hive/regipy_SAM",
    "hive/usbboot_EFI-Microsoft-Boot_BCD",
    "hive/usbboot_boot_BCD",
];
const BCDS: &[&str] = &[
    "hive/regipy_BCD",
    "hive/usbboot_EFI-Microsoft-Boot_BCD",
    "hive/usbboot_boot_BCD",
];

#[test]
fn dump_lists_exactly_what_hivex_exports() {
    if !have("hivexregedit") {
        return;
    }
    for rel in HIVES {
        let Some(p) = fixture(rel) else { return };
        let ours = parse_dump_json(&ok(wimforge().args(["hive", "dump", "--json"]).arg(&p)));
        let theirs = hivex_export(&p);
        assert!(ours.len() > 1, "{rel}: no keys");
        if let Some(d) = diff(&ours, &theirs) {
            panic!("{rel}: wimforge (left) and hivexregedit (right) differ: {d}");
        }
    }
}

#[test]
fn dump_text_and_subtree() {
    let Some(p) = fixture("hive/regipy_BCD") else {
        return;
    };
    let all = ok(wimforge().args(["hive", "dump"]).arg(&p));
    assert!(all.contains("[\\Description]"), "{all}");
    assert!(
        all.contains("\"KeyName\" REG_SZ = \"BCD00000000\""),
        "{all}"
    );
    let sub = ok(wimforge()
        .args(["hive", "dump"])
        .arg(&p)
        .arg("objects\\{9DEA862C-5CDD-4E70-ACC1-F32B344D4795}"));
    assert!(
        sub.starts_with("[\\Objects\\{9dea862c-5cdd-4e70-acc1-f32b344d4795}]"),
        "{sub}"
    );
    assert!(!sub.contains("[\\Description]"));
    let out = support::run(wimforge().args(["hive", "dump"]).arg(&p).arg("NoSuchKey"));
    assert!(!out.status.success());
}

#[test]
fn bcd_dump_decodes_every_device_element() {
    for rel in BCDS {
        let Some(p) = fixture(rel) else { return };
        let j: serde_json::Value =
            serde_json::from_str(&ok(wimforge().args(["bcd", "dump", "--json"]).arg(&p))).unwrap();
        let mut devices = 0;
        for o in j["objects"].as_array().unwrap() {
            assert!(o["object_type"].is_u64(), "{rel}: object without type: {o}");
            for e in o["elements"].as_array().unwrap() {
                let id = u32::from_str_radix(e["id"].as_str().unwrap(), 16).unwrap();
                if (id >> 24) & 0xF == 1 {
                    devices += 1;
                    assert_eq!(e["value"]["format"], "device", "{rel}: {e}");
                    let kind = e["value"]["value"]["device"]["kind"].as_str().unwrap();
                    assert!(kind != "unknown", "{rel}: undecoded device {e}");
                }
            }
        }
        assert!(devices > 0, "{rel}: no device elements");
    }
}

#[test]
fn bcd_dump_names_objects_elements_and_devices() {
    let Some(p) = fixture("hive/regipy_BCD") else {
        return;
    };
    let t = ok(wimforge().args(["bcd", "dump"]).arg(&p));
    // {bootmgr}: GPT partition device (partition and disk GUIDs decoded).
    assert!(
        t.contains("{bootmgr} {9dea862c-5cdd-4e70-acc1-f32b344d4795}"),
        "{t}"
    );
    assert!(
        t.contains("{globalsettings}") && t.contains("{resumeloadersettings}"),
        "{t}"
    );
    assert!(t.contains(
        "partition (GPT) partition={24e0e103-9bc2-477e-a5e2-3e42d2bb134f} disk={376e5397-7d1f-4e4f-a668-5a62c1269e60}"
    ), "{t}");
    assert!(
        t.contains("osdevice") && t.contains("systemroot") && t.contains("displayorder"),
        "{t}"
    );
    assert!(t.contains("timeout") && t.contains("description"), "{t}");
    // Windows RE: a RAM disk loaded from a file on a GPT partition.
    assert!(t.contains("ramdisk=[partition (GPT)"), "{t}");
    assert!(t.contains("\\Recovery\\WindowsRE\\Winre.wim"), "{t}");

    let Some(p) = fixture("hive/usbboot_boot_BCD") else {
        return;
    };
    let t = ok(wimforge().args(["bcd", "dump"]).arg(&p));
    assert!(
        t.contains(
            "ramdisk=[boot]\\sources\\boot.wim options={7619dcc8-fafe-11d9-b411-000476eba25f}"
        ),
        "{t}"
    );
    assert!(
        t.contains("{memdiag}") && t.contains("device                   boot"),
        "{t}"
    );
    assert!(
        t.contains("ramdisksdidevice") && t.contains("ramdisksdipath"),
        "{t}"
    );
}
