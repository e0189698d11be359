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
/// operating system. At 0 (returned at once), every allocator page that a parse thread or
/// a request emptied went back to the kernel, and the next event or request faulted it in
/// again, zeroed: page faults were about a sixth of the parse threads' and the receivers'
/// CPU time. At 100 ms an end-to-end run used about a tenth less CPU per event, but the
/// memory of a batch of events is used again only after the batches in flight (reading,
/// parsing, queued, writing: a few hundred ms at 20-30k events/s), so it was still returned
/// first: a profile of the parse threads (`bench/e2e`, perf) had a quarter of their time in
/// page faults, most of it the kernel zeroing 2 MB transparent huge pages (mimalloc asks
/// for them) that the allocator had just handed back. At 1 s the memory stays between
/// batches; what a burst of requests left still goes back a second later.
pub const SERVER_PURGE_DELAY_MS: i64 = 1000;

/// How often the server's purge thread asks the allocator to return what has stayed free
/// past [`SERVER_PURGE_DELAY_MS`]. A delayed purge otherwise only happens when some thread
/// allocates again, and the threads that served a burst (sixteen 10 MB request bodies) may
/// then sit idle: `tests/http_memory.rs` saw a server without this thread keep +88 MB after
/// the burst for good.
pub const SERVER_PURGE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Makes the allocator return memory that stayed free for [`SERVER_PURGE_DELAY_MS`] to the
/// operating system (`serve`), unless `MIMALLOC_PURGE_DELAY` says otherwise.
pub fn return_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: as in `keep_freed_memory`: called in `main` before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, SERVER_PURGE_DELAY_MS) }
}

/// Starts the thread that returns freed memory on time even when every other thread is
/// idle (see [`SERVER_PURGE_EVERY`]). The allocator's purge of its arenas is process-wide:
/// a collect on this thread purges what any thread freed. It runs until the process exits.
pub fn start_purge_thread() {
    let spawned = std::thread::Builder::new()
        .name("mem-purge".into())
        .spawn(|| loop {
            std::thread::sleep(SERVER_PURGE_EVERY);
            // SAFETY: `mi_collect` may be called from any thread at any time.
            unsafe { libmimalloc_sys::mi_collect(false) }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no memory purge thread; freed memory returns more slowly");
    }
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
