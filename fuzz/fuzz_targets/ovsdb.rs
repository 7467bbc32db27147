//! Feeds arbitrary bytes to the OVSDB framer in two reads split at the first byte's
//! value, and decodes every message (and each of its values) as OVSDB atoms and datums.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovsnet::ovsdb::framing::Framer;
use ovsnet::ovsdb::value::{Atom, Datum};
use serde_json::Value as Json;

fn decode(json: &Json, depth: usize) {
    let _ = Atom::from_json(json);
    if let Some(datum) = Datum::from_json(json) {
        let _ = datum.to_json();
        let _ = datum.single();
    }
    let _ = ovsnet::ovsdb::rows(json);
    if depth == 0 {
        return;
    }
    match json {
        Json::Array(items) => items.iter().for_each(|j| decode(j, depth - 1)),
        Json::Object(map) => map.values().for_each(|j| decode(j, depth - 1)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(split).min(rest.len());
    let mut framer = Framer::new();
    for part in [&rest[..split], &rest[split..]] {
        framer.push(part);
        while let Ok(Some(message)) = framer.next_message() {
            decode(&message, 4);
        }
    }
    let _ = framer.has_partial();
});
