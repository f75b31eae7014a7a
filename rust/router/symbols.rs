//! The symbol interner: unified names such as `"BTC/USDT"` to dense [`Symbol`] ids and back.
//!
//! Invariant: ids are handed out in order from 0 and never change, so every [`Symbol`] a table
//! minted satisfies `symbol.index() < table.len() <= table.capacity()`. The capacity is fixed
//! at construction so that tables indexed by symbol can be sized once and never grow.

use std::collections::HashMap;

use super::RouterError;

/// A dense id for an interned symbol name; only a [`SymbolTable`] creates one.
///
/// An id is meaningful only to the table that minted it (and to tables sized by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(u32);

impl Symbol {
    /// The id as an index, below the minting table's [`len`](SymbolTable::len).
    #[must_use]
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Interns symbol names into [`Symbol`] ids, densely from 0, up to a fixed capacity.
#[derive(Debug, Clone)]
pub struct SymbolTable {
    ids: HashMap<Box<str>, Symbol>,
    names: Vec<Box<str>>,
    capacity: usize,
}

impl SymbolTable {
    /// An empty table that will hold at most `capacity` symbols.
    ///
    /// # Panics
    ///
    /// If `capacity` exceeds `u32::MAX`, the number of distinct ids.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(u32::try_from(capacity).is_ok(), "symbol capacity {capacity} exceeds u32::MAX");
        Self { ids: HashMap::with_capacity(capacity), names: Vec::with_capacity(capacity), capacity }
    }

    /// The symbol for `name`, interning it if it is new; interning a name twice gives the same
    /// symbol.
    ///
    /// # Errors
    ///
    /// [`RouterError::SymbolTableFull`] if `name` is new and the table already holds
    /// [`capacity`](Self::capacity) symbols.
    pub fn intern(&mut self, name: &str) -> Result<Symbol, RouterError> {
        if let Some(&symbol) = self.ids.get(name) {
            return Ok(symbol);
        }
        if self.names.len() == self.capacity {
            return Err(RouterError::SymbolTableFull { capacity: self.capacity, name: name.into() });
        }
        #[expect(clippy::cast_possible_truncation, reason = "len < capacity <= u32::MAX (with_capacity)")]
        let symbol = Symbol(self.names.len() as u32);
        self.ids.insert(name.into(), symbol);
        self.names.push(name.into());
        Ok(symbol)
    }

    /// The symbol for `name`, if it was interned.
    #[must_use]
    #[inline]
    pub fn get(&self, name: &str) -> Option<Symbol> {
        self.ids.get(name).copied()
    }

    /// The name `symbol` was interned from.
    ///
    /// # Panics
    ///
    /// If `symbol` came from a table holding more symbols than this one.
    #[must_use]
    pub fn name(&self, symbol: Symbol) -> &str {
        &self.names[symbol.index()]
    }

    /// How many symbols are interned.
    #[must_use]
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no symbol is interned yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The most symbols this table will ever hold; every id is below it.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_idempotent_and_dense() {
        let mut table = SymbolTable::with_capacity(8);
        let names = ["BTC/USDT", "ETH/USDT", "SOL/USDT"];
        let symbols: Vec<Symbol> = names.iter().map(|name| table.intern(name).unwrap()).collect();

        assert_eq!(symbols.iter().map(|s| s.index()).collect::<Vec<_>>(), [0, 1, 2]);
        for (name, &symbol) in names.iter().zip(&symbols) {
            assert_eq!(table.intern(name).unwrap(), symbol);
            assert_eq!(table.get(name), Some(symbol));
            assert_eq!(table.name(symbol), *name);
        }
        assert_eq!(table.len(), 3);
        assert_eq!(table.get("XRP/USDT"), None);
    }

    #[test]
    fn a_full_table_refuses_new_names_but_finds_old_ones() {
        let mut table = SymbolTable::with_capacity(2);
        let btc = table.intern("BTC/USDT").unwrap();
        table.intern("ETH/USDT").unwrap();

        assert_eq!(
            table.intern("SOL/USDT"),
            Err(RouterError::SymbolTableFull { capacity: 2, name: "SOL/USDT".into() })
        );
        assert_eq!(table.intern("BTC/USDT"), Ok(btc));
        assert_eq!(table.len(), 2);
        assert_eq!(table.get("SOL/USDT"), None);
    }

    #[test]
    fn a_zero_capacity_table_is_always_full() {
        let mut table = SymbolTable::with_capacity(0);
        assert!(table.is_empty());
        assert!(matches!(table.intern("BTC/USDT"), Err(RouterError::SymbolTableFull { capacity: 0, .. })));
    }
}
