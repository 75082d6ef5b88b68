#![no_main]
//! ASCII armor: any input decodes or errors (never panics, never reads unboundedly),
//! and whatever decodes re-armors to a text that decodes to the same bytes.

use libfuzzer_sys::fuzz_target;
use std::io::{Read as _, Write as _};
use virgil_crypto::armor::{ArmorReader, ArmorWriter};

fuzz_target!(|data: &[u8]| {
    let mut decoded = Vec::new();
    let Ok(mut reader) = ArmorReader::new(data) else {
        return;
    };
    if reader.read_to_end(&mut decoded).is_err() {
        return;
    }
    let mut writer = ArmorWriter::new(Vec::new()).unwrap();
    writer.write_all(&decoded).unwrap();
    let text = writer.finish().unwrap();
    let mut again = Vec::new();
    ArmorReader::new(&text[..])
        .unwrap()
        .read_to_end(&mut again)
        .unwrap();
    assert_eq!(again, decoded);
});
