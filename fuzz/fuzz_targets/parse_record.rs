//! Any bytes as a raw record: `zia::parse` must return an event or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match zia::parse(&text) {
        // Every event the parser yields names its observer, whatever the input.
        Ok(p) => assert!(p.event.contains_key("observer")),
        Err(e) => {
            let ev = zia::error_event(&text, &e);
            assert!(zia::is_error_event(&ev));
        }
    }
});
