//! Property test: random edit sequences applied both to a hive and to a
//! plain in-memory model; the written hive must read back identical to the
//! model (and hivex must agree, when installed).

mod common;
use common::{have, hivex_tree, Tree};
use hive::Hive;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    SetValue(Vec<u8>, u8, u32, Vec<u8>),
    DeleteValue(Vec<u8>, u8),
    DeleteKey(Vec<u8>),
    RenameKey(Vec<u8>, u8),
    SaveReload,
}

const NAMES: &[&str] = &["a", "b", "Cc", "dd", "Ünï", "e-f", "zz9"];

fn path(p: &[u8]) -> String {
    p.iter()
        .map(|&i| NAMES[i as usize % NAMES.len()])
        .collect::<Vec<_>>()
        .join("\\")
}
fn vname(i: u8) -> String {
    if i % 5 == 0 {
        String::new()
    } else {
        format!("v{}", i % 7)
    }
}

fn op() -> impl Strategy<Value = Op> {
    let p = prop::collection::vec(0u8..7, 1..4);
    let data = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..6),
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<u8>(), 16340..16400),
    ];
    prop_oneof![
        4 => (p.clone(), any::<u8>(), prop_oneof![Just(0u32), Just(1), Just(2), Just(3), Just(4), Just(5), Just(6), Just(7), Just(11), Just(0x1234_5678)], data)
            .prop_map(|(p, n, t, d)| Op::SetValue(p, n, t, d)),
        1 => (p.clone(), any::<u8>()).prop_map(|(p, n)| Op::DeleteValue(p, n)),
        1 => p.clone().prop_map(Op::DeleteKey),
        1 => (p, 0u8..7).prop_map(|(p, n)| Op::RenameKey(p, n)),
        1 => Just(Op::SaveReload),
    ]
}

/// lowercase path -> (display path, lowercase value name -> (name, type, data))
type Model = BTreeMap<String, (String, BTreeMap<String, (String, u32, Vec<u8>)>)>;

fn lc(s: &str) -> String {
    s.to_uppercase()
}

fn model_tree(m: &Model) -> Tree {
    let mut t = Tree::new();
    t.insert("\\".into(), vec![]);
    for (disp, vals) in m.values() {
        let mut v: Vec<_> = vals.values().cloned().collect();
        v.sort();
        t.insert(format!("\\{disp}"), v);
    }
    t
}

fn ensure(m: &mut Model, p: &str) {
    let comps: Vec<&str> = p.split('\\').collect();
    for i in 1..=comps.len() {
        let sub = comps[..i].join("\\");
        m.entry(lc(&sub))
            .or_insert_with(|| (sub.clone(), BTreeMap::new()));
    }
}

fn apply(h: &mut Hive, m: &mut Model, op: &Op) {
    match op {
        Op::SetValue(p, n, t, d) => {
            let p = path(p);
            let n = vname(*n);
            h.set_value(&p, &n, *t, d.clone()).unwrap();
            ensure(m, &p);
            let vals = &mut m.get_mut(&lc(&p)).unwrap().1;
            let name = vals.get(&lc(&n)).map(|x| x.0.clone()).unwrap_or(n.clone());
            vals.insert(lc(&n), (name, *t, d.clone()));
        }
        Op::DeleteValue(p, n) => {
            let p = path(p);
            let n = vname(*n);
            let exists = m
                .get(&lc(&p))
                .map(|k| k.1.contains_key(&lc(&n)))
                .unwrap_or(false);
            assert_eq!(h.delete_value(&p, &n).is_ok(), exists);
            if exists {
                m.get_mut(&lc(&p)).unwrap().1.remove(&lc(&n));
            }
        }
        Op::DeleteKey(p) => {
            let p = path(p);
            let exists = m.contains_key(&lc(&p));
            assert_eq!(h.delete_key(&p).is_ok(), exists);
            let pre = format!("{}\\", lc(&p));
            m.retain(|k, _| *k != lc(&p) && !k.starts_with(&pre));
        }
        Op::RenameKey(p, n) => {
            let p = path(p);
            let new = NAMES[*n as usize];
            let comps: Vec<&str> = p.split('\\').collect();
            let parent = comps[..comps.len() - 1].join("\\");
            let target = if parent.is_empty() {
                new.to_string()
            } else {
                format!("{parent}\\{new}")
            };
            let ok =
                m.contains_key(&lc(&p)) && (lc(&target) == lc(&p) || !m.contains_key(&lc(&target)));
            assert_eq!(h.rename_key(&p, new).is_ok(), ok, "rename {p} -> {new}");
            if ok {
                let pre = format!("{}\\", lc(&p));
                let moved: Vec<_> = m
                    .iter()
                    .filter(|(k, _)| **k == lc(&p) || k.starts_with(&pre))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, _) in &moved {
                    m.remove(k);
                }
                for (k, (disp, vals)) in moved {
                    let rest_disp = &disp[p.len()..];
                    let _ = k;
                    let nd = format!("{target}{rest_disp}");
                    m.insert(lc(&nd), (nd, vals));
                }
            }
        }
        Op::SaveReload => {
            *h = Hive::from_bytes(&h.to_bytes()).unwrap();
        }
    }
}

fn hive_tree(h: &Hive) -> Tree {
    common::tree(h)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]
    #[test]
    fn edits_match_model(ops in prop::collection::vec(op(), 1..25), minor in prop_oneof![Just(3u32), Just(5u32)]) {
        let mut h = Hive::new(minor, "ROOT");
        let mut m = Model::new();
        for o in &ops {
            apply(&mut h, &mut m, o);
        }
        let img = h.to_bytes();
        let back = Hive::from_bytes(&img).unwrap();
        let d = common::first_diff(&hive_tree(&back), &model_tree(&m));
        prop_assert!(d.is_none(), "our reader vs model (format 1.{}): {}", minor, d.unwrap());
        // hivex is slow to start: check every few cases with it.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % 4 == 0 && have("hivexregedit") {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("h");
            std::fs::write(&p, &img).unwrap();
            let d = common::first_diff(&hivex_tree(&p), &model_tree(&m));
            prop_assert!(d.is_none(), "hivex vs model (format 1.{}): {}", minor, d.unwrap());
        }
    }
}
