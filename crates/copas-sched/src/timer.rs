//! A binary min-heap of deadlines whose entries can be removed by handle.
//!
//! Sleeps are pushed and popped in order, but socket timeouts are mostly cancelled
//! before they fire (the data arrives first). A plain `BinaryHeap` with lazy deletion
//! would pile up millions of dead entries under load; here every entry remembers its
//! position, so removal is `O(log n)` and the heap only ever holds live timers.
//!
//! Each entry is ordered by one integer, its deadline in nanoseconds after the heap
//! was made and its insertion number: comparing two `(Instant, u64)` pairs was a
//! function call and most of the cost of a timer wakeup. Sifting moves a hole instead
//! of swapping, so each level writes one entry and one position.

use std::time::{Duration, Instant};

/// Handle of a timer in a [`TimerHeap`], valid until the timer fires or is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerKey {
    slot: u32,
    generation: u32,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    /// Position in `heap` while the timer is live.
    position: Option<usize>,
    value: Option<T>,
}

#[derive(Debug, Clone, Copy)]
struct HeapEntry {
    /// Nanoseconds from the heap's `origin` to the deadline (0 for a deadline before
    /// it: already due, and then first-in first-out) above the insertion number, so
    /// timers with equal deadlines fire first-in first-out.
    order: u128,
    deadline: Instant,
    slot: u32,
}

impl HeapEntry {
    #[inline]
    fn before(&self, other: &HeapEntry) -> bool {
        self.order < other.order
    }
}

/// The ordering key of `deadline` with insertion number `sequence`: nanoseconds after
/// `origin` (a u64 of them lasts 584 years) above the number.
fn order(origin: Instant, deadline: Instant, sequence: u64) -> u128 {
    let nanos = deadline.saturating_duration_since(origin).as_nanos();
    (nanos.min(u128::from(u64::MAX)) << 64) | u128::from(sequence)
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
                    position: None,
                    value: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let position = self.heap.len();
        let entry = &mut self.slots[slot as usize];
        entry.value = Some(value);
        entry.position = Some(position);
        let key = TimerKey {
            slot,
            generation: entry.generation,
        };
        self.sequence += 1;
        let entry = HeapEntry {
            order: order(self.origin, deadline, self.sequence),
            deadline,
            slot,
        };
        self.heap.push(entry);
        self.sift_up(position, entry);
        key
    }

    /// Removes a live timer, returning its value; `None` if it already fired or was removed.
    pub fn remove(&mut self, key: TimerKey) -> Option<T> {
        let slot = self.slots.get(key.slot as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let position = slot.position?;
        Some(self.remove_at(position))
    }

    /// The earliest deadline, if any timer is live.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.first().map(|entry| entry.deadline)
    }

    /// Removes and returns the earliest timer if its deadline is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<T> {
        match self.heap.first() {
            Some(entry) if entry.deadline <= now => Some(self.remove_at(0)),
            _ => None,
        }
    }

    /// Moves every deadline `by` earlier, none before `floor`. Deadlines clamped to
    /// `floor` tie, and ties go by insertion order, so the heap is rebuilt (sorted).
    pub fn shift_earlier(&mut self, by: Duration, floor: Instant) {
        let origin = self.origin;
        for entry in &mut self.heap {
            entry.deadline = entry
                .deadline
                .checked_sub(by)
                .map_or(floor, |shifted| shifted.max(floor));
            entry.order = order(origin, entry.deadline, entry.order as u64);
        }
        self.heap.sort_unstable_by_key(|entry| entry.order);
        for (position, entry) in self.heap.iter().enumerate() {
            self.slots[entry.slot as usize].position = Some(position);
        }
    }

    fn remove_at(&mut self, position: usize) -> T {
        let removed = self.heap.swap_remove(position);
        if position < self.heap.len() {
            // The entry moved into the hole may belong above or below it.
            let moved = self.heap[position];
            if position > 0 && moved.before(&self.heap[(position - 1) / 2]) {
                self.sift_up(position, moved);
            } else {
                self.sift_down(position, moved);
            }
        }
        let slot = &mut self.slots[removed.slot as usize];
        slot.position = None;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(removed.slot);
        slot.value.take().expect("a heap entry always has a value")
    }

    /// Puts `entry` at `position` and records it in its slot.
    #[inline]
    fn place(&mut self, position: usize, entry: HeapEntry) {
        self.heap[position] = entry;
        self.slots[entry.slot as usize].position = Some(position);
    }

    /// Moves `entry`, whose place is the hole at `position`, up to where it belongs.
    fn sift_up(&mut self, mut position: usize, entry: HeapEntry) {
        while position > 0 {
            let parent = (position - 1) / 2;
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
        loop {
            let left = 2 * position + 1;
            if left >= len {
                break;
            }
            let right = left + 1;
            let child = if right < len && self.heap[right].before(&self.heap[left]) {
                right
            } else {
                left
            };
            let below = self.heap[child];
            if !below.before(&entry) {
                break;
            }
            self.place(position, below);
            position = child;
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
