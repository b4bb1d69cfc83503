//! PostgreSQL 15's SQL keywords, as `pg_get_keywords()` lists them.
//!
//! `keywords.txt` holds one keyword a line: the word, its category
//! (`U` unreserved, `C` unreserved but not a function or type name, `T`
//! reserved but allowed as a function or type name, `R` reserved) and
//! whether it may be a bare column label (`bare`) or requires `AS` (`as`).
//! It is PostgreSQL's grammar, so it is data recorded from PostgreSQL 15,
//! not computed.

use std::sync::LazyLock;

/// One keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub word: &'static str,
    pub category: char,
    pub bare_label: bool,
}

const KEYWORDS_TEXT: &str = include_str!("keywords.txt");

/// Every keyword, in alphabetical order.
pub static KEYWORDS: LazyLock<Vec<Keyword>> = LazyLock::new(|| {
    KEYWORDS_TEXT
        .lines()
        .filter_map(|line| {
            let mut parts = line.split(' ');
            let word = parts.next()?;
            let category = parts.next()?.chars().next()?;
            let bare_label = parts.next()? == "bare";
            Some(Keyword {
                word,
                category,
                bare_label,
            })
        })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_postgresql_15s() {
        assert_eq!(KEYWORDS.len(), 460);
        assert!(KEYWORDS.windows(2).all(|w| w[0].word < w[1].word));
        let select = KEYWORDS.iter().find(|k| k.word == "select").unwrap();
        assert_eq!((select.category, select.bare_label), ('R', true));
        assert!(KEYWORDS.iter().all(|k| "UCTR".contains(k.category)));
    }
}
