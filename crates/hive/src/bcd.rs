//! Boot Configuration Data stores. A BCD store is a hive:
//! `Objects\{GUID}\Description\Type` (REG_DWORD object type) and
//! `Objects\{GUID}\Elements\<8 hex digits>\Element` (one value per element).
//!
//! Element type = class (bits 28-31: 1 library, 2 application, 3 device,
//! 5 OEM) | format (bits 24-27: 1 device, 2 string, 3 object, 4 object
//! list, 5 integer, 6 boolean, 7 integer list) | subtype (bits 0-23);
//! stored as REG_BINARY (device, integer, boolean, integer list), REG_SZ
//! (string, object) or REG_MULTI_SZ (object list). Facts from Microsoft's
//! BcdElementType / BcdLibraryElementTypes / BcdOSLoaderElementTypes /
//! BcdBootMgrElementTypes documentation and Geoff Chappell's BCD notes.
//!
//! Device elements: a 16-byte GUID naming an options object (zero for
//! none), then a device record: type (u32), flags (u32), size of the
//! record (u32), reserved (u32), then per type:
//! * 5 boot device: nothing meaningful.
//! * 6 partition: partition identity (16: GPT partition GUID, or MBR byte
//!   offset as u64), 4 reserved, partition style (u32: 0 GPT, 1 MBR), disk
//!   identity (16: GPT disk GUID, or MBR signature as u32).
//! * 0 block I/O device: block type (u32: 0 hard disk, 1 removable, 2
//!   CD-ROM, 3 RAM disk, 5 file, 6 virtual disk); for RAM disks 20 bytes of
//!   image parameters, then a file path: version (1), length of this path
//!   block, path type, a nested device record, and a NUL-terminated
//!   UTF-16 path.
//! * 8 locate device: shown raw.

use crate::model::{Hive, Key};
use crate::value::{multi_sz, utf16_text, REG_DWORD};
use serde::Serialize;
use uuid::Uuid;

/// Well-known object GUIDs and their bcdedit aliases.
pub const WELL_KNOWN: &[(&str, &str)] = &[
    ("9dea862c-5cdd-4e70-acc1-f32b344d4795", "bootmgr"),
    ("a5a30fa2-3d06-4e9f-b5f4-a01df9d1fcba", "fwbootmgr"),
    ("7ea2e1ac-2e61-4728-aaa3-896d9d0a9f0e", "globalsettings"),
    ("6efb52bf-1766-41db-a6b3-0ee5eff72bd7", "bootloadersettings"),
    (
        "1afa9c49-16ab-4a5c-901b-212802da9460",
        "resumeloadersettings",
    ),
    ("b2721d73-1db4-4c62-bf78-c548a880142d", "memdiag"),
    ("4636856e-540f-4170-a130-a84776f4c654", "dbgsettings"),
    ("0ce4991b-e6b3-4b16-b23c-5e0d9250e5d9", "emssettings"),
    ("5189b25c-5558-4bf2-bca4-289b11bd29e2", "badmemory"),
    ("7ff607e0-4395-11db-b0de-0800200c9a66", "hypervisorsettings"),
    ("ae5534e0-a924-466c-b836-758539a3ee3a", "ramdiskoptions"),
    ("466f5a88-0af2-4f76-9038-095b170dc21c", "ntldr"),
    ("fa926493-6f1c-4193-a414-58f0b2456d1e", "current"),
    ("1cae1eb7-a0df-4d4d-9851-4860e34ef535", "default"),
];

/// The alias of a GUID string ("{...}" or bare), if well known.
pub fn alias(guid: &str) -> Option<&'static str> {
    let g = guid
        .trim_matches(|c| c == '{' || c == '}')
        .to_ascii_lowercase();
    WELL_KNOWN.iter().find(|(k, _)| *k == g).map(|(_, a)| *a)
}

/// Describe an object type.
pub fn object_type_name(t: u32) -> String {
    let app = |a: u32| match a {
        1 => "firmware boot manager",
        2 => "Windows Boot Manager",
        3 => "Windows Boot Loader",
        4 => "Windows Resume Application",
        5 => "Windows Memory Tester",
        6 => "legacy loader (ntldr)",
        7 => "setup loader",
        8 => "boot sector",
        9 => "startup module",
        10 => "boot application",
        _ => "application",
    };
    match t >> 28 {
        1 if t & 0xFFFFF == 0xFFFFF => "firmware boot entry".into(),
        1 => format!("application: {}", app(t & 0xFFFFF)),
        2 => match (t >> 20) & 0xF {
            1 => "settings (library, inheritable)".into(),
            2 => format!("settings inherited by: {}", app(t & 0xFFFFF)),
            3 => "settings (device, inheritable)".into(),
            _ => "settings".into(),
        },
        3 => "device options".into(),
        _ => format!("type {t:#010x}"),
    }
}

const LIBRARY: &[(u32, &str)] = &[
    (0x11000001, "device"),
    (0x12000002, "path"),
    (0x12000004, "description"),
    (0x12000005, "locale"),
    (0x14000006, "inherit"),
    (0x15000007, "truncatememory"),
    (0x14000008, "recoverysequence"),
    (0x16000009, "recoveryenabled"),
    (0x1700000a, "badmemorylist"),
    (0x1600000b, "badmemoryaccess"),
    (0x1500000c, "firstmegabytepolicy"),
    (0x1500000d, "relocatephysical"),
    (0x1500000e, "avoidlowmemory"),
    (0x1600000f, "traditionalkseg"),
    (0x16000010, "bootdebug"),
    (0x15000011, "debugtype"),
    (0x15000012, "debugaddress"),
    (0x15000013, "debugport"),
    (0x15000014, "baudrate"),
    (0x15000015, "channel"),
    (0x12000016, "targetname"),
    (0x16000017, "noumex"),
    (0x15000018, "debugstart"),
    (0x12000019, "busparams"),
    (0x1500001a, "hostip"),
    (0x1500001b, "port"),
    (0x1600001c, "dhcp"),
    (0x1200001d, "key"),
    (0x1600001e, "vm"),
    (0x16000020, "bootems"),
    (0x15000022, "emsport"),
    (0x15000023, "emsbaudrate"),
    (0x12000030, "loadoptions"),
    (0x16000040, "advancedoptions"),
    (0x16000041, "optionsedit"),
    (0x15000042, "keyringaddress"),
    (0x11000043, "bootstatusdatalogdevice"),
    (0x12000044, "bootstatusdatalogfile"),
    (0x16000045, "bootstatusdatalogappend"),
    (0x16000046, "graphicsmodedisabled"),
    (0x15000047, "configaccesspolicy"),
    (0x16000048, "nointegritychecks"),
    (0x16000049, "testsigning"),
    (0x1200004a, "fontpath"),
    (0x1500004b, "integrityservices"),
    (0x1500004c, "volumebandid"),
    (0x16000050, "extendedinput"),
    (0x15000051, "initialconsoleinput"),
    (0x15000052, "graphicsresolution"),
    (0x16000053, "restartonfailure"),
    (0x16000054, "highestmode"),
    (0x16000060, "isolatedcontext"),
    (0x15000065, "displaymessage"),
    (0x15000066, "displaymessageoverride"),
    (0x16000068, "nobootuxtext"),
    (0x16000069, "nobootuxprogress"),
    (0x1600006a, "nobootuxfade"),
    (0x1600006b, "bootuxreservepooldebug"),
    (0x1600006c, "bootuxdisabled"),
    (0x1500006d, "bootuxfadeframes"),
    (0x1600006e, "bootuxdumpstats"),
    (0x1600006f, "bootuxshowstats"),
    (0x16000071, "multibootsystem"),
    (0x16000072, "nokeyboard"),
    (0x15000073, "aliaswindowskey"),
    (0x16000074, "bootshutdowndisabled"),
    (0x15000075, "performancefrequency"),
    (0x15000076, "securebootrawpolicy"),
    (0x17000077, "allowedinmemorysettings"),
    (0x15000079, "bootuxtransitiontime"),
    (0x1600007a, "mobilegraphics"),
    (0x1600007b, "forcefipscrypto"),
    (0x1500007d, "booterrorux"),
    (0x1600007e, "flightsigning"),
    (0x1500007f, "measuredbootlogformat"),
    (0x15000080, "displayrotation"),
    (0x15000081, "logcontrol"),
    (0x16000082, "nofirmwaresync"),
    (0x16000087, "numlock"),
];

const BOOTMGR: &[(u32, &str)] = &[
    (0x24000001, "displayorder"),
    (0x24000002, "bootsequence"),
    (0x23000003, "default"),
    (0x25000004, "timeout"),
    (0x26000005, "resume"),
    (0x23000006, "resumeobject"),
    (0x24000010, "toolsdisplayorder"),
    (0x26000020, "displaybootmenu"),
    (0x26000021, "noerrordisplay"),
    (0x21000022, "bcddevice"),
    (0x22000023, "bcdfilepath"),
    (0x26000025, "hiberboot"),
    (0x26000028, "processcustomactionsfirst"),
    (0x27000030, "customactions"),
    (0x26000031, "persistbootsequence"),
    (0x26000032, "skipstartupsequence"),
    (0x22000040, "fverecoveryurl"),
    (0x22000041, "fverecoverymessage"),
    (0x26000042, "flightedbootmgr"),
];

const OSLOADER: &[(u32, &str)] = &[
    (0x21000001, "osdevice"),
    (0x22000002, "systemroot"),
    (0x23000003, "resumeobject"),
    (0x26000004, "stampdisks"),
    (0x26000010, "detecthal"),
    (0x22000011, "kernel"),
    (0x22000012, "hal"),
    (0x22000013, "dbgtransport"),
    (0x25000020, "nx"),
    (0x25000021, "pae"),
    (0x26000022, "winpe"),
    (0x26000024, "nocrashautoreboot"),
    (0x26000025, "lastknowngood"),
    (0x26000026, "oslnointegritychecks"),
    (0x26000027, "osltestsigning"),
    (0x26000030, "nolowmem"),
    (0x25000031, "removememory"),
    (0x25000032, "increaseuserva"),
    (0x25000033, "perfmem"),
    (0x26000040, "vga"),
    (0x26000041, "quietboot"),
    (0x26000042, "novesa"),
    (0x26000043, "novga"),
    (0x25000050, "clustermodeaddressing"),
    (0x26000051, "usephysicaldestination"),
    (0x25000052, "restrictapiccluster"),
    (0x22000053, "evstore"),
    (0x26000054, "uselegacyapicmode"),
    (0x26000060, "onecpu"),
    (0x25000061, "numproc"),
    (0x26000062, "maxproc"),
    (0x25000063, "configflags"),
    (0x26000064, "maxgroup"),
    (0x26000065, "groupaware"),
    (0x25000066, "groupsize"),
    (0x26000070, "usefirmwarepcisettings"),
    (0x25000071, "msi"),
    (0x25000072, "pciexpress"),
    (0x25000080, "safeboot"),
    (0x26000081, "safebootalternateshell"),
    (0x26000090, "bootlog"),
    (0x26000091, "sos"),
    (0x260000a0, "debug"),
    (0x260000a1, "halbreakpoint"),
    (0x260000a2, "useplatformclock"),
    (0x260000a3, "forcelegacyplatform"),
    (0x260000a4, "useplatformtick"),
    (0x260000a5, "disabledynamictick"),
    (0x250000a6, "tscsyncpolicy"),
    (0x260000b0, "ems"),
    (0x250000c0, "forcefailure"),
    (0x250000c1, "driverloadfailurepolicy"),
    (0x250000c2, "bootmenupolicy"),
    (0x260000c3, "onetimeadvancedoptions"),
    (0x260000c4, "onetimeoptionsedit"),
    (0x250000e0, "bootstatuspolicy"),
    (0x260000e1, "disableelamdrivers"),
    (0x250000f0, "hypervisorlaunchtype"),
    (0x220000f1, "hypervisorpath"),
    (0x260000f2, "hypervisordebug"),
    (0x250000f3, "hypervisordebugtype"),
    (0x250000f4, "hypervisordebugport"),
    (0x250000f5, "hypervisorbaudrate"),
    (0x250000f6, "hypervisorchannel"),
    (0x250000f7, "bootux"),
    (0x260000f8, "hypervisordisableslat"),
    (0x220000f9, "hypervisorbusparams"),
    (0x250000fa, "hypervisornumproc"),
    (0x250000fb, "hypervisorrootprocpernode"),
    (0x260000fc, "hypervisoruselargevtlb"),
    (0x250000fd, "hypervisorhostip"),
    (0x250000fe, "hypervisorhostport"),
    (0x250000ff, "hypervisordebugpages"),
    (0x25000100, "tpmbootentropy"),
    (0x22000110, "hypervisorusekey"),
    (0x22000112, "hypervisorproductskutype"),
    (0x25000113, "hypervisorrootproc"),
    (0x26000114, "hypervisordhcp"),
    (0x25000115, "hypervisoriommupolicy"),
    (0x26000116, "hypervisorusevapic"),
    (0x22000117, "hypervisorloadoptions"),
    (0x25000118, "hypervisormsrfilterpolicy"),
    (0x25000119, "hypervisormmionxpolicy"),
    (0x2500011a, "hypervisorschedulertype"),
    (0x25000120, "xsavepolicy"),
];

const RESUME: &[(u32, &str)] = &[
    (0x21000001, "filedevice"),
    (0x22000002, "filepath"),
    (0x26000003, "customsettings"),
    (0x26000004, "pae"),
    (0x26000006, "debugoptionenabled"),
    (0x25000008, "bootmenupolicy"),
];

const MEMDIAG: &[(u32, &str)] = &[
    (0x25000001, "passcount"),
    (0x25000002, "testmix"),
    (0x25000003, "failurecount"),
    (0x25000004, "testtofail"),
];

const DEVICE: &[(u32, &str)] = &[
    (0x35000001, "ramdiskimageoffset"),
    (0x35000002, "ramdisktftpclientport"),
    (0x31000003, "ramdisksdidevice"),
    (0x32000004, "ramdisksdipath"),
    (0x35000005, "ramdiskimagelength"),
    (0x36000006, "exportascd"),
    (0x35000007, "ramdisktftpblocksize"),
    (0x35000008, "ramdisktftpwindowsize"),
    (0x36000009, "ramdiskmcenabled"),
    (0x3600000a, "ramdiskmctftpfallback"),
    (0x3600000b, "ramdisktftpvarwindow"),
];

/// The well-known name of an element in an object of type `object_type`.
pub fn element_name(object_type: Option<u32>, id: u32) -> Option<&'static str> {
    let find = |t: &[(u32, &'static str)]| t.iter().find(|(k, _)| *k == id).map(|(_, n)| *n);
    match id >> 28 {
        1 => find(LIBRARY),
        3 => find(DEVICE),
        2 => {
            let app = object_type.map(|t| t & 0xFFFFF).unwrap_or(0);
            let table: &[(u32, &str)] = match app {
                1 | 2 => BOOTMGR,
                3 => OSLOADER,
                4 => RESUME,
                5 => MEMDIAG,
                _ => &[],
            };
            find(table).or_else(|| {
                if object_type.is_none() {
                    find(BOOTMGR).or_else(|| find(OSLOADER))
                } else {
                    None
                }
            })
        }
        _ => None,
    }
}

/// A decoded device.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Device {
    /// The device the boot application was loaded from.
    Boot,
    /// A GPT partition.
    GptPartition {
        partition_guid: String,
        disk_guid: String,
    },
    /// An MBR partition.
    MbrPartition { offset: u64, disk_signature: String },
    /// A RAM disk loaded from a file on another device.
    Ramdisk { parent: Box<Device>, path: String },
    /// A file on another device (VHD and similar).
    File {
        block_type: u32,
        parent: Box<Device>,
        path: String,
    },
    /// Some other block I/O device (hard disk, removable, CD-ROM).
    BlockIo { block_type: u32, raw: String },
    /// "locate": found at boot by searching for a path.
    Locate { raw: String },
    /// Not decoded.
    Unknown { device_type: u32, raw: String },
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Boot => write!(f, "boot"),
            Device::GptPartition {
                partition_guid,
                disk_guid,
            } => {
                write!(
                    f,
                    "partition (GPT) partition={partition_guid} disk={disk_guid}"
                )
            }
            Device::MbrPartition {
                offset,
                disk_signature,
            } => {
                write!(
                    f,
                    "partition (MBR) offset={offset} signature={disk_signature}"
                )
            }
            Device::Ramdisk { parent, path } => write!(f, "ramdisk=[{parent}]{path}"),
            Device::File {
                block_type,
                parent,
                path,
            } => {
                write!(f, "file (block type {block_type})=[{parent}]{path}")
            }
            Device::BlockIo { block_type, raw } => {
                write!(f, "block device type {block_type} [{raw}]")
            }
            Device::Locate { raw } => write!(f, "locate [{raw}]"),
            Device::Unknown { device_type, raw } => {
                write!(f, "unknown device type {device_type} [{raw}]")
            }
        }
    }
}

fn u32le(b: &[u8], o: usize) -> Option<u32> {
    b.get(o..o + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn guid_at(b: &[u8], o: usize) -> Option<String> {
    let s: [u8; 16] = b.get(o..o + 16)?.try_into().ok()?;
    Some(format!("{{{}}}", Uuid::from_bytes_le(s)))
}

/// Decode a device record (type, flags, size, reserved, payload) at the
/// start of `rec`. Returns the device and the record size.
fn device_record(rec: &[u8], depth: u32) -> Option<(Device, usize)> {
    let dtype = u32le(rec, 0)?;
    let size = u32le(rec, 8)? as usize;
    if size < 16 || size > rec.len() {
        return None;
    }
    let p = &rec[16..size];
    let raw = crate::value::hex(p);
    let dev = match dtype {
        5 => Device::Boot,
        6 => match u32le(p, 20)? {
            0 => Device::GptPartition {
                partition_guid: guid_at(p, 0)?,
                disk_guid: guid_at(p, 24)?,
            },
            1 => Device::MbrPartition {
                offset: u64::from_le_bytes(p.get(0..8)?.try_into().ok()?),
                disk_signature: format!("{:08x}", u32le(p, 24)?),
            },
            _ => Device::Unknown {
                device_type: 6,
                raw,
            },
        },
        0 => {
            let block = u32le(p, 0)?;
            match block {
                3 | 5 | 6 if depth < 4 => {
                    // File path block after the RAM disk parameters (RAM
                    // disk) or directly after the block type.
                    let starts: &[usize] = if block == 3 { &[24] } else { &[4, 24] };
                    let mut found = None;
                    for &s in starts {
                        if let Some(x) = file_path(p.get(s..)?, depth) {
                            found = Some(x);
                            break;
                        }
                    }
                    let (parent, path) = found?;
                    if block == 3 {
                        Device::Ramdisk {
                            parent: Box::new(parent),
                            path,
                        }
                    } else {
                        Device::File {
                            block_type: block,
                            parent: Box::new(parent),
                            path,
                        }
                    }
                }
                _ => Device::BlockIo {
                    block_type: block,
                    raw,
                },
            }
        }
        8 => Device::Locate { raw },
        _ => Device::Unknown {
            device_type: dtype,
            raw,
        },
    };
    Some((dev, size))
}

/// version (1), length, path type, nested device record, UTF-16 path.
fn file_path(b: &[u8], depth: u32) -> Option<(Device, String)> {
    if u32le(b, 0)? != 1 {
        return None;
    }
    let len = u32le(b, 4)? as usize;
    if len < 12 || len > b.len() {
        return None;
    }
    let b = &b[..len];
    let (parent, n) = device_record(&b[12..], depth + 1)?;
    let path = utf16_text(b.get(12 + n..)?);
    Some((parent, path))
}

/// Decode a device element value (options GUID + device record).
pub fn decode_device(data: &[u8]) -> Option<(Option<String>, Device)> {
    let opts = guid_at(data, 0)?;
    let (dev, _) = device_record(data.get(16..)?, 0)?;
    let opts = if data[..16].iter().all(|&b| b == 0) {
        None
    } else {
        Some(opts)
    };
    Some((opts, dev))
}

/// A decoded element value.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "format", content = "value", rename_all = "snake_case")]
pub enum ElementValue {
    Device {
        options: Option<String>,
        device: Device,
    },
    String(String),
    Object(String),
    ObjectList(Vec<String>),
    Integer(u64),
    Boolean(bool),
    IntegerList(Vec<u64>),
    /// Could not be decoded for its format: raw registry type and bytes.
    Raw {
        reg_type: u32,
        data: String,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Element {
    pub id: String,
    pub name: Option<&'static str>,
    pub value: ElementValue,
}

#[derive(Clone, Debug, Serialize)]
pub struct Object {
    pub guid: String,
    pub alias: Option<&'static str>,
    pub object_type: Option<u32>,
    pub type_description: Option<String>,
    pub elements: Vec<Element>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Store {
    pub key_name: Option<String>,
    pub objects: Vec<Object>,
}

fn decode_value(id: u32, reg_type: u32, d: &[u8]) -> ElementValue {
    let raw = || ElementValue::Raw {
        reg_type,
        data: crate::value::hex(d),
    };
    match (id >> 24) & 0xF {
        1 => match decode_device(d) {
            Some((options, device)) => ElementValue::Device { options, device },
            None => raw(),
        },
        2 => ElementValue::String(utf16_text(d)),
        3 => ElementValue::Object(utf16_text(d)),
        4 => ElementValue::ObjectList(multi_sz(d)),
        5 if !d.is_empty() && d.len() <= 8 => {
            let mut b = [0u8; 8];
            b[..d.len()].copy_from_slice(d);
            ElementValue::Integer(u64::from_le_bytes(b))
        }
        6 if !d.is_empty() && d.len() <= 8 => ElementValue::Boolean(d.iter().any(|&b| b != 0)),
        7 if d.len() % 8 == 0 => ElementValue::IntegerList(
            d.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
                .collect(),
        ),
        _ => raw(),
    }
}

fn dword(k: &Key, name: &str) -> Option<u32> {
    let v = k.value(name)?;
    if v.data_type == REG_DWORD && v.data.len() == 4 {
        Some(u32::from_le_bytes(v.data[..4].try_into().ok()?))
    } else {
        None
    }
}

/// Decode a BCD store from a parsed hive.
pub fn decode(h: &Hive) -> Store {
    let key_name = h
        .key("Description")
        .and_then(|k| k.value("KeyName"))
        .map(|v| utf16_text(&v.data));
    let mut objects = Vec::new();
    if let Some(objs) = h.key("Objects") {
        for o in &objs.subkeys {
            let object_type = o.subkey("Description").and_then(|d| dword(d, "Type"));
            let mut elements = Vec::new();
            if let Some(els) = o.subkey("Elements") {
                for e in &els.subkeys {
                    let id = u32::from_str_radix(&e.name, 16).ok();
                    let (reg_type, data) = match e.value("Element") {
                        Some(v) => (v.data_type, v.data.as_slice()),
                        None => (0, &[][..]),
                    };
                    let value = match id {
                        Some(id) => decode_value(id, reg_type, data),
                        None => ElementValue::Raw {
                            reg_type,
                            data: crate::value::hex(data),
                        },
                    };
                    elements.push(Element {
                        id: e.name.to_ascii_lowercase(),
                        name: id.and_then(|i| element_name(object_type, i)),
                        value,
                    });
                }
            }
            objects.push(Object {
                alias: alias(&o.name),
                guid: o.name.to_ascii_lowercase(),
                type_description: object_type.map(object_type_name),
                object_type,
                elements,
            });
        }
    }
    Store { key_name, objects }
}

/// Show an object reference with its alias when it has one.
pub fn show_object(g: &str) -> String {
    match alias(g) {
        Some(a) => format!("{{{a}}}"),
        None => g.to_string(),
    }
}

impl std::fmt::Display for ElementValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ElementValue::Device { options, device } => {
                write!(f, "{device}")?;
                if let Some(o) = options {
                    write!(f, " options={}", show_object(o))?;
                }
                Ok(())
            }
            ElementValue::String(s) => write!(f, "{s}"),
            ElementValue::Object(o) => write!(f, "{}", show_object(o)),
            ElementValue::ObjectList(l) => {
                let v: Vec<String> = l.iter().map(|o| show_object(o)).collect();
                write!(f, "{}", v.join(" "))
            }
            ElementValue::Integer(n) => write!(f, "{n} ({n:#x})"),
            ElementValue::Boolean(b) => write!(f, "{}", if *b { "yes" } else { "no" }),
            ElementValue::IntegerList(l) => {
                let v: Vec<String> = l.iter().map(|n| format!("{n:#x}")).collect();
                write!(f, "{}", v.join(" "))
            }
            ElementValue::Raw { reg_type, data } => write!(f, "raw type {reg_type}: {data}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Building stores (for `boot install`): element encoders and object setters.

fn device_header(dtype: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 16]; // no options object
    v.extend_from_slice(&dtype.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&((16 + payload.len()) as u32).to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

/// Device element for a GPT partition (88 bytes, as bcdboot writes).
pub fn device_gpt_partition(partition: Uuid, disk: Uuid) -> Vec<u8> {
    let mut p = vec![0u8; 0x38];
    p[0..16].copy_from_slice(&partition.to_bytes_le());
    p[20..24].copy_from_slice(&0u32.to_le_bytes());
    p[24..40].copy_from_slice(&disk.to_bytes_le());
    device_header(6, &p)
}

/// Device element for an MBR partition: byte offset + disk signature.
pub fn device_mbr_partition(offset: u64, signature: u32) -> Vec<u8> {
    let mut p = vec![0u8; 0x38];
    p[0..8].copy_from_slice(&offset.to_le_bytes());
    p[20..24].copy_from_slice(&1u32.to_le_bytes());
    p[24..28].copy_from_slice(&signature.to_le_bytes());
    device_header(6, &p)
}

/// Device element "boot" (the device the boot manager was loaded from).
pub fn device_boot() -> Vec<u8> {
    device_header(5, &[0u8; 0x38])
}

/// Registry type and bytes for an element value of the element's format.
pub fn encode_element(value: &ElementValue) -> (u32, Vec<u8>) {
    use crate::value::{utf16z, REG_BINARY, REG_MULTI_SZ, REG_SZ};
    match value {
        ElementValue::Device { .. } | ElementValue::Raw { .. } => {
            (REG_BINARY, Vec::new()) // devices: use the device_* encoders
        }
        ElementValue::String(s) | ElementValue::Object(s) => (REG_SZ, utf16z(s, true)),
        ElementValue::ObjectList(l) => {
            let mut v = Vec::new();
            for s in l {
                v.extend(utf16z(s, true));
            }
            v.extend_from_slice(&[0, 0]);
            (REG_MULTI_SZ, v)
        }
        ElementValue::Integer(n) => (REG_BINARY, n.to_le_bytes().to_vec()),
        ElementValue::Boolean(b) => (REG_BINARY, vec![*b as u8]),
        ElementValue::IntegerList(l) => {
            (REG_BINARY, l.iter().flat_map(|n| n.to_le_bytes()).collect())
        }
    }
}

/// Create (or retype) object `guid` ("{...}") with object type `object_type`.
pub fn set_object(h: &mut Hive, guid: &str, object_type: u32) -> crate::Result<()> {
    h.set_value(
        &format!("Objects\\{guid}\\Description"),
        "Type",
        REG_DWORD,
        object_type.to_le_bytes().to_vec(),
    )?;
    h.create_key(&format!("Objects\\{guid}\\Elements"))?;
    Ok(())
}

/// Set element `id` of object `guid` to raw registry data.
pub fn set_element(
    h: &mut Hive,
    guid: &str,
    id: u32,
    reg_type: u32,
    data: Vec<u8>,
) -> crate::Result<()> {
    h.set_value(
        &format!("Objects\\{guid}\\Elements\\{id:08x}"),
        "Element",
        reg_type,
        data,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders_round_trip_through_decode() {
        let part = Uuid::parse_str("24e0e103-9bc2-477e-a5e2-3e42d2bb134f").unwrap();
        let disk = Uuid::parse_str("376e5397-7d1f-4e4f-a668-5a62c1269e60").unwrap();
        let g = device_gpt_partition(part, disk);
        assert_eq!(g.len(), 88);
        assert_eq!(
            decode_device(&g),
            Some((
                None,
                Device::GptPartition {
                    partition_guid: format!("{{{part}}}"),
                    disk_guid: format!("{{{disk}}}"),
                }
            ))
        );
        let m = device_mbr_partition(1 << 20, 0xdeadbeef);
        assert_eq!(
            decode_device(&m).unwrap().1,
            Device::MbrPartition {
                offset: 1 << 20,
                disk_signature: "deadbeef".into()
            }
        );
        assert_eq!(decode_device(&device_boot()).unwrap().1, Device::Boot);

        let mut h = Hive::new(3, "NewStoreRoot");
        let bm = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
        set_object(&mut h, bm, 0x10100002).unwrap();
        set_element(&mut h, bm, 0x11000001, crate::value::REG_BINARY, g).unwrap();
        let (t, d) = encode_element(&ElementValue::Integer(30));
        set_element(&mut h, bm, 0x25000004, t, d).unwrap();
        let (t, d) = encode_element(&ElementValue::ObjectList(vec!["{1}".into()]));
        set_element(&mut h, bm, 0x24000001, t, d).unwrap();
        let s = decode(&Hive::from_bytes(&h.to_bytes()).unwrap());
        let o = &s.objects[0];
        assert_eq!(o.alias, Some("bootmgr"));
        let names: Vec<_> = o.elements.iter().map(|e| e.name.unwrap()).collect();
        assert_eq!(names, ["device", "displayorder", "timeout"]);
        assert_eq!(o.elements[2].value, ElementValue::Integer(30));
    }
}
