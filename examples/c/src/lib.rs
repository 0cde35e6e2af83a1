//! tinyreg's C ABI (`tinyreg::capi`) as a static library. The `#[no_mangle]`
//! functions of the `capi` module are exported from the archive; this crate
//! only adds what a `no_std` static library needs: a panic handler. The library
//! never panics by design (every error is a status code), so reaching it is a
//! bug: it stops rather than unwinding into C.
#![no_std]

pub use tinyreg::capi::*;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
