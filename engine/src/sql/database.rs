//! `CREATE DATABASE name [[WITH] option [=] value …]` and `DROP DATABASE
//! [IF EXISTS] name`.
//!
//! A database is a tenant with a catalog of its own (see
//! `kimberlite_catalog`'s `database` module): a session connected to one
//! sees only its objects, and its commands are sealed with its own keys.
//! Both statements are cluster-wide catalog changes, committed at once:
//! like PostgreSQL, they refuse to run inside a transaction block (25001).
//!
//! Our parser reads Snowflake's and MySQL's CREATE DATABASE, not
//! PostgreSQL's options, so this module reads the statement itself. It
//! travels as a `Statement::CreateDatabase` whose `location` carries the
//! OWNER — PostgreSQL has no LOCATION clause, and every CREATE DATABASE
//! our [`parse`] sees is read here, so the field is free (a private
//! encoding between [`parse`] and [`create`], like ALTER SEQUENCE's).
//!
//! Of the options, OWNER is recorded; TEMPLATE may name `template0` or
//! `template1` (a new database starts empty either way); ENCODING must be
//! UTF8; the locale, tablespace and connection options are accepted and
//! change nothing. DROP DATABASE refuses the database the session is in
//! and one other sessions are connected to (55006, PostgreSQL's words).

use datafusion::sql::sqlparser::ast::{Ident, ObjectName, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use kimberlite_catalog::{CatalogChange, DatabaseDef, DEFAULT_DATABASE_ID};

use super::{Outcome, Session};
use crate::error::{EngineError, EngineResult};
use crate::kernel::TxnCommand;

/// Options PostgreSQL 15's CREATE DATABASE takes (CONNECTION LIMIT is
/// read as one).
const OPTIONS: &[&str] = &[
    "owner",
    "template",
    "encoding",
    "strategy",
    "locale",
    "lc_collate",
    "lc_ctype",
    "icu_locale",
    "locale_provider",
    "collation_version",
    "tablespace",
    "allow_connections",
    "connection limit",
    "is_template",
    "oid",
];

/// What a CREATE DATABASE says.
#[derive(Debug, Clone, PartialEq)]
struct CreateDatabase {
    name: String,
    owner: Option<String>,
    template: Option<String>,
    encoding: Option<String>,
}

/// Reads a CREATE DATABASE that is the whole of `sql`; `None` for
/// anything else (several statements are left to the parser).
pub fn parse(sql: &str) -> Option<EngineResult<Statement>> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()?;
    let mut words = tokens
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .peekable();
    let is_word = |t: Option<&TokenWithSpan>, w: &str| matches!(t.map(|t| &t.token), Some(Token::Word(word)) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w));
    if !is_word(words.next(), "create") || !is_word(words.next(), "database") {
        return None;
    }
    let rest: Vec<&TokenWithSpan> = words.collect();
    // One statement: nothing after a semicolon but the end.
    if let Some(at) = rest.iter().position(|t| t.token == Token::SemiColon) {
        if rest[at + 1..].iter().any(|t| t.token != Token::EOF) {
            return None;
        }
    }
    let rest: Vec<&TokenWithSpan> = rest
        .into_iter()
        .take_while(|t| !matches!(t.token, Token::SemiColon | Token::EOF))
        .collect();
    let reader = Reader { sql, tokens: rest };
    Some(reader.read().and_then(|create| disguise(&create)))
}

/// PostgreSQL's reserved words that may follow a database name by mistake
/// (`IF NOT EXISTS`): a syntax error at them, not an unknown option.
const RESERVED: &[&str] = &[
    "not", "null", "and", "or", "as", "from", "where", "select", "table", "on", "to", "using",
];

/// Reads CREATE DATABASE's tokens after the two keywords.
struct Reader<'a> {
    sql: &'a str,
    tokens: Vec<&'a TokenWithSpan>,
}

impl Reader<'_> {
    /// 42601 at token `at` (or at the end of the input).
    fn error_at(&self, at: usize, message: Option<String>) -> EngineError {
        let (message, position) = match self.tokens.get(at) {
            Some(t) => (
                message.unwrap_or_else(|| format!("syntax error at or near \"{}\"", t.token)),
                super::char_position(
                    self.sql,
                    t.span.start.line as usize,
                    t.span.start.column as usize,
                ),
            ),
            None => (
                message.unwrap_or_else(|| "syntax error at end of input".into()),
                Some(self.sql.trim_end().trim_end_matches(';').chars().count() + 1),
            ),
        };
        match position {
            Some(position) => EngineError::SyntaxAt { message, position },
            None => EngineError::Syntax(message),
        }
    }

    fn token(&self, at: usize) -> Option<&Token> {
        self.tokens.get(at).map(|t| &t.token)
    }

    /// A name or option word at `at`: unquoted words fold to lower case.
    fn word(&self, at: usize) -> Option<String> {
        match self.token(at) {
            Some(Token::Word(w)) if w.quote_style.is_some() => Some(w.value.clone()),
            Some(Token::Word(w)) => Some(w.value.to_lowercase()),
            _ => None,
        }
    }

    fn is_keyword(&self, at: usize, keyword: &str) -> bool {
        matches!(self.token(at), Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
    }

    /// An option's value at `at`: a word, a string or a (signed) number;
    /// DEFAULT reads as no value. Returns the value and the next position.
    fn value(&self, at: usize) -> Option<(Option<String>, usize)> {
        match self.token(at)? {
            _ if self.is_keyword(at, "default") => Some((None, at + 1)),
            Token::SingleQuotedString(s) => Some((Some(s.clone()), at + 1)),
            Token::Number(n, _) => Some((Some(n.clone()), at + 1)),
            Token::Minus => match self.token(at + 1)? {
                Token::Number(n, _) => Some((Some(format!("-{n}")), at + 2)),
                _ => None,
            },
            _ => self.word(at).map(|w| (Some(w), at + 1)),
        }
    }

    fn read(&self) -> EngineResult<CreateDatabase> {
        let name = self.word(0).ok_or_else(|| self.error_at(0, None))?;
        let mut create = CreateDatabase {
            name,
            owner: None,
            template: None,
            encoding: None,
        };
        let mut at = 1;
        if self.is_keyword(at, "with") {
            at += 1;
        }
        while at < self.tokens.len() {
            let Some(mut option) = self.word(at) else {
                return Err(self.error_at(at, None));
            };
            let option_at = at;
            at += 1;
            if option == "connection" {
                if !self.is_keyword(at, "limit") {
                    return Err(self.error_at(at, None));
                }
                option = "connection limit".into();
                at += 1;
            }
            if RESERVED.contains(&option.as_str()) {
                return Err(self.error_at(option_at, None));
            }
            if !OPTIONS.contains(&option.as_str()) {
                return Err(self.error_at(
                    option_at,
                    Some(format!("option \"{option}\" not recognized")),
                ));
            }
            if self.token(at) == Some(&Token::Eq) {
                at += 1;
            }
            let (given, next) = self.value(at).ok_or_else(|| self.error_at(at, None))?;
            at = next;
            match option.as_str() {
                "owner" => create.owner = given,
                "template" => create.template = given,
                "encoding" => create.encoding = given,
                _ => {}
            }
        }
        if let Some(template) = &create.template {
            if template != "template0" && template != "template1" {
                return Err(EngineError::FeatureNotSupported(format!(
                    "TEMPLATE {template}: a new database starts empty (only template0 and template1 can be named)"
                )));
            }
        }
        if let Some(encoding) = &create.encoding {
            let normalized = encoding.to_ascii_uppercase().replace(['-', '_'], "");
            if normalized != "UTF8" && normalized != "UNICODE" {
                return Err(EngineError::FeatureNotSupported(format!(
                    "encoding \"{encoding}\": every database is UTF8"
                )));
            }
        }
        Ok(create)
    }
}

/// The statement [`create`] reads back (see the module doc).
fn disguise(create: &CreateDatabase) -> EngineResult<Statement> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, "CREATE DATABASE d")
        .map_err(|e| EngineError::Internal(e.to_string()))?;
    let mut statement = statements.pop().expect("one statement");
    if let Statement::CreateDatabase {
        db_name, location, ..
    } = &mut statement
    {
        *db_name = ObjectName::from(vec![Ident::with_quote('"', create.name.clone())]);
        *location = create.owner.clone();
    }
    Ok(statement)
}

/// The name of a database in `name` (one part).
fn database_name(name: &ObjectName) -> EngineResult<String> {
    match super::names::parts(name, "")? {
        (None, name) => Ok(name),
        _ => Err(EngineError::Syntax(format!(
            "syntax error at or near \"{}\"",
            name.0.get(1).map(|p| p.to_string()).unwrap_or_default()
        ))),
    }
}

/// 25001 unless the statement runs on its own (not inside BEGIN … COMMIT
/// nor among other statements of one query string).
fn refuse_in_block(session: &Session, command: &str) -> EngineResult<()> {
    if session.in_block() || session.in_multi_statement_block() {
        return Err(EngineError::ActiveTransaction(command.into()));
    }
    Ok(())
}

fn is_superuser(session: &Session) -> bool {
    session
        .engine
        .cluster_catalog()
        .role(session.user())
        .is_some_and(|r| r.superuser)
}

/// Commits `change` on its own (the session is outside any block).
async fn commit_alone(session: &Session, change: CatalogChange) -> EngineResult<()> {
    let txn = TxnCommand {
        catalog: vec![change],
        ..Default::default()
    };
    session.engine.commit(session.database().0, txn).await?;
    Ok(())
}

/// `CREATE DATABASE`, read back from [`parse`]'s statement.
pub(super) async fn create(
    session: &mut Session,
    name: &ObjectName,
    owner: Option<String>,
    if_not_exists: bool,
) -> EngineResult<Outcome> {
    if if_not_exists {
        // Several statements in one string bypass `parse`; PostgreSQL
        // has no IF NOT EXISTS here.
        return Err(EngineError::Syntax(
            "syntax error at or near \"NOT\"".into(),
        ));
    }
    refuse_in_block(session, "CREATE DATABASE")?;
    let name = database_name(name)?;
    if !is_superuser(session) {
        return Err(EngineError::InsufficientPrivilege(
            "permission denied to create database".into(),
        ));
    }
    let catalog = session.engine.cluster_catalog();
    let owner = owner.unwrap_or_else(|| session.user().to_string());
    if catalog.role(&owner).is_none() {
        return Err(EngineError::UndefinedObject(format!(
            "role \"{owner}\" does not exist"
        )));
    }
    if catalog.database(&name).is_some() {
        return Err(EngineError::DuplicateDatabase(name));
    }
    let def = DatabaseDef {
        id: session.engine.allocate_database_id(),
        name,
        owner,
    };
    commit_alone(session, CatalogChange::CreateDatabase(def)).await?;
    Ok(Outcome::Command {
        tag: "CREATE DATABASE".into(),
    })
}

/// `DROP DATABASE [IF EXISTS] name`.
pub(super) async fn drop(
    session: &mut Session,
    names: &[ObjectName],
    if_exists: bool,
) -> EngineResult<Outcome> {
    refuse_in_block(session, "DROP DATABASE")?;
    let [name] = names else {
        return Err(EngineError::Syntax("syntax error at or near \",\"".into()));
    };
    let name = database_name(name)?;
    let tag = Outcome::Command {
        tag: "DROP DATABASE".into(),
    };
    let Some(def) = session.engine.cluster_catalog().database(&name) else {
        if if_exists {
            session.notice(
                "NOTICE",
                "00000",
                format!("database \"{name}\" does not exist, skipping"),
            );
            return Ok(tag);
        }
        return Err(EngineError::UndefinedDatabase(name));
    };
    if def.owner != session.user() && !is_superuser(session) {
        return Err(EngineError::InsufficientPrivilege(format!(
            "must be owner of database {name}"
        )));
    }
    if def.id == session.database().0 {
        return Err(EngineError::ObjectInUse {
            message: "cannot drop the currently open database".into(),
            detail: None,
        });
    }
    if def.id == DEFAULT_DATABASE_ID {
        return Err(EngineError::ObjectInUse {
            message: format!(
                "cannot drop database \"{name}\": every cluster keeps its default database"
            ),
            detail: None,
        });
    }
    if let Err(others) = session.engine.begin_drop(def.id) {
        let detail = match others {
            1 => "There is 1 other session using the database.".to_string(),
            n => format!("There are {n} other sessions using the database."),
        };
        return Err(EngineError::ObjectInUse {
            message: format!("database \"{name}\" is being accessed by other users"),
            detail: Some(detail),
        });
    }
    let result = commit_alone(session, CatalogChange::DropDatabase { id: def.id }).await;
    session.engine.end_drop(def.id);
    result?;
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> EngineResult<Statement> {
        parse(sql).expect("a CREATE DATABASE")
    }

    fn owner_of(statement: Statement) -> (String, Option<String>) {
        match statement {
            Statement::CreateDatabase {
                db_name, location, ..
            } => (
                super::super::names::parts(&db_name, "").unwrap().1,
                location,
            ),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn reads_postgres_options() {
        let statement = read(
            "CREATE DATABASE Shop WITH OWNER = alice TEMPLATE template0 ENCODING 'UTF8' \
             LC_COLLATE 'C' CONNECTION LIMIT = -1 IS_TEMPLATE false;",
        )
        .unwrap();
        assert_eq!(owner_of(statement), ("shop".into(), Some("alice".into())));
        let statement = read("create database \"Mixed\"").unwrap();
        assert_eq!(owner_of(statement), ("Mixed".into(), None));
    }

    #[test]
    fn refuses_what_postgres_refuses() {
        assert_eq!(
            read("CREATE DATABASE d FROBNICATE 1")
                .unwrap_err()
                .sqlstate(),
            "42601"
        );
        assert_eq!(read("CREATE DATABASE").unwrap_err().sqlstate(), "42601");
        assert_eq!(
            read("CREATE DATABASE d TEMPLATE other")
                .unwrap_err()
                .sqlstate(),
            "0A000"
        );
        assert_eq!(
            read("CREATE DATABASE d ENCODING 'LATIN1'")
                .unwrap_err()
                .sqlstate(),
            "0A000"
        );
        assert!(parse("CREATE DATABASE a; CREATE DATABASE b").is_none());
        assert!(parse("CREATE TABLE t (a int)").is_none());
    }
}
