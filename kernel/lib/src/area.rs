//! The module area's allocator: sorted free ranges, next fit.
//!
//! Next fit (allocation resumes after the previous one) keeps a reloaded module off the
//! pages its predecessor just used, which is cheap for hardware and spares QEMU's TCG from
//! invalidating translated code on every reload.

use alloc::vec::Vec;

/// Free ranges of an address window.
#[derive(Debug, Default)]
pub struct Area {
    /// `(start, len)`, sorted, non-overlapping, merged.
    free: Vec<(u64, u64)>,
    next: u64,
}

impl Area {
    /// An area of `len` bytes at `start`.
    pub fn new(start: u64, len: u64) -> Area {
        Area {
            free: alloc::vec![(start, len)],
            next: start,
        }
    }

    /// The free ranges.
    pub fn free_ranges(&self) -> &[(u64, u64)] {
        &self.free
    }

    /// Free bytes in all.
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|r| r.1).sum()
    }

    /// `size` bytes aligned to `align` (a power of two), or `None` if nothing fits.
    pub fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        if size == 0 || !align.is_power_of_two() {
            return None;
        }
        let fit = |start: u64, len: u64, from: u64| -> Option<u64> {
            let at = start.max(from).checked_add(align - 1)? & !(align - 1);
            (at.checked_add(size)? <= start + len).then_some(at)
        };
        let cursor = self.next;
        let pick = self
            .free
            .iter()
            .enumerate()
            .find_map(|(i, &(s, l))| fit(s, l, cursor).map(|at| (i, at)))
            .or_else(|| {
                self.free
                    .iter()
                    .enumerate()
                    .find_map(|(i, &(s, l))| fit(s, l, 0).map(|at| (i, at)))
            });
        let (i, at) = pick?;
        let (start, len) = self.free.remove(i);
        if at > start {
            self.free.push((start, at - start));
        }
        if at + size < start + len {
            self.free.push((at + size, start + len - at - size));
        }
        self.free.sort_unstable();
        self.next = at + size;
        Some(at)
    }

    /// Gives back `[base, base+size)`, merging with its neighbours. Spare capacity is
    /// returned too, so alloc/free cycles leave the heap exactly as found.
    pub fn free(&mut self, base: u64, size: u64) {
        self.free.push((base, size));
        self.free.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.free.len());
        for &(s, l) in self.free.iter() {
            match merged.last_mut() {
                Some((ms, ml)) if *ms + *ml == s => *ml += l,
                _ => merged.push((s, l)),
            }
        }
        merged.shrink_to_fit();
        self.free = merged;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 4096;

    #[test]
    fn next_fit_alignment_and_merging() {
        let mut a = Area::new(0x10_0000, 64 * P);
        let x = a.alloc(2 * P, P).unwrap();
        let y = a.alloc(P, P).unwrap();
        assert_eq!((x, y), (0x10_0000, 0x10_0000 + 2 * P));
        // Aligned to 64 KiB.
        let z = a.alloc(P, 16 * P).unwrap();
        assert_eq!(z % (16 * P), 0);
        a.free(x, 2 * P);
        // Next fit: the freed pages are not reused while later space fits.
        let w = a.alloc(2 * P, P).unwrap();
        assert!(w > z);
        for (b, s) in [(y, P), (z, P), (w, 2 * P)] {
            a.free(b, s);
        }
        assert_eq!(a.free_ranges(), &[(0x10_0000, 64 * P)]);
        assert_eq!(a.free_bytes(), 64 * P);
    }

    #[test]
    fn full_wraps_and_refuses() {
        let mut a = Area::new(0, 4 * P);
        let v: std::vec::Vec<u64> = (0..4).map(|_| a.alloc(P, P).unwrap()).collect();
        assert_eq!(a.alloc(P, P), None);
        a.free(v[1], P);
        // Wraps around to the only hole.
        assert_eq!(a.alloc(P, P), Some(v[1]));
        assert_eq!(a.alloc(0, P), None);
        assert_eq!(a.alloc(P, 3), None);
        assert_eq!(a.alloc(u64::MAX, P), None);
    }
}
