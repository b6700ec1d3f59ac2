//! Every distinct string the calls carry, interned once.

use std::collections::HashMap;

/// An interned string: an index into [`Names`]. 0 is `(none)`.
pub(crate) type Sym = u32;

/// The value of a dimension a call does not carry.
pub(crate) const NONE: Sym = 0;

/// Every distinct string the calls carry, once: calls hold indices, so a long log costs a few
/// machine words a call, not a copy of each id.
pub(crate) struct Names {
    index: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Default for Names {
    fn default() -> Self {
        let mut names = Self {
            index: HashMap::new(),
            names: Vec::new(),
        };
        names.intern("(none)");
        names
    }
}

impl Names {
    /// The symbol of `name`, interned the first time it is seen.
    pub(crate) fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.index.get(name) {
            return sym;
        }
        let sym = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        self.names.push(name.into());
        self.index.insert(name.into(), sym);
        sym
    }

    /// The symbol of a value a call may lack or carry empty: [`NONE`] then.
    pub(super) fn opt(&mut self, name: Option<&str>) -> Sym {
        name.filter(|n| !n.is_empty())
            .map_or(NONE, |n| self.intern(n))
    }

    /// The symbol of `name`, when some call carries it.
    pub(crate) fn lookup(&self, name: &str) -> Option<Sym> {
        self.index.get(name).copied()
    }

    /// The string of `sym`.
    pub(crate) fn get(&self, sym: Sym) -> &str {
        self.names.get(sym as usize).map_or("(none)", |n| n)
    }
}
