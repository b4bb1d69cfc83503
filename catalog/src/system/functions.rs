//! The built-in functions `pg_proc` lists.
//!
//! Clients look functions up by name (`'lower'::regproc`, psql's `\df`,
//! JDBC's `getFunctions`), so `pg_proc` must hold a row for each function
//! a statement can call, with PostgreSQL's OID and signature. We have no
//! user-defined functions, so every row is a built-in: `functions.txt` is
//! PostgreSQL 15's `pg_proc` rows (in `pg_catalog`) for the function names
//! our sessions register, keeping only the signatures whose argument and
//! result types we have (no `lower(anyrange)`: we have no ranges). It is
//! data recorded from PostgreSQL 15, one signature a line:
//!
//! `oid|name|kind|returns set|volatility|strict|variadic|result|arguments`
//!
//! The engine checks that every name here is callable (a test over a
//! session's function registry).

use std::sync::LazyLock;

/// One built-in function signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinFunction {
    pub oid: u32,
    pub name: &'static str,
    /// `f` function, `a` aggregate, `w` window.
    pub kind: char,
    pub returns_set: bool,
    /// `i` immutable, `s` stable, `v` volatile.
    pub volatility: char,
    pub strict: bool,
    /// The last argument is `VARIADIC`.
    pub variadic: bool,
    /// The result type's OID.
    pub result: u32,
    /// The argument types' OIDs.
    pub arguments: Vec<u32>,
}

const FUNCTIONS_TEXT: &str = include_str!("functions.txt");

fn flag(text: &str) -> Option<bool> {
    match text {
        "t" => Some(true),
        "f" => Some(false),
        _ => None,
    }
}

fn parse(line: &'static str) -> Option<BuiltinFunction> {
    let fields: Vec<&'static str> = line.split('|').collect();
    let [oid, name, kind, returns_set, volatility, strict, variadic, result, arguments] =
        fields.as_slice()
    else {
        return None;
    };
    Some(BuiltinFunction {
        oid: oid.parse().ok()?,
        name,
        kind: kind.chars().next()?,
        returns_set: flag(returns_set)?,
        volatility: volatility.chars().next()?,
        strict: flag(strict)?,
        variadic: flag(variadic)?,
        result: result.parse().ok()?,
        arguments: arguments
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?,
    })
}

/// Every built-in function signature, by name then OID.
pub static FUNCTIONS: LazyLock<Vec<BuiltinFunction>> = LazyLock::new(|| {
    let functions: Vec<BuiltinFunction> = FUNCTIONS_TEXT.lines().filter_map(parse).collect();
    assert_eq!(
        functions.len(),
        FUNCTIONS_TEXT.lines().count(),
        "every line of functions.txt parses"
    );
    functions
});

/// The signature whose OID is `oid`.
pub fn function_by_oid(oid: u32) -> Option<&'static BuiltinFunction> {
    FUNCTIONS.iter().find(|f| f.oid == oid)
}

/// The signatures called `name`.
pub fn functions_named(name: &str) -> impl Iterator<Item = &'static BuiltinFunction> + '_ {
    FUNCTIONS.iter().filter(move |f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rows_are_postgresql_15s() {
        let lower = function_by_oid(870).unwrap();
        assert_eq!(
            (lower.name, lower.result, lower.arguments.as_slice()),
            ("lower", 25, &[25][..])
        );
        let count: Vec<_> = functions_named("count").map(|f| f.oid).collect();
        assert_eq!(count, vec![2147, 2803]);
        assert!(functions_named("count").all(|f| f.kind == 'a'));
        let concat = function_by_oid(3058).unwrap();
        assert!(concat.variadic && concat.arguments == [2276]);
        assert!(functions_named("generate_series").all(|f| f.returns_set));
        // OIDs are unique and every type is one `pg_type` lists.
        let mut oids: Vec<u32> = FUNCTIONS.iter().map(|f| f.oid).collect();
        oids.sort_unstable();
        oids.dedup();
        assert_eq!(oids.len(), FUNCTIONS.len());
        for f in FUNCTIONS.iter() {
            for t in f.arguments.iter().chain([&f.result]) {
                assert!(
                    super::super::type_name(*t).is_some(),
                    "{}: type {t}",
                    f.name
                );
            }
        }
    }
}
