#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz/mod.rs"]
mod fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (fuzz::blocks::DELIVER_RESPONSE.run)(data, &mut fuzz::engine::Cov::default());
});
