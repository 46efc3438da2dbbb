//! A set of states as a bitset over document order.
//!
//! Because [`StateId`] is document order, iterating the set yields states in
//! document order, and "the descendants of `s`" is the contiguous id range
//! `s+1 .. s.descendants_end`, so tests such as "is any descendant of `s`
//! active" are a masked scan of a few words.

use crate::document::StateId;

/// A set of states of one document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StateSet {
    words: Vec<u64>,
}

impl StateSet {
    /// An empty set able to hold `len` states.
    pub(crate) fn with_capacity(len: usize) -> Self {
        StateSet {
            words: vec![0; len.div_ceil(64)],
        }
    }

    pub(crate) fn insert(&mut self, id: StateId) {
        let i = id.index();
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn remove(&mut self, id: StateId) {
        let i = id.index();
        self.words[i / 64] &= !(1 << (i % 64));
    }

    pub(crate) fn contains(&self, id: StateId) -> bool {
        let i = id.index();
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn clear(&mut self) {
        self.words.iter_mut().for_each(|w| *w = 0);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Whether any state with an id in `start..end` is in the set.
    pub(crate) fn any_in_range(&self, start: StateId, end: StateId) -> bool {
        range_masks(start, end).any(|(w, mask)| self.words[w] & mask != 0)
    }

    /// Adds the members of `other` that lie in `start..end` to `self`.
    pub(crate) fn union_range_of(&mut self, other: &StateSet, start: StateId, end: StateId) {
        for (w, mask) in range_masks(start, end) {
            self.words[w] |= other.words[w] & mask;
        }
    }

    /// Members in ascending document order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = StateId> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| Bits(word).map(move |b| StateId((w * 64 + b) as u32)))
    }

    /// Members in descending document order (exit order).
    pub(crate) fn iter_rev(&self) -> impl Iterator<Item = StateId> + '_ {
        self.words
            .iter()
            .enumerate()
            .rev()
            .flat_map(|(w, &word)| Bits(word).rev().map(move |b| StateId((w * 64 + b) as u32)))
    }

    /// The raw words: bit `i % 64` of word `i / 64` is `StateId(i)`.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    pub(crate) fn copy_from(&mut self, other: &StateSet) {
        self.words.copy_from_slice(&other.words);
    }

    /// Makes `self` the members of `newer` that `self` lacks (`newer \ self`).
    pub(crate) fn become_added_in(&mut self, newer: &StateSet) {
        for (w, n) in self.words.iter_mut().zip(&newer.words) {
            *w = n & !*w;
        }
    }
}

/// The words covering ids `start..end`, each with the mask of the bits of
/// the range in it.
fn range_masks(start: StateId, end: StateId) -> impl Iterator<Item = (usize, u64)> {
    let (start, end) = (start.index(), end.index());
    let words = if start < end {
        start / 64..(end - 1) / 64 + 1
    } else {
        0..0
    };
    words.map(move |w| {
        let low = start.saturating_sub(w * 64).min(64);
        let high = (end - w * 64).min(64);
        let below_high = if high == 64 {
            u64::MAX
        } else {
            (1u64 << high) - 1
        };
        let from_low = if low == 64 { 0 } else { u64::MAX << low };
        (w, below_high & from_low)
    })
}

/// The set bits of one word, lowest first (or highest first in reverse).
struct Bits(u64);

impl Iterator for Bits {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let b = self.0.trailing_zeros() as usize;
        self.0 &= self.0 - 1;
        Some(b)
    }
}

impl DoubleEndedIterator for Bits {
    fn next_back(&mut self) -> Option<usize> {
        if self.0 == 0 {
            return None;
        }
        let b = 63 - self.0.leading_zeros() as usize;
        self.0 &= !(1u64 << b);
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u32], len: usize) -> StateSet {
        let mut s = StateSet::with_capacity(len);
        for &i in ids {
            s.insert(StateId(i));
        }
        s
    }

    #[test]
    fn become_added_in_keeps_what_the_newer_set_adds() {
        let mut before = set(&[1, 3, 70], 80);
        before.become_added_in(&set(&[3, 5, 70, 71], 80));
        assert_eq!(before.iter().map(|s| s.0).collect::<Vec<_>>(), [5, 71]);
    }

    #[test]
    fn iterates_in_both_orders() {
        let s = set(&[3, 64, 1, 130], 200);
        let fwd: Vec<u32> = s.iter().map(|i| i.0).collect();
        let rev: Vec<u32> = s.iter_rev().map(|i| i.0).collect();
        assert_eq!(fwd, vec![1, 3, 64, 130]);
        assert_eq!(rev, vec![130, 64, 3, 1]);
    }

    #[test]
    fn ranges_cross_word_boundaries() {
        let s = set(&[70], 200);
        assert!(s.any_in_range(StateId(60), StateId(71)));
        assert!(!s.any_in_range(StateId(60), StateId(70)));
        assert!(!s.any_in_range(StateId(71), StateId(200)));
        assert!(s.any_in_range(StateId(0), StateId(128)));
        let mut t = StateSet::with_capacity(200);
        t.union_range_of(&set(&[5, 70, 140], 200), StateId(6), StateId(141));
        assert_eq!(t.iter().map(|i| i.0).collect::<Vec<_>>(), vec![70, 140]);
        t.remove(StateId(70));
        let edges = set(&[63, 64], 128);
        assert!(edges.any_in_range(StateId(0), StateId(64)));
        assert!(edges.any_in_range(StateId(64), StateId(128)));
        assert!(!edges.any_in_range(StateId(0), StateId(63)));
        assert!(!edges.any_in_range(StateId(65), StateId(128)));
        assert!(!edges.any_in_range(StateId(64), StateId(64)));
        assert!(!t.contains(StateId(70)) && t.contains(StateId(140)));
    }
}
