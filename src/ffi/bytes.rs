//! `fg_bytes`: a byte buffer allocated by the library and handed to the host.

use std::ptr;

/// Bytes owned by the library (JSON text, error detail). The host reads `ptr[0..len]` and
/// gives the buffer back with `fg_bytes_free`; it never calls `free()` on `ptr`.
/// For convenience `ptr[len]` is always a NUL byte, so text can be printed as a C string.
/// A zeroed `fg_bytes` (`ptr == NULL`, `len == 0`) holds nothing and is safe to free.
#[repr(C)]
#[derive(Debug)]
pub struct fg_bytes {
    /// First byte; NULL only in an empty, freed or never-written `fg_bytes`.
    pub ptr: *mut u8,
    /// Number of bytes, not counting the trailing NUL.
    pub len: usize,
}

impl fg_bytes {
    /// Moves `data` into a library-owned buffer with a trailing NUL.
    pub(crate) fn from_vec(mut data: Vec<u8>) -> fg_bytes {
        let len = data.len();
        data.push(0);
        // A boxed slice has exactly `len + 1` bytes, so `fg_bytes_free` can rebuild it.
        let raw = Box::into_raw(data.into_boxed_slice());
        fg_bytes {
            ptr: raw.cast::<u8>(),
            len,
        }
    }
}

/// Releases a buffer the library returned, then sets `*bytes` to `{NULL, 0}` so a second
/// call is harmless. `bytes` may be NULL; a zeroed `fg_bytes` is accepted.
/// Safe to call from any thread, including inside callbacks.
///
/// # Safety
/// `bytes` is NULL or points to an `fg_bytes` written by this library and not altered since.
#[no_mangle]
pub unsafe extern "C" fn fg_bytes_free(bytes: *mut fg_bytes) {
    // Not a status-returning call: nothing to count or report, only the panic boundary.
    crate::ffi::panic::boundary((), || {
        // SAFETY: NULL or an `fg_bytes` written by this library, by this function's contract.
        let Some(b) = (unsafe { bytes.as_mut() }) else {
            return;
        };
        if !b.ptr.is_null() {
            let slice = ptr::slice_from_raw_parts_mut(b.ptr, b.len + 1);
            // SAFETY: `from_vec` made `ptr` from a boxed slice of `len + 1` bytes, and the
            // host has not altered it (the contract); rebuilding the box frees it once, since
            // `ptr` is reset to NULL below.
            drop(unsafe { Box::from_raw(slice) });
        }
        b.ptr = ptr::null_mut();
        b.len = 0;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_bytes_and_adds_nul() {
        let mut b = fg_bytes::from_vec(b"[1,2]".to_vec());
        assert_eq!(b.len, 5);
        // SAFETY: `b` was made by `fg_bytes::from_vec` (`len + 1` bytes), or is NULL/freed.
        let view = unsafe { std::slice::from_raw_parts(b.ptr, b.len + 1) };
        assert_eq!(view, b"[1,2]\0");
        // SAFETY: `b` was made by `fg_bytes::from_vec` (`len + 1` bytes), or is NULL/freed.
        unsafe { fg_bytes_free(&mut b) };
        assert!(b.ptr.is_null());
        assert_eq!(b.len, 0);
        // A second free and a NULL free are no-ops.
        // SAFETY: `b` was made by `fg_bytes::from_vec` (`len + 1` bytes), or is NULL/freed.
        unsafe { fg_bytes_free(&mut b) };
        // SAFETY: `b` was made by `fg_bytes::from_vec` (`len + 1` bytes), or is NULL/freed.
        unsafe { fg_bytes_free(ptr::null_mut()) };
    }

    #[test]
    fn empty_buffer_is_not_null() {
        let mut b = fg_bytes::from_vec(Vec::new());
        assert!(!b.ptr.is_null());
        assert_eq!(b.len, 0);
        // SAFETY: `b` was made by `fg_bytes::from_vec` (`len + 1` bytes), or is NULL/freed.
        unsafe { fg_bytes_free(&mut b) };
    }
}
