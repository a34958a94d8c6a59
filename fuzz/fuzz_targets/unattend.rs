//! Unattend answer files (crates/build `unattend`): the XML reader, the
//! validator, the offline-servicing rewrite (`prepare`), and the writer.
//! The file wimforge writes into `Windows\Panther\Unattend.xml` must be
//! well-formed: our serialisation of any document we accepted must parse
//! again and serialise to the same text, and what `prepare` writes must
//! parse and validate.
//!
//! Input: the XML bytes.
#![no_main]

use forge::unattend::{self, Fields};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let file = Path::new("fuzz-unattend.xml");
    if let Ok(root) = unattend::parse(data, file) {
        let _ = unattend::validate(&root, file);
        let text = unattend::serialize(&root);
        let again = unattend::parse(text.as_bytes(), file)
            .unwrap_or_else(|e| panic!("our serialisation does not parse again: {e}\n{text}"));
        assert_eq!(
            unattend::serialize(&again),
            text,
            "serialise -> parse -> serialise is not stable"
        );
    }
    let fields = Fields {
        computer_name: Some("NANO-01".into()),
        administrator_password: Some("P@ssw0rd!".into()),
        time_zone: Some("UTC".into()),
        ..Default::default()
    };
    if let Ok(p) = unattend::prepare(Some((data, file)), &fields, "amd64") {
        let out = unattend::parse(p.xml.as_bytes(), file)
            .unwrap_or_else(|e| panic!("prepared answer file does not parse: {e}\n{}", p.xml));
        unattend::validate(&out, file)
            .unwrap_or_else(|e| panic!("prepared answer file does not validate: {e}\n{}", p.xml));
    }
    // The password encoding Windows uses must round-trip.
    if let Ok(s) = std::str::from_utf8(data) {
        let s: String = s.chars().take(200).collect();
        assert_eq!(
            unattend::reveal(
                &unattend::obscure(&s, "AdministratorPassword"),
                "AdministratorPassword"
            ),
            Some(s.clone())
        );
        let _ = unattend::base64_decode(&s);
    }
    assert_eq!(
        unattend::base64_decode(&unattend::base64_encode(data)).as_deref(),
        Some(data)
    );
});
