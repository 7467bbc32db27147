//! Parses arbitrary text as a saved plan, and loads the topology a parsed plan carries.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ovsnet::planfile::looks_like_plan(text);
    if let Ok(saved) = ovsnet::planfile::parse(text) {
        let _ = ovsnet::topology::load(&saved.topology_name, &saved.topology_source);
    }
});
