//! Progress, cancellation, randomness and threading shared by the algorithms, kept free of the
//! SDK so the algorithms are plain functions that tests and the example binary call directly.

/// The job was cancelled; the operation turns this into `PluginError::cancelled()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// What a long computation reports to and asks of its caller, always from the calling thread.
pub trait Control {
    /// Progress in 0..1 with a short message.
    fn progress(&mut self, fraction: f32, message: &str);
    /// True once the caller wants the computation to stop.
    fn cancelled(&mut self) -> bool;

    /// Returns `Err(Cancelled)` when cancelled; call it between units of work.
    fn check(&mut self) -> Result<(), Cancelled> {
        if self.cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

/// A [`Control`] that reports nowhere and never cancels.
pub struct Unattended;

impl Control for Unattended {
    fn progress(&mut self, _fraction: f32, _message: &str) {}
    fn cancelled(&mut self) -> bool {
        false
    }
}

/// SplitMix64: small, fast and good enough for randomised search; seeded so runs repeat.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut r = Rng(seed ^ 0x5EED_C1A5_51C0_FFEE);
        r.next_u64();
        r
    }

    /// A generator for one independent stream of work, e.g. (seed, level, iteration, band).
    pub fn stream(parts: &[u64]) -> Self {
        let mut h = 0xC0FF_EE00_D15E_A5E5u64;
        for &p in parts {
            h = Rng(h ^ p).next_u64();
        }
        Rng::new(h)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` for `n` up to 2³².
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in `-r..=r`.
    pub fn offset(&mut self, r: usize) -> isize {
        self.below(2 * r + 1) as isize - r as isize
    }
}

/// Threads to use when the caller says 0 (automatic): the worker's budget
/// ([`easel_sdk::thread_budget`]); never more than it, whatever the caller asks.
pub fn auto_threads(requested: usize) -> usize {
    let budget = easel_sdk::thread_budget();
    if requested > 0 {
        requested.min(budget)
    } else {
        budget
    }
}

/// Runs `f` on every job, spread over `threads` scoped threads (round robin, so the split is
/// fixed). Results must not depend on which thread runs which job; callers make each job
/// write only its own data.
pub fn run_parallel<T: Send>(jobs: Vec<T>, threads: usize, f: &(dyn Fn(T) + Sync)) {
    if threads <= 1 || jobs.len() <= 1 {
        jobs.into_iter().for_each(f);
        return;
    }
    let n = threads.min(jobs.len());
    let mut per: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for (i, job) in jobs.into_iter().enumerate() {
        per[i % n].push(job);
    }
    std::thread::scope(|scope| {
        let mut lists = per.into_iter();
        let mine = lists.next();
        for list in lists {
            scope.spawn(move || list.into_iter().for_each(f));
        }
        if let Some(list) = mine {
            list.into_iter().for_each(f);
        }
    });
}

/// Splits a row-major buffer of `width × item` values per row into the given row bands
/// (`(y0, y1)`, contiguous from row 0), for handing disjoint parts to threads.
pub fn split_rows<'a, T>(
    mut data: &'a mut [T],
    row_len: usize,
    bands: &[(usize, usize)],
) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(bands.len());
    for &(y0, y1) in bands {
        let (head, tail) = std::mem::take(&mut data).split_at_mut((y1 - y0) * row_len);
        out.push(head);
        data = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_repeatable_and_in_range() {
        let mut a = Rng::stream(&[1, 2, 3]);
        let mut b = Rng::stream(&[1, 2, 3]);
        let mut c = Rng::stream(&[1, 2, 4]);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        let mut counts = [0usize; 7];
        for _ in 0..7000 {
            let o = a.offset(3);
            assert!((-3..=3).contains(&o));
            counts[(o + 3) as usize] += 1;
        }
        assert!(counts.iter().all(|&n| n > 800), "{counts:?}");
    }

    #[test]
    fn parallel_jobs_all_run_on_disjoint_rows() {
        let mut data = vec![0u32; 10 * 4];
        let bands = [(0, 3), (3, 4), (4, 10)];
        let parts = split_rows(&mut data, 4, &bands);
        let jobs: Vec<(usize, &mut [u32])> = parts.into_iter().enumerate().collect();
        run_parallel(jobs, 3, &|(i, rows): (usize, &mut [u32])| {
            rows.iter_mut().for_each(|v| *v = i as u32 + 1)
        });
        assert!(data[..12].iter().all(|&v| v == 1));
        assert!(data[12..16].iter().all(|&v| v == 2));
        assert!(data[16..].iter().all(|&v| v == 3));
    }
}
