//! A growable set of dense `u32` ids, one bit each.
//!
//! Membership is one shift and one mask; the length is kept alongside so `len` is O(1) too.
//! The set grows to the largest id inserted and never shrinks: `clear` keeps the words, so a
//! set that is emptied and refilled (every reconnect) does not allocate again. Memory is one bit
//! per id up to the largest, so ids must be dense (interned), not hashes.

/// A set of `u32` ids backed by `u64` words.
#[derive(Debug, Clone, Default)]
pub struct BitSet {
    words: Vec<u64>,
    len: usize,
}

const fn locate(id: u32) -> (usize, u64) {
    ((id / 64) as usize, 1 << (id % 64))
}

impl BitSet {
    /// An empty set that allocates nothing until the first insert.
    #[must_use]
    pub const fn new() -> Self {
        Self { words: Vec::new(), len: 0 }
    }

    /// Adds `id`, growing the set if needed; returns whether it was absent.
    pub fn insert(&mut self, id: u32) -> bool {
        let (word, mask) = locate(id);
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        let absent = self.words[word] & mask == 0;
        self.words[word] |= mask;
        self.len += usize::from(absent);
        absent
    }

    /// Removes `id`; returns whether it was present.
    pub fn remove(&mut self, id: u32) -> bool {
        let (word, mask) = locate(id);
        let Some(bits) = self.words.get_mut(word) else {
            return false;
        };
        let present = *bits & mask != 0;
        *bits &= !mask;
        self.len -= usize::from(present);
        present
    }

    /// Inserts or removes `id` so that its membership is `present`.
    pub fn set(&mut self, id: u32, present: bool) {
        if present {
            self.insert(id);
        } else {
            self.remove(id);
        }
    }

    /// Whether `id` is in the set.
    #[must_use]
    pub fn contains(&self, id: u32) -> bool {
        let (word, mask) = locate(id);
        self.words.get(word).is_some_and(|bits| bits & mask != 0)
    }

    /// Number of ids in the set.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the set holds no id.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every id, keeping the allocation.
    pub fn clear(&mut self) {
        self.words.fill(0);
        self.len = 0;
    }

    /// The ids in ascending order.
    #[must_use]
    pub fn iter(&self) -> BitSetIter<'_> {
        let mut words = self.words.iter();
        let word = words.next().copied().unwrap_or(0);
        BitSetIter { words, word, base: 0 }
    }
}

impl<'a> IntoIterator for &'a BitSet {
    type Item = u32;
    type IntoIter = BitSetIter<'a>;

    fn into_iter(self) -> BitSetIter<'a> {
        self.iter()
    }
}

impl FromIterator<u32> for BitSet {
    fn from_iter<I: IntoIterator<Item = u32>>(ids: I) -> Self {
        let mut set = Self::new();
        for id in ids {
            set.insert(id);
        }
        set
    }
}

/// Iterator over a [`BitSet`]'s ids in ascending order.
#[derive(Debug, Clone)]
pub struct BitSetIter<'a> {
    words: std::slice::Iter<'a, u64>,
    /// Bits of the current word not yet returned.
    word: u64,
    /// Id of bit 0 of the current word; at most `u32::MAX - 63`, since ids are `u32`.
    base: u32,
}

impl Iterator for BitSetIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while self.word == 0 {
            self.word = *self.words.next()?;
            self.base += 64;
        }
        let bit = self.word.trailing_zeros();
        self.word &= self.word - 1;
        Some(self.base + bit)
    }
}

#[cfg(test)]
mod tests {
    use super::BitSet;

    #[test]
    fn insert_remove_contains_and_len() {
        let mut set = BitSet::new();
        assert!(set.is_empty());
        assert!(!set.contains(0));
        assert!(!set.remove(7), "removing from an empty set is a no-op");
        assert!(set.insert(3));
        assert!(!set.insert(3), "a second insert reports the id as present");
        assert!(set.insert(64));
        assert!(set.insert(1000));
        assert_eq!(set.len(), 3);
        assert!(set.contains(3) && set.contains(64) && set.contains(1000));
        assert!(!set.contains(4) && !set.contains(65) && !set.contains(100_000));
        assert!(set.remove(64));
        assert!(!set.remove(64));
        assert_eq!(set.len(), 2);
        set.set(5, true);
        set.set(3, false);
        set.set(1_000_000, false);
        assert_eq!(set.iter().collect::<Vec<_>>(), [5, 1000]);
    }

    #[test]
    fn iterates_in_order_across_words_and_at_the_edges() {
        let ids = [0, 1, 63, 64, 127, 128, 4095, 1 << 20];
        let set: BitSet = ids.into_iter().rev().collect();
        assert_eq!(set.iter().collect::<Vec<_>>(), ids);
        assert_eq!(set.len(), ids.len());
    }

    #[test]
    fn clear_empties_and_the_set_refills() {
        let mut set: BitSet = (0..200).collect();
        set.clear();
        assert!(set.is_empty());
        assert_eq!(set.iter().next(), None);
        assert!(set.insert(150));
        assert_eq!(set.iter().collect::<Vec<_>>(), [150]);
    }
}
