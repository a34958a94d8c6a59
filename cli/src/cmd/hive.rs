//! `wimforge hive`: dump and edit registry hives offline.
use super::Context;
use crate::CmdResult;
use clap::Subcommand;
use hive::value::{encode, hex, parse_type, type_name};
use hive::{Hive, Key};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum HiveCommand {
    /// List keys and values (dirty hives are recovered from their .LOG1/.LOG2
    /// first; the file itself is not changed).
    Dump {
        hive: PathBuf,
        /// Only this key and what is below it (backslash-separated).
        key: Option<String>,
        /// Machine-readable output: every key with its values, data as hex.
        #[arg(long)]
        json: bool,
    },
    /// Create or replace a value, creating keys as needed.
    Set {
        hive: PathBuf,
        key: String,
        /// Value name; "" or "@" is the key's default value.
        name: String,
        /// sz, expand_sz, multi_sz, dword, dword_be, qword, binary, none,
        /// link, or a type number (e.g. 0x20).
        #[arg(long = "type")]
        ty: String,
        /// The data: text for string types (repeat for each MULTI_SZ
        /// element), a number for dword/qword, hex bytes ("01,02,ff") for
        /// the others.
        #[arg(long = "value", allow_hyphen_values = true)]
        value: Vec<String>,
    },
    /// Delete a key (with everything below it) or, with NAME, one value.
    Delete {
        hive: PathBuf,
        key: String,
        /// Value name; "" or "@" is the key's default value.
        name: Option<String>,
    },
}

fn value_name(n: &str) -> &str {
    if n == "@" {
        ""
    } else {
        n
    }
}

fn full_path(p: &str) -> String {
    format!("\\{p}")
}

fn subtree<'a>(h: &'a Hive, key: Option<&str>) -> Result<Vec<(String, &'a Key)>, String> {
    let all = h.walk();
    match key {
        None => Ok(all),
        Some(k) => {
            let comps = hive::model::split_path(k);
            if h.key(k).is_none() {
                return Err(format!("key {k} not found"));
            }
            Ok(all
                .into_iter()
                .filter(|(p, _)| {
                    let pc = hive::model::split_path(p);
                    pc.len() >= comps.len()
                        && pc
                            .iter()
                            .zip(&comps)
                            .all(|(a, b)| hive::name::eq_names(a, b))
                })
                .collect())
        }
    }
}

pub fn run(cmd: HiveCommand, _ctx: &Context) -> CmdResult {
    match cmd {
        HiveCommand::Dump { hive, key, json } => {
            let h = Hive::open(&hive)?;
            if let Some(note) = &h.recovered {
                eprintln!("wimforge: {}: dirty hive recovered: {note}", hive.display());
            }
            let keys = subtree(&h, key.as_deref())?;
            if json {
                let arr: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|(p, k)| {
                        let vals: Vec<serde_json::Value> = k
                            .values
                            .iter()
                            .map(|v| {
                                serde_json::json!({
                                    "name": v.name,
                                    "type": v.data_type,
                                    "type_name": type_name(v.data_type),
                                    "data": hex(&v.data),
                                })
                            })
                            .collect();
                        serde_json::json!({
                            "path": full_path(p),
                            "class": k.class.as_ref().map(|c| hex(c)),
                            "values": vals,
                        })
                    })
                    .collect();
                let doc = serde_json::json!({
                    "format": format!("1.{}", h.minor),
                    "root": h.root.name,
                    "recovered": h.recovered,
                    "keys": arr,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                use std::io::Write;
                let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                for (p, k) in keys {
                    writeln!(out, "[{}]", full_path(&p))?;
                    for v in &k.values {
                        let n = if v.name.is_empty() {
                            "@".to_string()
                        } else {
                            format!("{:?}", v.name)
                        };
                        writeln!(
                            out,
                            "{n} {} = {}",
                            type_name(v.data_type),
                            hive::value::display(v.data_type, &v.data)
                        )?;
                    }
                    writeln!(out)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        HiveCommand::Set {
            hive,
            key,
            name,
            ty,
            value,
        } => {
            let t = parse_type(&ty).ok_or_else(|| format!("unknown value type {ty:?}"))?;
            let data = encode(t, &value).map_err(|e| format!("--value: {e}"))?;
            let mut h = Hive::open(&hive)?;
            h.set_value(&key, value_name(&name), t, data)?;
            h.save(&hive)?;
            Ok(ExitCode::SUCCESS)
        }
        HiveCommand::Delete { hive, key, name } => {
            let mut h = Hive::open(&hive)?;
            match name {
                Some(n) => h.delete_value(&key, value_name(&n))?,
                None => h.delete_key(&key)?,
            }
            h.save(&hive)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
