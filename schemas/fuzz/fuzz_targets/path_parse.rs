//! Any text: PATCH path parsing never panics and accepted paths round-trip through Display.
#![no_main]

use libfuzzer_sys::fuzz_target;
use schemas::PatchPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = PatchPath::parse(text) {
        let printed = p.to_string();
        assert_eq!(
            PatchPath::parse(&printed).as_ref(),
            Ok(&p),
            "{text:?} printed as {printed:?}"
        );
    }
});
