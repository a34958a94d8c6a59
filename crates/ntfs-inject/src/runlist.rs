//! Data runs (mapping pairs), NTFS Documentation "Concepts: Data Runs".

use crate::error::{corrupt, Result};

/// One run: `len` clusters at `lcn`, or a sparse run when `lcn` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub lcn: Option<u64>,
    pub len: u64,
}

fn signed_len(v: i64) -> usize {
    for n in 1..8 {
        let lim = 1i64 << (8 * n - 1);
        if v >= -lim && v < lim {
            return n;
        }
    }
    8
}

fn unsigned_len(v: u64) -> usize {
    // Lengths are signed fields on disk too: keep the top bit clear.
    signed_len(v as i64)
}

/// Encode runs (VCN 0 onward) as mapping pairs, with the terminating 0.
pub fn encode(runs: &[Run]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0i64;
    for r in runs {
        let ln = unsigned_len(r.len);
        match r.lcn {
            Some(lcn) => {
                let delta = lcn as i64 - prev;
                prev = lcn as i64;
                let on = signed_len(delta);
                out.push((on << 4 | ln) as u8);
                out.extend_from_slice(&r.len.to_le_bytes()[..ln]);
                out.extend_from_slice(&delta.to_le_bytes()[..on]);
            }
            None => {
                out.push(ln as u8);
                out.extend_from_slice(&r.len.to_le_bytes()[..ln]);
            }
        }
    }
    out.push(0);
    out
}

/// Decode mapping pairs. `offset` labels errors; runs must lie inside a
/// volume of `total_clusters` and the total length must not exceed
/// `max_vcns` (both checked here so a hostile list cannot allocate or
/// point outside the volume).
pub fn decode(b: &[u8], offset: u64, total_clusters: u64, max_vcns: u64) -> Result<Vec<Run>> {
    let mut runs = Vec::new();
    let mut i = 0usize;
    let mut lcn = 0i64;
    let mut vcns = 0u64;
    loop {
        let h = *b
            .get(i)
            .ok_or_else(|| corrupt(offset + i as u64, "runlist", "missing terminator"))?;
        if h == 0 {
            break;
        }
        let ln = (h & 0xF) as usize;
        let on = (h >> 4) as usize;
        if ln == 0 || ln > 8 || on > 8 || i + 1 + ln + on > b.len() {
            return Err(corrupt(
                offset + i as u64,
                "runlist",
                format!("bad run header {h:#04x}"),
            ));
        }
        let mut lb = [0u8; 8];
        lb[..ln].copy_from_slice(&b[i + 1..i + 1 + ln]);
        let len = u64::from_le_bytes(lb);
        if len == 0 || len > i64::MAX as u64 {
            return Err(corrupt(
                offset + i as u64,
                "runlist",
                format!("bad run length {len}"),
            ));
        }
        vcns = vcns
            .checked_add(len)
            .filter(|&v| v <= max_vcns)
            .ok_or_else(|| {
                corrupt(
                    offset + i as u64,
                    "runlist",
                    "runs are longer than the attribute",
                )
            })?;
        if on == 0 {
            runs.push(Run { lcn: None, len });
        } else {
            let mut ob = [0u8; 8];
            ob[..on].copy_from_slice(&b[i + 1 + ln..i + 1 + ln + on]);
            if ob[on - 1] & 0x80 != 0 {
                for x in ob.iter_mut().skip(on) {
                    *x = 0xFF;
                }
            }
            let delta = i64::from_le_bytes(ob);
            lcn = lcn
                .checked_add(delta)
                .ok_or_else(|| corrupt(offset + i as u64, "runlist", "LCN overflow"))?;
            if lcn < 0
                || (lcn as u64)
                    .checked_add(len)
                    .is_none_or(|e| e > total_clusters)
            {
                return Err(corrupt(
                    offset + i as u64,
                    "runlist",
                    format!(
                        "run of {len} clusters at LCN {lcn} is outside the volume ({total_clusters} clusters)"
                    ),
                ));
            }
            runs.push(Run {
                lcn: Some(lcn as u64),
                len,
            });
        }
        i += 1 + ln + on;
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let runs = vec![
            Run {
                lcn: Some(0x10000),
                len: 3,
            },
            Run {
                lcn: None,
                len: 0x80,
            },
            Run {
                lcn: Some(5),
                len: 300,
            },
            Run {
                lcn: Some(0x7fff_ffff),
                len: 1,
            },
        ];
        let enc = encode(&runs);
        assert_eq!(decode(&enc, 0, 1 << 40, u64::MAX).unwrap(), runs);
        assert!(decode(&enc, 0, 0x1000, u64::MAX).is_err());
        assert!(decode(&enc[..3], 0, 1 << 40, u64::MAX).is_err());
    }
}
