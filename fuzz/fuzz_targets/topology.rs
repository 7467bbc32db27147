//! Loads and validates arbitrary text as a topology, then renders the diagnostics:
//! neither may panic, and the rendering stays within its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ovsnet::topology::load("fuzz.yaml", text) {
        Ok(loaded) => {
            let _ = loaded.warnings.render(text, false);
        }
        Err(diagnostics) => {
            let out = diagnostics.render(text, false);
            assert!(out.len() <= 2 << 20, "diagnostics of {} bytes", out.len());
        }
    }
});
