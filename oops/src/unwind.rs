//! Frame-pointer unwinder that can never fault, loop or run away.
//!
//! AArch64 code built with frame pointers keeps a chain of 16-byte *frame
//! records* `{previous x29, x30}`; x29 points at the newest one. The unwinder
//! follows that chain through a [`MemReader`] (which returns `None` instead of
//! faulting) with Linux's rules:
//!
//! * a record address must be 8-byte aligned (AAPCS64 only guarantees that;
//!   records are usually 16-byte aligned, but an 8-aligned record is legal);
//! * the whole 16-byte record must lie inside one of the known stacks;
//! * within one stack record addresses must strictly increase (stacks grow
//!   down, so callers' records are higher);
//! * moving to another stack is allowed only to a stack not visited before
//!   (IRQ stack → task stack, overflow stack → task stack, ...);
//! * a zero frame pointer or a zero return address ends the chain;
//! * at most `max_depth` frames are produced.
//!
//! Exception boundaries: the kernel's exception entry stores a frame record
//! `{interrupted x29, ELR}` inside its trap frame and writes
//! [`EXCEPTION_FRAME_MARKER`] in the 8 bytes right after it (record + 16). Such
//! a record yields a [`FrameKind::Exception`] frame whose `pc` is the exact
//! interrupted instruction (not a return address), and unwinding continues
//! with the interrupted code's x29.

/// Marker written by the exception entry right after its frame record
/// (ASCII "EXCFRAME" read as a big-endian number).
pub const EXCEPTION_FRAME_MARKER: u64 = 0x4558_4346_5241_4d45;

/// Memory access that never faults: `None` when the address is unreadable.
pub trait MemReader {
    /// Reads a little-endian `u64` at `addr`.
    fn read_u64(&self, addr: u64) -> Option<u64>;
    /// Reads a little-endian `u32` at `addr`.
    fn read_u32(&self, addr: u64) -> Option<u32>;
}

/// A stack: the addresses `[lo, hi)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackRange {
    /// Lowest address (inclusive).
    pub lo: u64,
    /// Highest address (exclusive).
    pub hi: u64,
}

impl StackRange {
    /// A stack covering `[lo, hi)`.
    pub const fn new(lo: u64, hi: u64) -> Self {
        StackRange { lo, hi }
    }

    fn contains(&self, addr: u64, len: u64) -> bool {
        match addr.checked_add(len) {
            Some(end) => addr >= self.lo && end <= self.hi,
            None => false,
        }
    }
}

/// What kind of address a [`Frame`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// `pc` is a return address taken from a frame record: the call is at
    /// `pc - 4`.
    Normal,
    /// `pc` is the exact interrupted instruction, saved by the exception entry.
    Exception,
}

/// One unwound frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Return address ([`FrameKind::Normal`]) or interrupted pc
    /// ([`FrameKind::Exception`]).
    pub pc: u64,
    /// Address of the frame record the pc was read from.
    pub fp: u64,
    /// Kind of frame.
    pub kind: FrameKind,
}

impl Frame {
    /// The address to symbolize: `pc - 4` for return addresses (so that a call
    /// to a `noreturn` function at the very end of a function still names the
    /// caller), `pc` itself for exception frames.
    pub fn lookup_pc(&self) -> u64 {
        match self.kind {
            FrameKind::Normal => self.pc.wrapping_sub(4),
            FrameKind::Exception => self.pc,
        }
    }
}

/// Why the unwinder stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Still running (the iterator has not finished).
    Running,
    /// A zero frame pointer or zero return address: the normal end.
    End,
    /// A frame pointer that is not 8-byte aligned.
    Misaligned(u64),
    /// A frame record outside every known stack.
    OutsideStacks(u64),
    /// A frame record not above the previous one on the same stack (a loop or
    /// a downward link).
    NotIncreasing(u64),
    /// A jump back to a stack that was already left.
    StackRevisited(u64),
    /// The reader could not read the record.
    Unreadable(u64),
    /// `max_depth` frames were produced.
    MaxDepth,
}

/// Iterator over the frame records starting at a frame pointer.
pub struct Unwinder<'a> {
    mem: &'a dyn MemReader,
    stacks: &'a [StackRange],
    fp: u64,
    prev_fp: u64,
    cur_stack: Option<usize>,
    visited: u64,
    depth: usize,
    max_depth: usize,
    stop: StopReason,
}

impl<'a> Unwinder<'a> {
    /// Starts unwinding at frame pointer `fp` (x29). Only the first 64 entries
    /// of `stacks` are used.
    pub fn new(
        mem: &'a dyn MemReader,
        stacks: &'a [StackRange],
        fp: u64,
        max_depth: usize,
    ) -> Self {
        Unwinder {
            mem,
            stacks: stacks.get(..64).unwrap_or(stacks),
            fp,
            prev_fp: 0,
            cur_stack: None,
            visited: 0,
            depth: 0,
            max_depth,
            stop: StopReason::Running,
        }
    }

    /// Why iteration ended ([`StopReason::Running`] while it has not).
    pub fn stop_reason(&self) -> StopReason {
        self.stop
    }

    fn finish(&mut self, why: StopReason) -> Option<Frame> {
        self.stop = why;
        None
    }
}

impl Iterator for Unwinder<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if self.stop != StopReason::Running {
            return None;
        }
        let fp = self.fp;
        if fp == 0 {
            return self.finish(StopReason::End);
        }
        if self.depth >= self.max_depth {
            return self.finish(StopReason::MaxDepth);
        }
        if fp & 7 != 0 {
            return self.finish(StopReason::Misaligned(fp));
        }
        let Some(si) = self.stacks.iter().position(|s| s.contains(fp, 16)) else {
            return self.finish(StopReason::OutsideStacks(fp));
        };
        if self.cur_stack == Some(si) {
            if fp <= self.prev_fp {
                return self.finish(StopReason::NotIncreasing(fp));
            }
        } else {
            if self.visited & (1u64 << si) != 0 {
                return self.finish(StopReason::StackRevisited(fp));
            }
            self.visited |= 1u64 << si;
            self.cur_stack = Some(si);
        }
        let (Some(next_fp), Some(lr)) = (self.mem.read_u64(fp), self.mem.read_u64(fp + 8)) else {
            return self.finish(StopReason::Unreadable(fp));
        };
        if lr == 0 {
            return self.finish(StopReason::End);
        }
        let marked = self.stacks.get(si).is_some_and(|s| s.contains(fp + 16, 8))
            && self.mem.read_u64(fp + 16) == Some(EXCEPTION_FRAME_MARKER);
        self.prev_fp = fp;
        self.fp = next_fp;
        self.depth += 1;
        Some(Frame {
            pc: lr,
            fp,
            kind: if marked {
                FrameKind::Exception
            } else {
                FrameKind::Normal
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec;
    use std::vec::Vec;

    #[derive(Default)]
    struct Mem(BTreeMap<u64, u64>);

    impl Mem {
        fn rec(&mut self, at: u64, fp: u64, lr: u64) -> &mut Self {
            self.0.insert(at, fp);
            self.0.insert(at + 8, lr);
            self
        }
    }

    impl MemReader for Mem {
        fn read_u64(&self, addr: u64) -> Option<u64> {
            self.0.get(&addr).copied()
        }
        fn read_u32(&self, addr: u64) -> Option<u32> {
            self.0
                .get(&(addr & !7))
                .map(|v| (v >> ((addr & 4) * 8)) as u32)
        }
    }

    const STACK: StackRange = StackRange::new(0x1000, 0x2000);
    const IRQ: StackRange = StackRange::new(0x8000, 0x8400);

    fn pcs(m: &Mem, stacks: &[StackRange], fp: u64, max: usize) -> (Vec<u64>, StopReason) {
        let mut u = Unwinder::new(m, stacks, fp, max);
        let v = u.by_ref().map(|f| f.pc).collect();
        (v, u.stop_reason())
    }

    #[test]
    fn chain_to_zero_terminator() {
        let mut m = Mem::default();
        m.rec(0x1100, 0x1200, 0xa0)
            .rec(0x1200, 0x1300, 0xb0)
            .rec(0x1300, 0, 0xc0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64),
            (vec![0xa0, 0xb0, 0xc0], StopReason::End)
        );
        // A zero lr ends the chain too.
        m.rec(0x1300, 0x1400, 0);
        assert_eq!(pcs(&m, &[STACK], 0x1100, 64).0, vec![0xa0, 0xb0]);
        assert_eq!(pcs(&m, &[STACK], 0, 64), (vec![], StopReason::End));
    }

    #[test]
    fn cycle_and_downward_link() {
        let mut m = Mem::default();
        m.rec(0x1100, 0x1200, 0xa0).rec(0x1200, 0x1100, 0xb0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64),
            (vec![0xa0, 0xb0], StopReason::NotIncreasing(0x1100))
        );
        let mut m = Mem::default();
        m.rec(0x1100, 0x1100, 0xa0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64),
            (vec![0xa0], StopReason::NotIncreasing(0x1100))
        );
    }

    #[test]
    fn misaligned_and_outside() {
        let mut m = Mem::default();
        m.rec(0x1100, 0x1204, 0xa0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64),
            (vec![0xa0], StopReason::Misaligned(0x1204))
        );
        m.rec(0x1100, 0x5000, 0xa0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64).1,
            StopReason::OutsideStacks(0x5000)
        );
        // The record must fit entirely: 0x1ff8 + 16 > 0x2000.
        m.rec(0x1100, 0x1ff8, 0xa0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64).1,
            StopReason::OutsideStacks(0x1ff8)
        );
        // Inside the stack but unreadable.
        m.rec(0x1100, 0x1800, 0xa0);
        assert_eq!(
            pcs(&m, &[STACK], 0x1100, 64).1,
            StopReason::Unreadable(0x1800)
        );
        // 8-byte aligned records are accepted.
        m.rec(0x1100, 0x1808, 0xa0).rec(0x1808, 0, 0xb0);
        assert_eq!(pcs(&m, &[STACK], 0x1100, 64).0, vec![0xa0, 0xb0]);
        // Near the top of the address space: no overflow.
        assert_eq!(
            pcs(&m, &[StackRange::new(0, u64::MAX)], u64::MAX - 7, 64).1,
            StopReason::OutsideStacks(u64::MAX - 7)
        );
    }

    #[test]
    fn max_depth() {
        let mut m = Mem::default();
        for i in 0..100u64 {
            m.rec(0x1000 + 16 * i, 0x1000 + 16 * (i + 1), 0x100 + i);
        }
        let (v, why) = pcs(&m, &[STACK], 0x1000, 10);
        assert_eq!(v.len(), 10);
        assert_eq!(why, StopReason::MaxDepth);
    }

    #[test]
    fn stack_switch_once_only() {
        let mut m = Mem::default();
        // IRQ stack frames, then the task stack, then back to the IRQ stack.
        m.rec(0x8100, 0x8200, 0x1)
            .rec(0x8200, 0x1100, 0x2)
            .rec(0x1100, 0x1200, 0x3)
            .rec(0x1200, 0x8300, 0x4);
        assert_eq!(
            pcs(&m, &[STACK, IRQ], 0x8100, 64),
            (vec![1, 2, 3, 4], StopReason::StackRevisited(0x8300))
        );
        // Switching down to a lower stack is fine if it is new.
        let mut m = Mem::default();
        m.rec(0x8100, 0x1100, 0x1).rec(0x1100, 0, 0x2);
        assert_eq!(pcs(&m, &[STACK, IRQ], 0x8100, 64).0, vec![1, 2]);
    }

    #[test]
    fn exception_marker() {
        let mut m = Mem::default();
        // handler frame -> exception record {x29 of interrupted code, elr} + marker.
        m.rec(0x1100, 0x1180, 0xa0)
            .rec(0x1180, 0x1300, 0xdead_0010)
            .rec(0x1300, 0, 0xc0);
        m.0.insert(0x1190, EXCEPTION_FRAME_MARKER);
        let frames: Vec<Frame> = Unwinder::new(&m, &[STACK], 0x1100, 64).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].kind, FrameKind::Normal);
        assert_eq!(frames[0].lookup_pc(), 0x9c);
        assert_eq!(frames[1].kind, FrameKind::Exception);
        assert_eq!(frames[1].pc, 0xdead_0010);
        assert_eq!(frames[1].lookup_pc(), 0xdead_0010);
        assert_eq!(frames[2].kind, FrameKind::Normal);
    }
}
