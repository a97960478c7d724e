//! Keeping the daemon's resident memory near what it really holds.
//!
//! glibc's allocator keeps memory a thread freed for reuse: one arena per thread that ever
//! allocated (up to 8 × cores), and the top of each heap until it is trimmed. Training allocates
//! transient buffers (the SVM's kernel matrix is 8 MB at 1,000 points) and a backfill queues pages
//! of lines, so without this the daemon's RSS settles at its transient peak plus per-thread slack.
//! Elsewhere (musl, other systems) these are no-ops.

/// Use at most two malloc arenas. Call first thing in `main`, before any thread starts.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Return freed memory to the system (after a fit, after a large batch).
pub fn release_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}
