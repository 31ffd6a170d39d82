#![no_main]

#[allow(dead_code)]
#[path = "../../tests/fuzz/mod.rs"]
mod fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (fuzz::cert_store::CERT_STORE.run)(data, &mut fuzz::engine::Cov::default());
});
