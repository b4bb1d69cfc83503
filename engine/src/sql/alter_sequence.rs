//! `ALTER SEQUENCE [IF EXISTS] name [AS type] [options] [RESTART [[WITH] n]]
//! [OWNED BY t.c | NONE]`.
//!
//! Our parser does not read ALTER SEQUENCE, so this module does: the
//! options are CREATE SEQUENCE's (parsed by handing them to the parser as
//! one), RESTART is taken out first. The statement travels as a
//! `Statement::CreateSequence` whose name starts with [`ALTER_MARKER`] and
//! a part carrying the RESTART clause — a private encoding between
//! [`parse`] and [`run`], like cursor's MOVE marker.
//!
//! The new definition is a catalog change (transactional); a RESTART sets
//! the position at once, like `setval` (never rolled back). Left out:
//! RENAME TO, OWNER TO and SET SCHEMA (0A000).

use datafusion::sql::sqlparser::ast::{
    DataType as AstType, Ident, ObjectName, ObjectNamePart, SequenceOptions, Statement,
};
use kimberlite_catalog::{CatalogChange, SequenceValue};

use super::ddl::{catalog_change, current_catalog};
use super::sequence::{column_owner, define_over};
use super::{Outcome, Session};
use crate::error::{EngineError, EngineResult};

/// The first name part of an ALTER SEQUENCE in disguise.
const ALTER_MARKER: &str = "kimberlite alter sequence";

/// Reads ALTER SEQUENCE; `None` when `sql` is something else.
pub fn parse(sql: &str) -> Option<EngineResult<Statement>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let mut words = text.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("ALTER")
        || !words.next()?.eq_ignore_ascii_case("SEQUENCE")
    {
        return None;
    }
    if text.contains(';') {
        return None; // several statements: leave it to the parser's errors
    }
    Some(parse_alter(text))
}

fn parse_alter(text: &str) -> EngineResult<Statement> {
    let rest = text["ALTER".len()..].trim_start()["SEQUENCE".len()..].trim_start();
    let (if_exists, rest) = match rest.get(..9) {
        Some(prefix) if prefix.eq_ignore_ascii_case("IF EXISTS") => (true, rest[9..].trim_start()),
        _ => (false, rest),
    };
    for unsupported in ["RENAME", "OWNER", "SET"] {
        let upper = rest.to_ascii_uppercase();
        if upper.split_whitespace().nth(1) == Some(unsupported) {
            return Err(EngineError::FeatureNotSupported(format!(
                "ALTER SEQUENCE … {unsupported} is not supported yet"
            )));
        }
    }
    // Take RESTART [[WITH] n] out: CREATE SEQUENCE has no such option.
    let mut kept = Vec::new();
    let mut restart = String::new();
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].eq_ignore_ascii_case("RESTART") {
            let mut j = i + 1;
            if tokens
                .get(j)
                .is_some_and(|t| t.eq_ignore_ascii_case("WITH"))
            {
                j += 1;
            }
            match tokens.get(j).filter(|t| t.parse::<i64>().is_ok()) {
                Some(n) => {
                    restart = format!("restart={n}");
                    i = j + 1;
                }
                None => {
                    restart = "restart".into();
                    i = j;
                }
            }
            continue;
        }
        kept.push(tokens[i]);
        i += 1;
    }
    let statements = super::parse(&format!("CREATE SEQUENCE {}", kept.join(" ")))?;
    let Some(Statement::CreateSequence {
        name,
        data_type,
        sequence_options,
        owned_by,
        ..
    }) = statements.into_iter().next()
    else {
        return Err(EngineError::Syntax("syntax error in ALTER SEQUENCE".into()));
    };
    let mut parts = vec![
        ObjectNamePart::Identifier(Ident::new(ALTER_MARKER)),
        ObjectNamePart::Identifier(Ident::new(restart)),
    ];
    parts.extend(name.0);
    Ok(Statement::CreateSequence {
        temporary: false,
        if_not_exists: if_exists,
        name: ObjectName(parts),
        data_type,
        sequence_options,
        owned_by,
    })
}

/// An ALTER SEQUENCE that [`parse`] disguised: the restart clause and the
/// real name, or `None` for a genuine CREATE SEQUENCE.
pub fn disguised(name: &ObjectName) -> Option<(Option<Option<i64>>, ObjectName)> {
    let marker = name.0.first()?.as_ident()?;
    if marker.value != ALTER_MARKER {
        return None;
    }
    let restart = match name.0.get(1)?.as_ident()?.value.as_str() {
        "" => None,
        "restart" => Some(None),
        spec => Some(spec.strip_prefix("restart=").and_then(|n| n.parse().ok())),
    };
    Some((restart, ObjectName(name.0[2..].to_vec())))
}

pub(super) fn run(
    session: &mut Session,
    if_exists: bool,
    name: &ObjectName,
    restart: Option<Option<i64>>,
    data_type: Option<&AstType>,
    options: &[SequenceOptions],
    owned_by: Option<&ObjectName>,
) -> EngineResult<Outcome> {
    let name = session.resolve(name)?;
    let tag = Outcome::Command {
        tag: "ALTER SEQUENCE".into(),
    };
    let catalog = current_catalog(session);
    let Some(old) = catalog.sequence(&name).cloned() else {
        if if_exists {
            session.notice(
                "NOTICE",
                "00000",
                format!("relation \"{name}\" does not exist, skipping"),
            );
            return Ok(tag);
        }
        if catalog.table(&name).is_some() {
            return Err(EngineError::WrongObjectType(format!(
                "\"{name}\" is not a sequence"
            )));
        }
        return Err(EngineError::UndefinedTable(name));
    };
    let data_type = match data_type {
        Some(t) => super::types::sql_type_from_ast(t)?,
        None => old.data_type,
    };
    let owner = match owned_by {
        None => old.owned_by,
        Some(owner) if owner.to_string().eq_ignore_ascii_case("none") => None,
        Some(owner) => Some(column_owner(&catalog, owner)?),
    };
    let def = define_over(
        Some(&old),
        old.id,
        old.name.clone(),
        data_type,
        options,
        owner,
    )?;
    if let Some(restart) = restart {
        let value = restart.unwrap_or(def.start);
        if value < def.min_value {
            return Err(EngineError::InvalidParameterValue(format!(
                "RESTART value ({value}) cannot be less than MINVALUE ({})",
                def.min_value
            )));
        }
        if value > def.max_value {
            return Err(EngineError::InvalidParameterValue(format!(
                "RESTART value ({value}) cannot be greater than MAXVALUE ({})",
                def.max_value
            )));
        }
        session.engine.sequences.lock().setval(
            &std::sync::Arc::new(def.clone()),
            SequenceValue {
                last_value: value,
                is_called: false,
            },
        );
    }
    if def != *old {
        catalog_change(session, CatalogChange::AlterSequence(def))?;
    }
    Ok(tag)
}
