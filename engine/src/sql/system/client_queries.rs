//! Statements that particular clients send verbatim, answered through an
//! equivalent statement we can plan.
//!
//! asyncpg introspects every type it does not know (arrays among them) with
//! one recursive query over `pg_type`. Its type-info subquery resolves
//! domains (a recursive CTE correlated inside a CASE), composite types
//! (correlated `array_agg`s over `pg_attribute`) and ranges — shapes
//! DataFusion cannot plan. Our catalog has no domains, no composite types
//! and no ranges (`pg_range` is empty, no `pg_type` row has `typtype` `d`
//! or `c`), so those columns are NULL for every row, and the recursion can
//! only follow element types. The equivalent below computes exactly that,
//! from the same `pg_type`, with the same columns, names and parameter
//! (`attrtypoids`, always NULL, is typed `text[]`, a type asyncpg decodes
//! without introspecting it, rather than PostgreSQL's `oid[]`).
//! When the catalog gains domains, composites or ranges, this must grow
//! with it (the asyncpg test in `test_asyncpg.py` introspects each type).

/// asyncpg's `INTRO_LOOKUP_TYPES` (and `_13`) as we can plan it.
const ASYNCPG_LOOKUP_TYPES: &str = "\
WITH RECURSIVE typeinfo_tree(
    oid, ns, name, kind, basetype, elemtype, elemdelim,
    range_subtype, attrtypoids, attrnames, depth)
AS (
    SELECT t.oid, ns.nspname, t.typname, t.typtype, NULL::oid AS basetype, t.typelem,
        elem_t.typdelim, NULL::oid AS range_subtype, NULL::text[] AS attrtypoids,
        NULL::text[] AS attrnames, 0
    FROM pg_catalog.pg_type AS t
        INNER JOIN pg_catalog.pg_namespace ns ON ns.oid = t.typnamespace
        LEFT JOIN pg_catalog.pg_type elem_t
            ON t.typlen = -1 AND t.typelem != 0 AND t.typelem = elem_t.oid
    WHERE t.oid = any($1::oid[])
    UNION ALL
    SELECT t.oid, ns.nspname, t.typname, t.typtype, NULL::oid AS basetype, t.typelem,
        elem_t.typdelim, NULL::oid AS range_subtype, NULL::text[] AS attrtypoids,
        NULL::text[] AS attrnames, tt.depth + 1
    FROM pg_catalog.pg_type AS t
        INNER JOIN pg_catalog.pg_namespace ns ON ns.oid = t.typnamespace
        LEFT JOIN pg_catalog.pg_type elem_t
            ON t.typlen = -1 AND t.typelem != 0 AND t.typelem = elem_t.oid,
        typeinfo_tree tt
    WHERE tt.elemtype IS NOT NULL AND t.oid = tt.elemtype
)
SELECT DISTINCT *,
    basetype::regtype::text AS basetype_name,
    elemtype::regtype::text AS elemtype_name,
    range_subtype::regtype::text AS range_subtype_name
FROM typeinfo_tree
ORDER BY depth DESC";

/// The statement to plan instead of `sql`, when `sql` is one of the client
/// statements above.
pub fn equivalent(sql: &str) -> Option<&'static str> {
    let sql = sql.trim_start();
    let asyncpg = sql.starts_with("WITH RECURSIVE typeinfo_tree(")
        && sql.contains("ti.oid = any($1::oid[])")
        && sql.contains("FROM\n    typeinfo_tree\nORDER BY\n    depth DESC");
    asyncpg.then_some(ASYNCPG_LOOKUP_TYPES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asyncpgs_statement_is_replaced() {
        let asyncpg = "WITH RECURSIVE typeinfo_tree(\n    oid)\nAS (SELECT … WHERE\n        \
                       ti.oid = any($1::oid[]) …)\n\nSELECT DISTINCT\n    *\nFROM\n    \
                       typeinfo_tree\nORDER BY\n    depth DESC\n";
        assert_eq!(equivalent(asyncpg), Some(ASYNCPG_LOOKUP_TYPES));
        assert_eq!(equivalent("SELECT 1"), None);
        assert_eq!(
            equivalent("WITH RECURSIVE typeinfo_tree(x) AS (SELECT 1) SELECT * FROM typeinfo_tree"),
            None
        );
    }
}
