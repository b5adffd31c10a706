//! The Redis setting the timeline needs and puts back: keyspace
//! notifications of hash writes (`notify-keyspace-events` with `K` and
//! `h`), which is how it sees a claim's status change. The setting is the
//! user's Redis's, so it is put back as it was however the play ends
//! ([`super::Timeline::around`]).

use redis::aio::MultiplexedConnection;

/// `notify-keyspace-events` as it was before the timeline turned on `Kh`.
pub(super) struct Notify {
    was: String,
}

impl Notify {
    /// Adds `K` and `h` to the setting; what it was is kept.
    pub(super) async fn turn_on(conn: &mut MultiplexedConnection) -> redis::RedisResult<Notify> {
        let (_, was): (String, String) = redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query_async(conn)
            .await?;
        let mut flags = was.clone();
        flags.extend(['K', 'h'].into_iter().filter(|f| !was.contains(*f)));
        set(conn, &flags).await?;
        Ok(Notify { was })
    }

    /// Puts the setting back as it was.
    pub(super) async fn put_back(
        &self,
        conn: &mut MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        set(conn, &self.was).await
    }
}

async fn set(conn: &mut MultiplexedConnection, flags: &str) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(flags)
        .query_async(conn)
        .await
}

/// Says on stderr that the setting could not be put back (when another
/// error is already on its way up).
pub(super) fn report_unrestored(restored: redis::RedisResult<()>) {
    if let Err(e) = restored {
        eprintln!("sett-demo: notify-keyspace-events not put back as it was: {e}");
    }
}
