//! tinyreg's C ABI (`tinyreg::capi`) as a static library. The `#[no_mangle]`
//! functions of the `capi` module are exported from the archive; this crate
//! only adds what a `no_std` static library needs: a panic handler. The library
//! never panics by design (every error is a status code), so reaching it is a
//! bug: it calls the C library's `abort` (newlib and glibc both have it), so
//! the program ends with a failure instead of hanging (it looped forever once).
#![no_std]

pub use tinyreg::capi::*;

extern "C" {
    fn abort() -> !;
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: `abort` takes nothing and never returns; every C program links it.
    unsafe { abort() }
}
