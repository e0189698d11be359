//! `Pg::transaction`: the blocking transaction facade, on the tests' PostgreSQL (each test a
//! database of its own).

use pgstate::{p, Pg, PgError};

fn table() -> Pg {
    let pg = pgstate::testing::fresh("tx");
    pg.execute(
        "CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT NOT NULL)",
        vec![],
    )
    .unwrap();
    pg
}

fn rows(pg: &Pg) -> Vec<(String, i64)> {
    pg.query("SELECT k, v FROM t ORDER BY k", vec![])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn a_transaction_commits_every_statement_when_its_closure_succeeds() {
    let pg = table();
    let touched = pg
        .transaction(|tx| {
            tx.execute(
                "INSERT INTO t (k, v) VALUES ($1, $2), ($3, $4)",
                vec![p("a"), p(1i64), p("b"), p(2i64)],
            )?;
            // A statement sees the ones before it.
            let n: i64 = tx.query("SELECT SUM(v)::BIGINT FROM t", vec![])?[0].get(0);
            tx.execute("UPDATE t SET v = v + $1", vec![p(n)])
        })
        .unwrap();
    assert_eq!(touched, 2);
    assert_eq!(rows(&pg), [("a".into(), 4), ("b".into(), 5)]);
}

#[test]
fn a_transaction_rolls_back_when_its_closure_fails() {
    let pg = table();
    let r: Result<(), PgError> = pg.transaction(|tx| {
        tx.execute("INSERT INTO t (k, v) VALUES ('a', 1)", vec![])?;
        Err(PgError::Schema("the caller changed its mind".into()))
    });
    assert!(r.is_err());
    assert!(rows(&pg).is_empty());
}

#[test]
fn a_refused_statement_is_the_transactions_error_and_nothing_is_kept() {
    let pg = table();
    let r: Result<(), PgError> = pg.transaction(|tx| {
        tx.execute("INSERT INTO t (k, v) VALUES ('a', 1)", vec![])?;
        tx.execute("INSERT INTO t (k, v) VALUES ('a', 2)", vec![])?;
        Ok(())
    });
    assert!(r.unwrap_err().is_unique_violation());
    assert!(rows(&pg).is_empty());
}

#[test]
fn other_connections_see_nothing_before_the_commit() {
    let pg = table();
    pg.transaction(|tx| {
        tx.execute("INSERT INTO t (k, v) VALUES ('a', 1)", vec![])?;
        assert!(rows(&pg).is_empty(), "seen before the commit");
        Ok::<_, PgError>(())
    })
    .unwrap();
    assert_eq!(rows(&pg).len(), 1);
}

#[test]
fn a_transaction_can_be_run_from_inside_a_tokio_runtime() {
    let pg = table();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        pg.transaction(|tx| tx.execute("INSERT INTO t (k, v) VALUES ('a', 1)", vec![]))
            .unwrap();
    });
    assert_eq!(rows(&pg).len(), 1);
}

#[test]
fn a_transaction_on_an_unreachable_server_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pg = Pg::connect(&pgstate::PgConfig::new(format!(
        "postgres://nobody@127.0.0.1:{port}/none"
    )))
    .unwrap();
    let r: Result<(), PgError> = pg.transaction(|_| Ok(()));
    assert!(r.unwrap_err().is_unavailable());
}
