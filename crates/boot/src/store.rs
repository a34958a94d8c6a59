//! The BCD store bcdboot writes: a regf hive with `Description` and
//! `Objects\{GUID}\{Description,Elements}` (see `hive::bcd` for the
//! encoding). Either the image's `BCD-Template` is edited, or a store is
//! built from nothing with the same objects.
//!
//! What is written, object by object (element ids from Microsoft's
//! BcdBootMgrElementTypes / BcdOSLoaderElementTypes /
//! BcdResumeElementTypes / BcdLibraryElementTypes documentation; which of
//! them bcdboot sets, and their values, from the bcdboot-made store in
//! `fixtures/real/hive/regipy_BCD`):
//!
//! * `{bootmgr}`: device (system partition), path (UEFI only), description,
//!   locale, inherit `{globalsettings}`, default, resumeobject,
//!   displayorder, toolsdisplayorder `{memdiag}`, timeout.
//! * Windows Boot Loader (new GUID): device, path `winload.efi|exe`,
//!   description, locale, inherit `{bootloadersettings}`, isolatedcontext
//!   (UEFI), allowedinmemorysettings `0x15000075`, osdevice, systemroot,
//!   resumeobject, nx OptIn, bootmenupolicy Standard.
//! * Windows Resume Application (new GUID): device, path
//!   `winresume.efi|exe`, description, locale, inherit
//!   `{resumeloadersettings}`, isolatedcontext (UEFI),
//!   allowedinmemorysettings, filedevice, filepath `\hiberfil.sys`,
//!   bootmenupolicy, debugoptionenabled.
//! * `{memdiag}`: device (system partition), path `memtest.efi|exe`,
//!   description, locale, inherit `{globalsettings}`, badmemoryaccess.
//! * Settings objects (kept from the template when it has them):
//!   `{globalsettings}`, `{dbgsettings}`, `{emssettings}`, `{badmemory}`,
//!   `{bootloadersettings}`, `{hypervisorsettings}`,
//!   `{resumeloadersettings}`.

use crate::guid::{braced, GuidSource};
use crate::{BootOptions, Error, Firmware, Result};
use hive::bcd::{self, ElementValue};
use hive::value::{REG_BINARY, REG_DWORD};
use hive::{Hive, Key};
use std::collections::HashMap;
use uuid::Uuid;

/// Where a device element points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceRef {
    /// A GPT partition: its unique partition GUID and the disk GUID.
    Gpt { partition: Uuid, disk: Uuid },
    /// An MBR partition: its start in bytes and the disk signature.
    Mbr { offset: u64, signature: u32 },
}

impl DeviceRef {
    /// The 88-byte device element value.
    pub fn encode(&self) -> Vec<u8> {
        match *self {
            DeviceRef::Gpt { partition, disk } => bcd::device_gpt_partition(partition, disk),
            DeviceRef::Mbr { offset, signature } => bcd::device_mbr_partition(offset, signature),
        }
    }
}

/// Well-known objects.
pub mod ids {
    pub const BOOTMGR: &str = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
    pub const GLOBALSETTINGS: &str = "{7ea2e1ac-2e61-4728-aaa3-896d9d0a9f0e}";
    pub const BOOTLOADERSETTINGS: &str = "{6efb52bf-1766-41db-a6b3-0ee5eff72bd7}";
    pub const RESUMELOADERSETTINGS: &str = "{1afa9c49-16ab-4a5c-901b-212802da9460}";
    pub const MEMDIAG: &str = "{b2721d73-1db4-4c62-bf78-c548a880142d}";
    pub const DBGSETTINGS: &str = "{4636856e-540f-4170-a130-a84776f4c654}";
    pub const EMSSETTINGS: &str = "{0ce4991b-e6b3-4b16-b23c-5e0d9250e5d9}";
    pub const BADMEMORY: &str = "{5189b25c-5558-4bf2-bca4-289b11bd29e2}";
    pub const HYPERVISORSETTINGS: &str = "{7ff607e0-4395-11db-b0de-0800200c9a66}";
}

/// Object types (BCD object type = image type | application type).
pub mod types {
    pub const BOOTMGR: u32 = 0x1010_0002;
    pub const OSLOADER: u32 = 0x1020_0003;
    pub const RESUME: u32 = 0x1020_0004;
    pub const MEMDIAG: u32 = 0x1020_0005;
    pub const LIBRARY_SETTINGS: u32 = 0x2010_0000;
    pub const OSLOADER_SETTINGS: u32 = 0x2020_0003;
    pub const RESUME_SETTINGS: u32 = 0x2020_0004;
}

/// Element ids used here.
pub mod el {
    pub const DEVICE: u32 = 0x1100_0001;
    pub const PATH: u32 = 0x1200_0002;
    pub const DESCRIPTION: u32 = 0x1200_0004;
    pub const LOCALE: u32 = 0x1200_0005;
    pub const INHERIT: u32 = 0x1400_0006;
    pub const BADMEMORYACCESS: u32 = 0x1600_000b;
    pub const DEBUGTYPE: u32 = 0x1500_0011;
    pub const BOOTEMS: u32 = 0x1600_0020;
    pub const ISOLATEDCONTEXT: u32 = 0x1600_0060;
    pub const ALLOWEDINMEMORYSETTINGS: u32 = 0x1700_0077;
    // {bootmgr}
    pub const DISPLAYORDER: u32 = 0x2400_0001;
    pub const DEFAULT: u32 = 0x2300_0003;
    pub const TIMEOUT: u32 = 0x2500_0004;
    pub const BM_RESUMEOBJECT: u32 = 0x2300_0006;
    pub const TOOLSDISPLAYORDER: u32 = 0x2400_0010;
    // OS loader
    pub const OSDEVICE: u32 = 0x2100_0001;
    pub const SYSTEMROOT: u32 = 0x2200_0002;
    pub const OSL_RESUMEOBJECT: u32 = 0x2300_0003;
    pub const NX: u32 = 0x2500_0020;
    pub const BOOTMENUPOLICY: u32 = 0x2500_00c2;
    pub const HV_DEBUGTYPE: u32 = 0x2500_00f3;
    pub const HV_DEBUGPORT: u32 = 0x2500_00f4;
    pub const HV_BAUDRATE: u32 = 0x2500_00f5;
    // Resume application
    pub const FILEDEVICE: u32 = 0x2100_0001;
    pub const FILEPATH: u32 = 0x2200_0002;
    pub const DEBUGOPTIONENABLED: u32 = 0x2600_0006;
    pub const RESUME_BOOTMENUPOLICY: u32 = 0x2500_0008;
}

/// FILETIME used for every key and the base block when a seed asks for a
/// reproducible store: 2000-01-01T00:00:00Z.
pub const FIXED_FILETIME: u64 = 125_911_584_000_000_000;

/// What [`build`] made, beside the hive bytes.
pub struct Built {
    pub hive: Vec<u8>,
    pub loader: String,
    pub resume: String,
    pub warnings: Vec<String>,
}

/// Element values, encoded as the store keeps them.
enum V<'a> {
    Dev(&'a DeviceRef),
    Str(&'a str),
    Obj(&'a str),
    List(&'a [&'a str]),
    Int(u64),
    Bool(bool),
    Ints(&'a [u64]),
}

fn set(h: &mut Hive, obj: &str, id: u32, v: V) -> Result<()> {
    let (t, d) = match v {
        V::Dev(d) => (REG_BINARY, d.encode()),
        V::Str(s) => bcd::encode_element(&ElementValue::String(s.into())),
        V::Obj(s) => bcd::encode_element(&ElementValue::Object(s.into())),
        V::List(l) => bcd::encode_element(&ElementValue::ObjectList(
            l.iter().map(|s| s.to_string()).collect(),
        )),
        V::Int(n) => bcd::encode_element(&ElementValue::Integer(n)),
        V::Bool(b) => bcd::encode_element(&ElementValue::Boolean(b)),
        V::Ints(l) => bcd::encode_element(&ElementValue::IntegerList(l.to_vec())),
    };
    bcd::set_element(h, obj, id, t, d).map_err(Error::Hive)
}

fn has_object(h: &Hive, obj: &str) -> bool {
    h.key(&format!("Objects\\{obj}")).is_some()
}

fn has_element(h: &Hive, obj: &str, id: u32) -> bool {
    h.key(&format!("Objects\\{obj}\\Elements\\{id:08x}"))
        .is_some()
}

fn object(h: &mut Hive, obj: &str, ty: u32) -> Result<()> {
    bcd::set_object(h, obj, ty).map_err(Error::Hive)
}

/// A settings object with its bcdboot contents, unless the template
/// already has it (then the template's elements stay).
fn settings(
    h: &mut Hive,
    obj: &str,
    ty: u32,
    fill: impl FnOnce(&mut Hive) -> Result<()>,
) -> Result<()> {
    if has_object(h, obj) {
        return Ok(());
    }
    object(h, obj, ty)?;
    fill(h)
}

/// Every object named by an inherit element of the store.
fn inherited(h: &Hive) -> Vec<String> {
    let id = format!("{:08x}", el::INHERIT);
    bcd::decode(h)
        .objects
        .into_iter()
        .flat_map(|o| o.elements)
        .filter(|e| e.id == id)
        .flat_map(|e| match e.value {
            ElementValue::ObjectList(l) => l,
            _ => Vec::new(),
        })
        .collect()
}

/// Every key path (lower-cased) with its last-written time.
fn stamps(h: &Hive) -> HashMap<String, u64> {
    h.walk()
        .into_iter()
        .map(|(p, k)| (p.to_ascii_lowercase(), k.timestamp))
        .collect()
}

/// Give `t` to every key that is new or was touched since `before`.
fn restamp(k: &mut Key, path: &str, before: &HashMap<String, u64>, t: u64) {
    if before.get(&path.to_ascii_lowercase()) != Some(&k.timestamp) {
        k.timestamp = t;
    }
    for s in &mut k.subkeys {
        let p = if path.is_empty() {
            s.name.clone()
        } else {
            format!("{path}\\{}", s.name)
        };
        restamp(s, &p, before, t);
    }
}

/// Build the store. `system` is the partition holding the boot manager
/// (the ESP for UEFI, the active partition for BIOS), `windows` the one
/// holding `\Windows`.
pub fn build(
    template: Option<&[u8]>,
    windows: &DeviceRef,
    system: &DeviceRef,
    opts: &BootOptions,
) -> Result<Built> {
    let mut warnings = Vec::new();
    let (mut h, seq) = match template {
        Some(t) => {
            let h = Hive::from_bytes(t).map_err(Error::Template)?;
            if h.key("Objects").is_none() {
                return Err(Error::NotBcd(
                    "the template hive has no Objects key: not a BCD store".into(),
                ));
            }
            let seq = hive::base::BaseBlock::parse(t, false)
                .map(|b| b.primary_seq.max(b.secondary_seq).wrapping_add(1))
                .unwrap_or(1);
            (h, seq)
        }
        // A new store's root key is called NewStoreRoot (format 1.3), as
        // in Windows-made stores.
        None => (Hive::new(3, "NewStoreRoot"), 1),
    };
    let before = stamps(&h);
    let now = hive::model::now_filetime();
    let uefi = opts.firmware == Firmware::Uefi;
    let ext = if uefi { "efi" } else { "exe" };

    let mut guids = GuidSource::new(opts.seed);
    let mut fresh = || loop {
        let g = braced(&guids.next_guid());
        if !has_object(&h, &g) {
            break g;
        }
    };
    let loader = fresh();
    let resume = fresh();

    // Description: the store as Windows names it once it is the system
    // store (regipy_BCD: KeyName BCD00000000, System 1, TreatAsSystem 1).
    h.set_value(
        "Description",
        "KeyName",
        hive::value::REG_SZ,
        hive::value::utf16z("BCD00000000", true),
    )
    .map_err(Error::Hive)?;
    for name in ["System", "TreatAsSystem"] {
        h.set_value("Description", name, REG_DWORD, 1u32.to_le_bytes().to_vec())
            .map_err(Error::Hive)?;
    }
    h.create_key("Objects").map_err(Error::Hive)?;

    // Settings objects, as the Windows 10 template has them: the three our
    // entries inherit from, then those an inherit list names (all of them
    // for a new store; for a template only what it lacks and refers to).
    settings(&mut h, ids::GLOBALSETTINGS, types::LIBRARY_SETTINGS, |h| {
        let l = [ids::DBGSETTINGS, ids::EMSSETTINGS, ids::BADMEMORY];
        set(h, ids::GLOBALSETTINGS, el::INHERIT, V::List(&l))
    })?;
    settings(
        &mut h,
        ids::BOOTLOADERSETTINGS,
        types::OSLOADER_SETTINGS,
        |h| {
            let l = [ids::GLOBALSETTINGS, ids::HYPERVISORSETTINGS];
            set(h, ids::BOOTLOADERSETTINGS, el::INHERIT, V::List(&l))
        },
    )?;
    settings(
        &mut h,
        ids::RESUMELOADERSETTINGS,
        types::RESUME_SETTINGS,
        |h| {
            let l = [ids::GLOBALSETTINGS];
            set(h, ids::RESUMELOADERSETTINGS, el::INHERIT, V::List(&l))
        },
    )?;
    let inherited = inherited(&h);
    let wanted = |g: &str| inherited.iter().any(|x| x.eq_ignore_ascii_case(g));
    if wanted(ids::DBGSETTINGS) {
        settings(&mut h, ids::DBGSETTINGS, types::LIBRARY_SETTINGS, |h| {
            set(h, ids::DBGSETTINGS, el::DEBUGTYPE, V::Int(4)) // local
        })?;
    }
    if wanted(ids::EMSSETTINGS) {
        settings(&mut h, ids::EMSSETTINGS, types::LIBRARY_SETTINGS, |h| {
            set(h, ids::EMSSETTINGS, el::BOOTEMS, V::Bool(false))
        })?;
    }
    if wanted(ids::BADMEMORY) {
        settings(&mut h, ids::BADMEMORY, types::LIBRARY_SETTINGS, |_| Ok(()))?;
    }
    if wanted(ids::HYPERVISORSETTINGS) {
        settings(
            &mut h,
            ids::HYPERVISORSETTINGS,
            types::OSLOADER_SETTINGS,
            |h| {
                set(h, ids::HYPERVISORSETTINGS, el::HV_DEBUGTYPE, V::Int(0))?;
                set(h, ids::HYPERVISORSETTINGS, el::HV_DEBUGPORT, V::Int(1))?;
                set(h, ids::HYPERVISORSETTINGS, el::HV_BAUDRATE, V::Int(115_200))
            },
        )?;
    }

    let locale = opts.locale.as_str();
    let in_memory: &[u64] = &[0x1500_0075];

    // Windows Boot Loader.
    object(&mut h, &loader, types::OSLOADER)?;
    let l = loader.as_str();
    set(&mut h, l, el::DEVICE, V::Dev(windows))?;
    set(
        &mut h,
        l,
        el::PATH,
        V::Str(&format!("\\Windows\\system32\\winload.{ext}")),
    )?;
    set(&mut h, l, el::DESCRIPTION, V::Str(&opts.description))?;
    set(&mut h, l, el::LOCALE, V::Str(locale))?;
    set(&mut h, l, el::INHERIT, V::List(&[ids::BOOTLOADERSETTINGS]))?;
    if uefi {
        set(&mut h, l, el::ISOLATEDCONTEXT, V::Bool(true))?;
    }
    set(&mut h, l, el::ALLOWEDINMEMORYSETTINGS, V::Ints(in_memory))?;
    set(&mut h, l, el::OSDEVICE, V::Dev(windows))?;
    set(&mut h, l, el::SYSTEMROOT, V::Str("\\Windows"))?;
    set(&mut h, l, el::OSL_RESUMEOBJECT, V::Obj(&resume))?;
    set(&mut h, l, el::NX, V::Int(0))?; // OptIn
    set(&mut h, l, el::BOOTMENUPOLICY, V::Int(1))?; // Standard

    // Windows Resume Application.
    object(&mut h, &resume, types::RESUME)?;
    let r = resume.as_str();
    set(&mut h, r, el::DEVICE, V::Dev(windows))?;
    set(
        &mut h,
        r,
        el::PATH,
        V::Str(&format!("\\Windows\\system32\\winresume.{ext}")),
    )?;
    set(
        &mut h,
        r,
        el::DESCRIPTION,
        V::Str("Windows Resume Application"),
    )?;
    set(&mut h, r, el::LOCALE, V::Str(locale))?;
    set(
        &mut h,
        r,
        el::INHERIT,
        V::List(&[ids::RESUMELOADERSETTINGS]),
    )?;
    if uefi {
        set(&mut h, r, el::ISOLATEDCONTEXT, V::Bool(true))?;
    }
    set(&mut h, r, el::ALLOWEDINMEMORYSETTINGS, V::Ints(in_memory))?;
    set(&mut h, r, el::FILEDEVICE, V::Dev(windows))?;
    set(&mut h, r, el::FILEPATH, V::Str("\\hiberfil.sys"))?;
    set(&mut h, r, el::RESUME_BOOTMENUPOLICY, V::Int(1))?;
    set(&mut h, r, el::DEBUGOPTIONENABLED, V::Bool(false))?;

    // Windows Memory Diagnostic (template elements other than these stay).
    let m = ids::MEMDIAG;
    if !has_object(&h, m) {
        object(&mut h, m, types::MEMDIAG)?;
    }
    if !has_element(&h, m, el::BADMEMORYACCESS) {
        set(&mut h, m, el::BADMEMORYACCESS, V::Bool(true))?;
    }
    set(&mut h, m, el::DEVICE, V::Dev(system))?;
    let memtest = if uefi {
        "\\EFI\\Microsoft\\Boot\\memtest.efi"
    } else {
        "\\boot\\memtest.exe"
    };
    set(&mut h, m, el::PATH, V::Str(memtest))?;
    set(
        &mut h,
        m,
        el::DESCRIPTION,
        V::Str("Windows Memory Diagnostic"),
    )?;
    set(&mut h, m, el::LOCALE, V::Str(locale))?;
    set(&mut h, m, el::INHERIT, V::List(&[ids::GLOBALSETTINGS]))?;

    // Windows Boot Manager.
    let b = ids::BOOTMGR;
    if !has_object(&h, b) {
        object(&mut h, b, types::BOOTMGR)?;
    }
    set(&mut h, b, el::DEVICE, V::Dev(system))?;
    if uefi {
        set(
            &mut h,
            b,
            el::PATH,
            V::Str("\\EFI\\Microsoft\\Boot\\bootmgfw.efi"),
        )?;
    } else if has_element(&h, b, el::PATH) {
        // BIOS firmware loads \bootmgr itself; the entry has no path.
        h.delete_key(&format!("Objects\\{b}\\Elements\\{:08x}", el::PATH))
            .map_err(Error::Hive)?;
    }
    set(&mut h, b, el::DESCRIPTION, V::Str("Windows Boot Manager"))?;
    set(&mut h, b, el::LOCALE, V::Str(locale))?;
    set(&mut h, b, el::INHERIT, V::List(&[ids::GLOBALSETTINGS]))?;
    set(&mut h, b, el::DEFAULT, V::Obj(&loader))?;
    set(&mut h, b, el::BM_RESUMEOBJECT, V::Obj(&resume))?;
    set(&mut h, b, el::DISPLAYORDER, V::List(&[l]))?;
    set(&mut h, b, el::TOOLSDISPLAYORDER, V::List(&[ids::MEMDIAG]))?;
    set(&mut h, b, el::TIMEOUT, V::Int(opts.timeout as u64))?;

    // Boot entries a template brought along stay, but out of the menu.
    if template.is_some() {
        let store = bcd::decode(&h);
        for o in &store.objects {
            let app = o.object_type.map(|t| t & 0xF00F_FFFF);
            if o.guid != loader && o.guid != resume && matches!(app, Some(0x1000_0003)) {
                warnings.push(format!(
                    "the template's boot loader entry {} is kept but not in the boot menu",
                    o.guid
                ));
            }
        }
    }

    let ts = if opts.seed.is_some() {
        FIXED_FILETIME
    } else {
        now
    };
    restamp(&mut h.root, "", &before, ts);
    let hive = hive::write::serialize(&h, seq, ts);
    Ok(Built {
        hive,
        loader,
        resume,
        warnings,
    })
}

/// One line per object of a store: `{alias or guid} (type) "description"`.
pub fn describe(hive_bytes: &[u8]) -> Result<Vec<String>> {
    let h = Hive::from_bytes(hive_bytes).map_err(Error::Hive)?;
    Ok(bcd::decode(&h)
        .objects
        .iter()
        .map(|o| {
            let name = match o.alias {
                Some(a) => format!("{{{a}}}"),
                None => o.guid.clone(),
            };
            let desc = o
                .elements
                .iter()
                .find_map(|e| match (&e.value, e.id.as_str()) {
                    (ElementValue::String(s), "12000004") => Some(s.clone()),
                    _ => None,
                });
            match (o.type_description.as_deref(), desc) {
                (Some(t), Some(d)) => format!("{name} ({t}) \"{d}\""),
                (Some(t), None) => format!("{name} ({t})"),
                (None, _) => name,
            }
        })
        .collect())
}
