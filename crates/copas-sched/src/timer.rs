//! A min-heap of deadlines whose entries can be removed by handle.
//!
//! Sleeps are pushed and popped in order, but socket timeouts are mostly cancelled
//! before they fire (the data arrives first). A plain `BinaryHeap` with lazy deletion
//! would pile up millions of dead entries under load; here every entry remembers its
//! position, so removal is `O(log n)` and the heap only ever holds live timers.
//!
//! Popping the earliest timer is most of the cost of a timer wakeup, so the heap is
//! built for it: four children per node (half the levels of a binary heap, for three
//! comparisons a level that stay in one or two cache lines), entries of 24 bytes
//! ordered by two integers (the deadline in nanoseconds after the heap was made, then
//! the insertion number: comparing `Instant`s was a function call), the deadline
//! itself kept in the timer's slot, and sifting that moves a hole instead of swapping.

use std::time::{Duration, Instant};

/// Handle of a timer in a [`TimerHeap`], valid until the timer fires or is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerKey {
    slot: u32,
    generation: u32,
}

/// Children per node.
const ARITY: usize = 4;

/// `Slot::position` of a timer that is not in the heap.
const NOWHERE: u32 = u32::MAX;

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    /// Position in `heap` while the timer is live, else `NOWHERE`.
    position: u32,
    deadline: Instant,
    value: Option<T>,
}

#[derive(Debug, Clone, Copy)]
struct HeapEntry {
    /// Nanoseconds from the heap's `origin` to the deadline (0 for a deadline before
    /// it: already due, and then first-in first-out).
    nanos: u64,
    /// The insertion number: timers with equal deadlines fire first-in first-out.
    sequence: u64,
    slot: u32,
}

impl HeapEntry {
    /// The order of the entry as one integer (one wide comparison, no branches).
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.nanos) << 64) | u128::from(self.sequence)
    }

    #[inline]
    fn before(&self, other: &HeapEntry) -> bool {
        self.key() < other.key()
    }
}

/// Nanoseconds from `origin` to `deadline` (a u64 of them lasts 584 years).
fn nanos_after(origin: Instant, deadline: Instant) -> u64 {
    u64::try_from(deadline.saturating_duration_since(origin).as_nanos()).unwrap_or(u64::MAX)
}

/// Timers ordered by deadline, each carrying a value of type `T`.
#[derive(Debug)]
pub struct TimerHeap<T> {
    /// When the heap was made: deadlines are ordered as nanoseconds after it.
    origin: Instant,
    heap: Vec<HeapEntry>,
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    sequence: u64,
}

impl<T> Default for TimerHeap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerHeap<T> {
    /// An empty heap.
    pub fn new() -> Self {
        TimerHeap {
            origin: Instant::now(),
            heap: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            sequence: 0,
        }
    }

    /// Number of live timers.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no timer is live.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Adds a timer firing at `deadline`.
    pub fn insert(&mut self, deadline: Instant, value: T) -> TimerKey {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    position: NOWHERE,
                    deadline,
                    value: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.value = Some(value);
        entry.deadline = deadline;
        let key = TimerKey {
            slot,
            generation: entry.generation,
        };
        self.sequence += 1;
        let entry = HeapEntry {
            nanos: nanos_after(self.origin, deadline),
            sequence: self.sequence,
            slot,
        };
        let position = self.heap.len();
        self.heap.push(entry);
        self.sift_up(position, entry);
        key
    }

    /// Removes a live timer, returning its value; `None` if it already fired or was removed.
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        let slot = self.slots.get(key.slot as usize)?;
        if slot.generation != key.generation || slot.position == NOWHERE {
            return None;
        }
        Some(self.remove_at(slot.position as usize))
    }

    /// The earliest deadline, if any timer is live.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap
            .first()
            .map(|entry| self.slots[entry.slot as usize].deadline)
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<T> {
        match self.next_deadline() {
            Some(deadline) if deadline <= now => Some(self.remove_at(0)),
            _ => None,
        }
    }

    /// Moves every deadline `by` earlier, none before `floor`. Deadlines clamped to
    /// `floor` tie, and ties go by insertion order, so the heap is rebuilt (sorted).
    pub fn shift_earlier(&mut self, by: Duration, floor: Instant) {
        let origin = self.origin;
        for entry in &mut self.heap {
            let slot = &mut self.slots[entry.slot as usize];
            slot.deadline = slot
                .deadline
                .checked_sub(by)
                .map_or(floor, |shifted| shifted.max(floor));
            entry.nanos = nanos_after(origin, slot.deadline);
        }
        self.heap.sort_unstable_by_key(HeapEntry::key);
        for (position, entry) in self.heap.iter().enumerate() {
            self.slots[entry.slot as usize].position = position as u32;
        }
    }

    fn remove_at(&mut self, position: usize) -> T {
        let removed = self.heap.swap_remove(position);
        if position < self.heap.len() {
            // The entry moved into the hole may belong above or below it.
            let moved = self.heap[position];
            if position > 0 && moved.before(&self.heap[(position - 1) / ARITY]) {
                self.sift_up(position, moved);
            } else {
                self.sift_down(position, moved);
            }
        }
        let slot = &mut self.slots[removed.slot as usize];
        slot.position = NOWHERE;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(removed.slot);
        slot.value.take().expect("a heap entry always has a value")
    }

    /// Puts `entry` at `position` and records it in its slot.
    #[inline]
    fn place(&mut self, position: usize, entry: HeapEntry) {
        self.heap[position] = entry;
        self.slots[entry.slot as usize].position = position as u32;
    }

    /// Moves `entry`, whose place is the hole at `position`, up to where it belongs.
    fn sift_up(&mut self, mut position: usize, entry: HeapEntry) {
        while position > 0 {
            let parent = (position - 1) / ARITY;
            let above = self.heap[parent];
            if !entry.before(&above) {
                break;
            }
            self.place(position, above);
            position = parent;
        }
        self.place(position, entry);
    }

    /// Moves `entry`, whose place is the hole at `position`, down to where it belongs.
    fn sift_down(&mut self, mut position: usize, entry: HeapEntry) {
        let len = self.heap.len();
        let key = entry.key();
        loop {
            let first = ARITY * position + 1;
            if first >= len {
                break;
            }
            let children = &self.heap[first..(first + ARITY).min(len)];
            let (mut child, mut least) = (0, children[0].key());
            for (offset, candidate) in children.iter().enumerate().skip(1) {
                let candidate = candidate.key();
                if candidate < least {
                    (child, least) = (offset, candidate);
                }
            }
            if least >= key {
                break;
            }
            let below = children[child];
            self.place(position, below);
            position = first + child;
        }
        self.place(position, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_fifo_for_ties() {
        let start = Instant::now();
        let mut heap = TimerHeap::new();
        for (i, ms) in [30u64, 10, 20, 10, 0].into_iter().enumerate() {
            heap.insert(start + Duration::from_millis(ms), i);
        }
        let order: Vec<_> =
            std::iter::from_fn(|| heap.pop_expired(start + Duration::from_secs(1))).collect();
        assert_eq!(order, vec![4, 1, 3, 2, 0]);
        assert!(heap.is_empty());
    }

    #[test]
    fn ties_stay_first_in_first_out_through_many_levels() {
        let start = Instant::now();
        let mut heap = TimerHeap::new();
        // Two deadlines, interleaved: 300 timers fill five levels of four children.
        for i in 0..300u32 {
            heap.insert(start + Duration::from_millis(u64::from(i % 2)), i);
        }
        let order: Vec<_> =
            std::iter::from_fn(|| heap.pop_expired(start + Duration::from_secs(1))).collect();
        let expected: Vec<_> = (0..300).step_by(2).chain((1..300).step_by(2)).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn not_expired_stays() {
        let start = Instant::now();
        let mut heap = TimerHeap::new();
        heap.insert(start + Duration::from_secs(10), ());
        assert_eq!(heap.pop_expired(start), None);
        assert_eq!(heap.next_deadline(), Some(start + Duration::from_secs(10)));
    }

    #[test]
    fn remove_by_key_keeps_heap_valid() {
        let start = Instant::now();
        let mut heap = TimerHeap::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut keys = Vec::new();
        for i in 0..2000u64 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            keys.push((
                heap.insert(start + Duration::from_micros(state % 100_000), i),
                i,
            ));
        }
        let mut removed = std::collections::HashSet::new();
        for (n, (key, value)) in keys.iter().enumerate() {
            if n % 3 == 0 {
                assert_eq!(heap.remove(*key), Some(*value));
                removed.insert(*value);
            }
        }
        assert_eq!(heap.remove(keys[0].0), None, "a removed key is dead");
        let mut last = start;
        let mut count = 0;
        while let Some(deadline) = heap.next_deadline() {
            assert!(deadline >= last);
            last = deadline;
            let value = heap.pop_expired(deadline).unwrap();
            assert!(!removed.contains(&value));
            count += 1;
        }
        assert_eq!(count, 2000 - removed.len());
    }

    #[test]
    fn shifting_earlier_keeps_order_and_keys() {
        let start = Instant::now();
        let mut heap = TimerHeap::new();
        let keys: Vec<_> = [50u64, 10, 30, 20]
            .into_iter()
            .map(|s| heap.insert(start + Duration::from_secs(s), s))
            .collect();
        heap.shift_earlier(Duration::from_secs(25), start);
        assert_eq!(heap.next_deadline(), Some(start));
        assert_eq!(heap.remove(keys[2]), Some(30));
        let order: Vec<_> =
            std::iter::from_fn(|| heap.pop_expired(start + Duration::from_secs(60))).collect();
        assert_eq!(order, vec![10, 20, 50]);
    }

    #[test]
    fn deadlines_before_the_heap_was_made_are_due_first_in_first_out() {
        let earlier = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let mut heap = TimerHeap::new();
        let now = Instant::now();
        heap.insert(now + Duration::from_millis(5), "later");
        heap.insert(earlier + Duration::from_millis(1), "past, first in");
        heap.insert(earlier, "past, second in");
        assert_eq!(
            heap.next_deadline(),
            Some(earlier + Duration::from_millis(1))
        );
        let order: Vec<_> =
            std::iter::from_fn(|| heap.pop_expired(now + Duration::from_secs(1))).collect();
        assert_eq!(order, vec!["past, first in", "past, second in", "later"]);
    }

    #[test]
    fn stale_key_does_not_remove_reused_slot() {
        let now = Instant::now();
        let mut heap = TimerHeap::new();
        let first = heap.insert(now, 1);
        assert_eq!(heap.pop_expired(now), Some(1));
        let second = heap.insert(now, 2);
        assert_eq!(heap.remove(first), None);
        assert_eq!(heap.remove(second), Some(2));
    }
}
