//! `cargo run --example mkfs IMAGE SIZE_MIB [CLUSTER]`: format a raw image.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let size: u64 = a[2].parse::<u64>().unwrap() << 20;
    let dev = blockdev::FileDev::create(&a[1], size).unwrap();
    let opts = ntfs_inject::FormatOptions {
        cluster_size: a.get(3).map(|s| s.parse().unwrap()).unwrap_or(4096),
        label: "wimforge".into(),
        ..Default::default()
    };
    ntfs_inject::format(dev, &opts).unwrap();
}
