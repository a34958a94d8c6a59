//! WIM container: header, blob table, XML data, integrity table, image
//! metadata and every blob (decompressed and SHA-1 checked) through
//! `Wim::from_bytes` and `wim::verify::verify`, the path `wimforge wim
//! verify` takes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wim::pipeline::Options;
use wim::Wim;

fuzz_target!(|data: &[u8]| {
    let Ok(w) = Wim::from_bytes("fuzz.wim", data.to_vec()) else {
        return;
    };
    let _ = w.resolve_image("1");
    let _ = w.resolve_image("name");
    let _ = w.missing_parts();
    for i in 1..=w.image_count().min(4) {
        if let Ok(img) = w.image(i) {
            for d in img.preorder().into_iter().take(10_000) {
                let _ = img.path(d);
            }
            let _ = img.counts();
        }
    }
    let opts = Options {
        threads: 1,
        window_bytes: 1 << 20,
    };
    let _ = wim::verify::verify(&w, &opts, &|_, _| {});
});
