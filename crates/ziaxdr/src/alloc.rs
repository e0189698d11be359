//! The global allocator and its settings.

// Parsing and indexing allocate many small strings and maps per event: the system allocator
// was about an eighth of an import's profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` in its `mi_option_e` (v3), which `libmimalloc-sys`
/// does not name; a test checks it against the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes the allocator keep the memory it frees for reuse instead of returning it to the
/// operating system, unless `MIMALLOC_PURGE_DELAY` says otherwise.
///
/// Indexing frees and reallocates large buffers all the time (tantivy's per-segment arenas,
/// batches of events): with mimalloc's default (return what stayed free for 1 s), a
/// 300k-record import took 52,000 to 89,000 page faults, and zeroing those fresh pages in the
/// kernel was about 6% of its CPU; kept, 1,400 faults and 2 to 15% less CPU time (the more,
/// the busier the machine). The cost is that the
/// process keeps its peak memory (a few hundred MB while indexing) until it exits.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: called first thing in `main`, before any other thread exists (mimalloc's
    // options are not thread-safe to set).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

/// How long freed memory stays with a long-running server before it goes back to the
/// operating system: none. A delayed purge only happens when the thread that freed the
/// memory allocates again, and the threads that served a burst (sixteen 10 MB request
/// bodies) may then sit idle: with a delay of 100 ms or more, `tests/http_memory.rs` saw the
/// server keep +88 MB after the burst for good; with 0, +9 MB.
pub const SERVER_PURGE_DELAY_MS: i64 = 0;

/// Makes the allocator return freed memory to the operating system at once (`serve`),
/// unless `MIMALLOC_PURGE_DELAY` says otherwise.
pub fn return_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: as in `keep_freed_memory`: called in `main` before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, SERVER_PURGE_DELAY_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_option_number_is_mimallocs() {
        // Nothing in the tests sets it, so it holds mimalloc's default (1000 ms in v3's
        // `options.c`; no other option defaults to it), unless the environment set it.
        if let Some(v) = std::env::var_os("MIMALLOC_PURGE_DELAY") {
            let v: i64 = v.to_str().unwrap().parse().unwrap();
            assert_eq!(
                unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
                v
            );
        } else {
            assert_eq!(
                unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
                1000
            );
        }
    }
}
