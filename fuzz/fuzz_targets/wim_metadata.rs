//! WIM image metadata resource (security data, dentry tree, extra stream
//! entries, inode/hard-link building, hostile-tree checks) fed directly, so
//! mutations are not stopped by the metadata blob's SHA-1 check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wim::Image;

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Image::parse(data) else {
        return;
    };
    let _ = img.counts();
    for d in img.preorder().into_iter().take(10_000) {
        let p = img.path(d);
        if d % 7 == 0 {
            let _ = img.lookup(&p);
        }
        let ino = img.inode_of(d);
        let _ = (ino.is_directory(), ino.is_reparse_point());
        let _ = ino.data_stream();
        let _ = ino.reparse_stream();
        let _ = ino.named_streams().count();
    }
});
