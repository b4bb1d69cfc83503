//! Derived OIDs (see the module above for why they are derived).
//!
//! Ranges, so no two kinds collide: built-in objects below 16384 (as in
//! PostgreSQL); relations (tables, views, sequences, indexes) from 16384;
//! column defaults from `0x1000_0000`; constraints from `0x2000_0000`;
//! indexes backing PRIMARY KEY/UNIQUE constraints from `0x3000_0000`;
//! schemas from `0x4000_0000`; roles from `0x5000_0000`.

use crate::{DatabaseId, TableId, SUPERUSER};

/// PostgreSQL's first OID for user objects.
pub const FIRST_USER_OID: u32 = 16384;
pub const PG_CATALOG_NAMESPACE: u32 = 11;
pub const PUBLIC_NAMESPACE: u32 = 2200;
pub const INFORMATION_SCHEMA_NAMESPACE: u32 = 13_000;
/// The bootstrap superuser's OID in PostgreSQL.
pub const SUPERUSER_ROLE: u32 = 10;
/// PostgreSQL's predefined role that owns `public` (whoever owns the
/// database), and its OID.
pub const DATABASE_OWNER: &str = "pg_database_owner";
pub const DATABASE_OWNER_ROLE: u32 = 6171;
pub const HEAP_AM: u32 = 2;
pub const BTREE_AM: u32 = 403;
pub const DEFAULT_COLLATION: u32 = 100;

const ATTRDEF_BASE: u32 = 0x1000_0000;
const CONSTRAINT_BASE: u32 = 0x2000_0000;
const CONSTRAINT_INDEX_BASE: u32 = 0x3000_0000;
const NAMESPACE_BASE: u32 = 0x4000_0000;
const ROLE_BASE: u32 = 0x5000_0000;
/// Positions per table in the constraint ranges (the primary key is 0).
const PER_TABLE: u32 = 256;

/// A table's, view's, sequence's or index's OID.
pub fn relation(id: u64) -> u32 {
    FIRST_USER_OID + id as u32
}

/// The object id of a relation OID, if it is one of ours.
pub fn relation_id(oid: u32) -> Option<u64> {
    (FIRST_USER_OID..ATTRDEF_BASE)
        .contains(&oid)
        .then(|| (oid - FIRST_USER_OID) as u64)
}

/// The default of column `attnum` (1-based) of `table`.
pub fn attrdef(table: TableId, attnum: usize) -> u32 {
    ATTRDEF_BASE + table as u32 * 2048 + attnum as u32
}

/// Constraint `position` of `table`: 0 is the primary key, `k + 1` the
/// table's `constraints[k]`.
pub fn constraint(table: TableId, position: usize) -> u32 {
    CONSTRAINT_BASE + table as u32 * PER_TABLE + position as u32
}

/// (table, position) of a constraint OID.
pub fn constraint_parts(oid: u32) -> Option<(TableId, usize)> {
    (CONSTRAINT_BASE..CONSTRAINT_INDEX_BASE)
        .contains(&oid)
        .then(|| {
            let n = oid - CONSTRAINT_BASE;
            ((n / PER_TABLE) as TableId, (n % PER_TABLE) as usize)
        })
}

/// The index backing constraint `position` of `table`.
pub fn constraint_index(table: TableId, position: usize) -> u32 {
    CONSTRAINT_INDEX_BASE + table as u32 * PER_TABLE + position as u32
}

/// (table, position) of a constraint index OID.
pub fn constraint_index_parts(oid: u32) -> Option<(TableId, usize)> {
    (CONSTRAINT_INDEX_BASE..NAMESPACE_BASE)
        .contains(&oid)
        .then(|| {
            let n = oid - CONSTRAINT_INDEX_BASE;
            ((n / PER_TABLE) as TableId, (n % PER_TABLE) as usize)
        })
}

/// FNV-1a: a stable hash of a name (the same on every node and run).
fn name_hash(name: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.bytes() {
        hash ^= byte as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash & 0x0FFF_FFFF
}

/// A schema's OID.
pub fn namespace(name: &str) -> u32 {
    match name {
        "pg_catalog" => PG_CATALOG_NAMESPACE,
        "public" => PUBLIC_NAMESPACE,
        "information_schema" => INFORMATION_SCHEMA_NAMESPACE,
        _ => NAMESPACE_BASE | name_hash(name),
    }
}

/// A role's OID.
pub fn role(name: &str) -> u32 {
    if name == SUPERUSER {
        SUPERUSER_ROLE
    } else if name == DATABASE_OWNER {
        DATABASE_OWNER_ROLE
    } else {
        ROLE_BASE | name_hash(name)
    }
}

/// A database's OID: its id.
pub fn database(id: DatabaseId) -> u32 {
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_and_do_not_overlap() {
        assert_eq!(relation_id(relation(7)), Some(7));
        assert_eq!(constraint_parts(constraint(9, 3)), Some((9, 3)));
        assert_eq!(constraint_index_parts(constraint_index(9, 0)), Some((9, 0)));
        assert_eq!(relation_id(constraint(1, 0)), None);
        assert_eq!(constraint_parts(constraint_index(1, 0)), None);
        assert!(namespace("sales") >= NAMESPACE_BASE && namespace("sales") < ROLE_BASE);
        assert_eq!(namespace("sales"), namespace("sales"));
    }
}
