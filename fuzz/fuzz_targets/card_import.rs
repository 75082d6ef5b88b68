#![no_main]
//! Card import (the export string) and the JSON shape: never a panic; accepted cards
//! export back to a string that imports to the same card.

use libfuzzer_sys::fuzz_target;
use virgil_card::{Card, CardJson};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(card) = Card::import(text) {
            assert_eq!(Card::import(&card.export()).ok(), Some(card));
        }
        if let Ok(json) = serde_json::from_str::<CardJson>(text) {
            let _ = json.into_card();
        }
    }
});
