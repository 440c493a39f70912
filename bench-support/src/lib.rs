//! What the benchmarks of this workspace share: the CPU time of the calling thread, (feature
//! `criterion`) a criterion measurement of it, and a global allocator that counts live heap
//! bytes. Dev-only, not published.
//!
//! The benchmark machines have two cores shared with builds and other benchmarks; wall time
//! counts every time slice another process takes, CPU time does not. The thread's CPU clock
//! (`CLOCK_THREAD_CPUTIME_ID`) is exact to the nanosecond and includes the running slice.
//!
//! Used by the runtime's micro benchmarks (`runtime/benches`), the plugin's benchmark
//! (`protoc-gen-mcp-auth/benches/plugin.rs`) and the end-to-end `load` binary of `tests/`.
//! Linux only, like the benchmarks.

use std::time::Duration;

mod alloc;

pub use alloc::{CountingAllocator, live_blocks, live_bytes};

#[cfg(feature = "criterion")]
mod measurement;

#[cfg(feature = "criterion")]
pub use measurement::{ThreadCpuTime, criterion};

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

/// `CLOCK_THREAD_CPUTIME_ID` in Linux's `<time.h>`.
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

unsafe extern "C" {
    fn clock_gettime(clock: i32, time: *mut Timespec) -> i32;
}

/// The CPU time the calling thread has used: unlike wall time, not inflated when other
/// processes share the cores.
///
/// # Panics
///
/// If `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` fails (it does not on Linux).
pub fn thread_cpu_time() -> Duration {
    let mut time = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `time` is a valid, writable timespec (two `long`s on 64-bit Linux), and the clock
    // id is a constant the kernel knows.
    let status = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut time) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::thread_cpu_time;

    #[test]
    fn the_clock_advances_with_work() {
        let start = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() == start {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time() > start);
    }
}
