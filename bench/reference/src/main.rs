//! Reference servers for the benchmarks: what a developer would hand-write for exactly
//! the queries the benchmark sends, on the fastest driver measured here (rusqlite with a
//! small pool, spawn_blocking and cached statements for SQLite; sqlx for PostgreSQL).
//! `reference nodb` answers without a database: the HTTP stack's own ceiling. The three
//! embedding requests are answered two ways (`/a/...`: one query per level stitched in
//! Rust; `/b/...`: JSON built by the database in one query).
//!
//! Usage: reference (nodb | sqlite PATH | postgres URL) BIND

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query};
use poem::{get, handler, EndpointExt, IntoResponse, Response, Route, Server};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;

#[derive(Serialize)]
struct Track {
    id: i64,
    name: String,
    album_id: i64,
    milliseconds: Option<i64>,
    unit_price: Value,
    genre: Option<String>,
    explicit: bool,
    created_at: String,
}

struct NewTrack {
    name: String,
    album_id: i64,
    milliseconds: Option<i64>,
    unit_price: Option<f64>,
    genre: Option<String>,
}

const COLS: &str = "id, name, album_id, milliseconds, unit_price, genre, explicit, created_at";

enum Db {
    Sqlite {
        conns: Mutex<Vec<rusqlite::Connection>>,
        slots: Semaphore,
    },
    Postgres(sqlx::PgPool),
}

type Shared = Arc<Db>;

fn track_from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Track> {
    let price: f64 = r.get(4)?;
    Ok(Track {
        id: r.get(0)?,
        name: r.get(1)?,
        album_id: r.get(2)?,
        milliseconds: r.get(3)?,
        unit_price: serde_json::Number::from_f64(price).map_or(Value::Null, Value::Number),
        genre: r.get(5)?,
        explicit: r.get::<_, i64>(6)? != 0,
        created_at: r.get::<_, String>(7)?.replacen(' ', "T", 1),
    })
}

fn track_from_pg(r: &sqlx::postgres::PgRow) -> Result<Track, sqlx::Error> {
    use sqlx::Row;
    let price: String = r.try_get(4)?;
    Ok(Track {
        id: i64::from(r.try_get::<i32, _>(0)?),
        name: r.try_get(1)?,
        album_id: i64::from(r.try_get::<i32, _>(2)?),
        milliseconds: r.try_get::<Option<i32>, _>(3)?.map(i64::from),
        unit_price: serde_json::from_str(&price).unwrap_or(Value::Null),
        genre: r.try_get(5)?,
        explicit: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

const PG_COLS: &str = "id, name, album_id, milliseconds, unit_price::text, genre, explicit, to_char(created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS')";

async fn sqlite_run<T: Send + 'static>(
    db: &Shared,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, String> {
    let Db::Sqlite { conns, slots } = &**db else {
        return Err("not sqlite".into());
    };
    let _permit = slots.acquire().await.map_err(|e| e.to_string())?;
    let conn = conns
        .lock()
        .map_err(|e| e.to_string())?
        .pop()
        .ok_or("no connection")?;
    let (conn, out) = tokio::task::spawn_blocking(move || {
        let out = f(&conn);
        (conn, out)
    })
    .await
    .map_err(|e| e.to_string())?;
    conns.lock().map_err(|e| e.to_string())?.push(conn);
    out.map_err(|e| e.to_string())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(body)
}

fn error(e: String) -> Response {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .body(e)
}

#[handler]
async fn get_one(Path(id): Path<i64>, Data(db): Data<&Shared>) -> Response {
    let found: Result<Option<Track>, String> = match &**db {
        Db::Sqlite { .. } => {
            sqlite_run(db, move |c| {
                let mut st =
                    c.prepare_cached(&format!("SELECT {COLS} FROM tracks WHERE id = ?1"))?;
                let mut rows = st.query([id])?;
                match rows.next()? {
                    Some(r) => Ok(Some(track_from_sqlite(r)?)),
                    None => Ok(None),
                }
            })
            .await
        }
        Db::Postgres(pool) => {
            let sql = format!("SELECT {PG_COLS} FROM tracks WHERE id = $1");
            match sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id as i32)
                .fetch_optional(pool)
                .await
            {
                Ok(Some(r)) => track_from_pg(&r).map(Some).map_err(|e| e.to_string()),
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    match found {
        Ok(Some(t)) => json_response(StatusCode::OK, serde_json::to_vec(&t).unwrap_or_default()),
        Ok(None) => Response::builder().status(StatusCode::NOT_FOUND).finish(),
        Err(e) => error(e),
    }
}

#[handler]
async fn list(Query(q): Query<HashMap<String, String>>, Data(db): Data<&Shared>) -> Response {
    let limit: i64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(1000);
    let album: Option<i64> = q
        .get("album_id")
        .and_then(|v| v.strip_prefix("eq."))
        .and_then(|v| v.parse().ok());
    let by_name = q.get("order").is_some_and(|o| o == "name");
    let result: Result<Vec<Track>, String> = match &**db {
        Db::Sqlite { .. } => {
            sqlite_run(db, move |c| {
                // The limit is written into the text: SQLite compiles a statement with a
                // parameter in LIMIT again on every reuse from rusqlite's cache.
                let (sql, args): (String, Vec<i64>) = match (album, by_name) {
                    (Some(a), _) => (
                        format!(
                            "SELECT {COLS} FROM tracks WHERE album_id = ?1 ORDER BY id LIMIT {limit}"
                        ),
                        vec![a],
                    ),
                    (None, true) => (
                        format!("SELECT {COLS} FROM tracks ORDER BY name LIMIT {limit}"),
                        vec![],
                    ),
                    (None, false) => (
                        format!("SELECT {COLS} FROM tracks ORDER BY id LIMIT {limit}"),
                        vec![],
                    ),
                };
                let mut st = c.prepare_cached(&sql)?;
                let rows = st.query_map(rusqlite::params_from_iter(args), track_from_sqlite)?;
                rows.collect()
            })
            .await
        }
        Db::Postgres(pool) => {
            let (sql, args): (String, Vec<i64>) = match (album, by_name) {
                (Some(a), _) => (
                    format!(
                        "SELECT {PG_COLS} FROM tracks WHERE album_id = $1 ORDER BY id LIMIT $2"
                    ),
                    vec![a, limit],
                ),
                (None, true) => (
                    format!("SELECT {PG_COLS} FROM tracks ORDER BY name LIMIT $1"),
                    vec![limit],
                ),
                (None, false) => (
                    format!("SELECT {PG_COLS} FROM tracks ORDER BY id LIMIT $1"),
                    vec![limit],
                ),
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (n, a) in args.iter().enumerate() {
                query = if n == 0 && album.is_some() {
                    query.bind(*a as i32)
                } else {
                    query.bind(*a)
                };
            }
            match query.fetch_all(pool).await {
                Ok(rows) => rows
                    .iter()
                    .map(track_from_pg)
                    .collect::<Result<_, _>>()
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    match result {
        Ok(tracks) => json_response(
            StatusCode::OK,
            serde_json::to_vec(&tracks).unwrap_or_default(),
        ),
        Err(e) => error(e),
    }
}

/// The body as a hand-written handler would read it (serde_json's arbitrary_precision,
/// unified in from the workspace, rules out an untagged enum here).
fn new_track(v: &Value) -> Option<NewTrack> {
    Some(NewTrack {
        name: v.get("name")?.as_str()?.to_string(),
        album_id: v.get("album_id")?.as_i64()?,
        milliseconds: v.get("milliseconds").and_then(Value::as_i64),
        unit_price: v.get("unit_price").and_then(Value::as_f64),
        genre: v.get("genre").and_then(Value::as_str).map(str::to_string),
    })
}

#[handler]
async fn insert(Json(body): Json<Value>, Data(db): Data<&Shared>) -> Response {
    let (rows, one): (Vec<NewTrack>, bool) = match &body {
        Value::Array(items) => (items.iter().filter_map(new_track).collect(), false),
        other => (new_track(other).into_iter().collect(), true),
    };
    if rows.is_empty() {
        return Response::builder().status(StatusCode::BAD_REQUEST).finish();
    }
    let n = rows.len();
    let result: Result<Vec<Track>, String> = match &**db {
        Db::Sqlite { .. } => {
            sqlite_run(db, move |c| {
                let tx = c.unchecked_transaction()?;
                let mut out = Vec::new();
                {
                    let mut st = tx.prepare_cached(&format!(
                        "INSERT INTO tracks (name, album_id, milliseconds, unit_price, genre) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING {COLS}"
                    ))?;
                    for t in &rows {
                        let mut r = st.query(rusqlite::params![t.name, t.album_id, t.milliseconds, t.unit_price.unwrap_or(0.99), t.genre])?;
                        if let Some(row) = r.next()? {
                            if one {
                                out.push(track_from_sqlite(row)?);
                            }
                        }
                    }
                }
                tx.commit()?;
                Ok(out)
            })
            .await
        }
        Db::Postgres(pool) => {
            let mut tx = match pool.begin().await {
                Ok(t) => t,
                Err(e) => return error(e.to_string()),
            };
            let mut out = Vec::new();
            if one {
                let t = &rows[0];
                let sql = format!("INSERT INTO tracks (name, album_id, milliseconds, unit_price, genre) VALUES ($1, $2, $3, $4::numeric, $5) RETURNING {PG_COLS}");
                match sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&t.name)
                    .bind(t.album_id as i32)
                    .bind(t.milliseconds.map(|m| m as i32))
                    .bind(t.unit_price.unwrap_or(0.99))
                    .bind(&t.genre)
                    .fetch_one(&mut *tx)
                    .await
                {
                    Ok(r) => match track_from_pg(&r) {
                        Ok(t) => out.push(t),
                        Err(e) => return error(e.to_string()),
                    },
                    Err(e) => return error(e.to_string()),
                }
            } else {
                // One multi-row INSERT with arrays, as a careful hand-written bulk insert does.
                let names: Vec<&str> = rows.iter().map(|t| t.name.as_str()).collect();
                let albums: Vec<i32> = rows.iter().map(|t| t.album_id as i32).collect();
                let ms: Vec<Option<i32>> = rows.iter().map(|t| t.milliseconds.map(|m| m as i32)).collect();
                let prices: Vec<f64> = rows.iter().map(|t| t.unit_price.unwrap_or(0.99)).collect();
                let genres: Vec<Option<&str>> = rows.iter().map(|t| t.genre.as_deref()).collect();
                if let Err(e) = sqlx::query("INSERT INTO tracks (name, album_id, milliseconds, unit_price, genre) SELECT * FROM unnest($1::text[], $2::int4[], $3::int4[], $4::float8[]::numeric[], $5::text[])")
                    .bind(names)
                    .bind(albums)
                    .bind(ms)
                    .bind(prices)
                    .bind(genres)
                    .execute(&mut *tx)
                    .await
                {
                    return error(e.to_string());
                }
            }
            if let Err(e) = tx.commit().await {
                return error(e.to_string());
            }
            Ok(out)
        }
    };
    match result {
        Ok(out) if one => json_response(
            StatusCode::CREATED,
            serde_json::to_vec(&out[0]).unwrap_or_default(),
        ),
        Ok(_) => {
            let _ = n;
            Response::builder().status(StatusCode::CREATED).finish()
        }
        Err(e) => error(e),
    }
}

// ---------------------------------------------------------------------------------------
// Embedding: exactly the three benchmark requests, written by hand two ways. `/a/...`
// reads the parents, then the children of all of them with one `IN (...)` query per level
// and stitches them in Rust; `/b/...` lets the database build the JSON in one query. The
// benchmark takes the faster of the two as the reference.

/// Which embedding request: albums with artist and tracks, artists with albums and their
/// tracks, playlists with tracks.
#[derive(Clone, Copy)]
enum Embed {
    Albums,
    Artists,
    Playlists,
}

/// One query per level, stitched in Rust.
fn embed_sqlite_a(c: &rusqlite::Connection, which: Embed) -> rusqlite::Result<Vec<u8>> {
    fn in_list(n: usize) -> String {
        let mut s = String::from("(");
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push('?');
        }
        s.push(')');
        s
    }
    let mut out = Vec::with_capacity(16 * 1024);
    match which {
        Embed::Albums => {
            let mut st =
                c.prepare_cached("SELECT id, title, artist_id FROM albums ORDER BY id LIMIT 50")?;
            let albums: Vec<(i64, String, i64)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut artist_ids: Vec<i64> = albums.iter().map(|a| a.2).collect();
            artist_ids.sort_unstable();
            artist_ids.dedup();
            let mut st = c.prepare_cached(&format!(
                "SELECT id, name FROM artists WHERE id IN {}",
                in_list(artist_ids.len())
            ))?;
            let artists: HashMap<i64, String> = st
                .query_map(rusqlite::params_from_iter(&artist_ids), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let ids: Vec<i64> = albums.iter().map(|a| a.0).collect();
            let mut st = c.prepare_cached(&format!(
                "SELECT album_id, name, milliseconds FROM tracks WHERE album_id IN {} ORDER BY id",
                in_list(ids.len())
            ))?;
            let mut tracks: HashMap<i64, Vec<Value>> = HashMap::new();
            let rows = st.query_map(rusqlite::params_from_iter(&ids), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })?;
            for row in rows {
                let (album, name, ms) = row?;
                tracks
                    .entry(album)
                    .or_default()
                    .push(serde_json::json!({"name": name, "milliseconds": ms}));
            }
            let body: Vec<Value> = albums
                .iter()
                .map(|(id, title, artist)| {
                    serde_json::json!({
                        "title": title,
                        "artists": artists.get(artist).map(|n| serde_json::json!({"name": n})),
                        "tracks": tracks.remove(id).unwrap_or_default(),
                    })
                })
                .collect();
            let _ = serde_json::to_writer(&mut out, &body);
        }
        Embed::Artists => {
            let mut st = c.prepare_cached("SELECT id, name FROM artists ORDER BY id LIMIT 20")?;
            let artists: Vec<(i64, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let ids: Vec<i64> = artists.iter().map(|a| a.0).collect();
            let mut st = c.prepare_cached(&format!(
                "SELECT id, title, artist_id FROM albums WHERE artist_id IN {} ORDER BY id",
                in_list(ids.len())
            ))?;
            let albums: Vec<(i64, String, i64)> = st
                .query_map(rusqlite::params_from_iter(&ids), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let album_ids: Vec<i64> = albums.iter().map(|a| a.0).collect();
            let mut tracks: HashMap<i64, Vec<Value>> = HashMap::new();
            if !album_ids.is_empty() {
                let mut st = c.prepare_cached(&format!(
                    "SELECT album_id, name FROM tracks WHERE album_id IN {} ORDER BY id",
                    in_list(album_ids.len())
                ))?;
                let rows = st.query_map(rusqlite::params_from_iter(&album_ids), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (album, name) = row?;
                    tracks
                        .entry(album)
                        .or_default()
                        .push(serde_json::json!({"name": name}));
                }
            }
            let mut by_artist: HashMap<i64, Vec<Value>> = HashMap::new();
            for (id, title, artist) in albums {
                by_artist
                    .entry(artist)
                    .or_default()
                    .push(serde_json::json!({
                        "title": title,
                        "tracks": tracks.remove(&id).unwrap_or_default(),
                    }));
            }
            let body: Vec<Value> = artists
                .iter()
                .map(|(id, name)| {
                    serde_json::json!({"name": name, "albums": by_artist.remove(id).unwrap_or_default()})
                })
                .collect();
            let _ = serde_json::to_writer(&mut out, &body);
        }
        Embed::Playlists => {
            let mut st = c.prepare_cached("SELECT id, name FROM playlists ORDER BY id LIMIT 10")?;
            let playlists: Vec<(i64, String)> = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let ids: Vec<i64> = playlists.iter().map(|a| a.0).collect();
            let mut st = c.prepare_cached(&format!(
                "SELECT pt.playlist_id, t.name FROM playlist_tracks pt JOIN tracks t ON t.id = pt.track_id WHERE pt.playlist_id IN {} ORDER BY t.id",
                in_list(ids.len())
            ))?;
            let mut tracks: HashMap<i64, Vec<Value>> = HashMap::new();
            let rows = st.query_map(rusqlite::params_from_iter(&ids), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (p, name) = row?;
                tracks
                    .entry(p)
                    .or_default()
                    .push(serde_json::json!({"name": name}));
            }
            let body: Vec<Value> = playlists
                .iter()
                .map(|(id, name)| serde_json::json!({"name": name, "tracks": tracks.remove(id).unwrap_or_default()}))
                .collect();
            let _ = serde_json::to_writer(&mut out, &body);
        }
    }
    Ok(out)
}

/// The JSON built by SQLite in one query.
const SQLITE_B: [&str; 3] = [
    "SELECT json_object('title', a.title, \
       'artists', json((SELECT json_object('name', ar.name) FROM artists ar WHERE ar.id = a.artist_id)), \
       'tracks', json((SELECT json_group_array(json_object('name', t.name, 'milliseconds', t.milliseconds)) \
                       FROM (SELECT name, milliseconds FROM tracks WHERE album_id = a.id ORDER BY id) t))) \
     FROM albums a ORDER BY a.id LIMIT 50",
    "SELECT json_object('name', ar.name, \
       'albums', json((SELECT json_group_array(json(j)) FROM (SELECT json_object('title', al.title, \
           'tracks', json((SELECT json_group_array(json_object('name', t.name)) \
                           FROM (SELECT name FROM tracks WHERE album_id = al.id ORDER BY id) t))) AS j \
         FROM albums al WHERE al.artist_id = ar.id ORDER BY al.id)))) \
     FROM artists ar ORDER BY ar.id LIMIT 20",
    "SELECT json_object('name', p.name, \
       'tracks', json((SELECT json_group_array(json_object('name', t.name)) \
                       FROM (SELECT t.name FROM tracks t JOIN playlist_tracks pt ON pt.track_id = t.id \
                             WHERE pt.playlist_id = p.id ORDER BY t.id) t))) \
     FROM playlists p ORDER BY p.id LIMIT 10",
];

/// The JSON built by PostgreSQL in one query.
const PG_B: [&str; 3] = [
    "SELECT json_build_object('title', a.title, \
       'artists', (SELECT json_build_object('name', ar.name) FROM artists ar WHERE ar.id = a.artist_id), \
       'tracks', coalesce((SELECT json_agg(json_build_object('name', t.name, 'milliseconds', t.milliseconds) ORDER BY t.id) \
                           FROM tracks t WHERE t.album_id = a.id), '[]'))::text \
     FROM albums a ORDER BY a.id LIMIT 50",
    "SELECT json_build_object('name', ar.name, \
       'albums', coalesce((SELECT json_agg(json_build_object('title', al.title, \
           'tracks', coalesce((SELECT json_agg(json_build_object('name', t.name) ORDER BY t.id) FROM tracks t WHERE t.album_id = al.id), '[]')) ORDER BY al.id) \
         FROM albums al WHERE al.artist_id = ar.id), '[]'))::text \
     FROM artists ar ORDER BY ar.id LIMIT 20",
    "SELECT json_build_object('name', p.name, \
       'tracks', coalesce((SELECT json_agg(json_build_object('name', t.name) ORDER BY t.id) \
                           FROM tracks t JOIN playlist_tracks pt ON pt.track_id = t.id WHERE pt.playlist_id = p.id), '[]'))::text \
     FROM playlists p ORDER BY p.id LIMIT 10",
];

/// One query per level on PostgreSQL, stitched in Rust.
async fn embed_pg_a(pool: &sqlx::PgPool, which: Embed) -> Result<Vec<u8>, sqlx::Error> {
    use sqlx::Row;
    let body: Vec<Value> = match which {
        Embed::Albums => {
            let albums =
                sqlx::query("SELECT id, title, artist_id FROM albums ORDER BY id LIMIT 50")
                    .fetch_all(pool)
                    .await?;
            let ids: Vec<i32> = albums.iter().map(|r| r.get::<i32, _>(0)).collect();
            let artist_ids: Vec<i32> = albums.iter().map(|r| r.get::<i32, _>(2)).collect();
            let artists: HashMap<i32, String> =
                sqlx::query("SELECT id, name FROM artists WHERE id = ANY($1)")
                    .bind(&artist_ids)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
            let mut tracks: HashMap<i32, Vec<Value>> = HashMap::new();
            for r in sqlx::query("SELECT album_id, name, milliseconds FROM tracks WHERE album_id = ANY($1) ORDER BY id")
                .bind(&ids)
                .fetch_all(pool)
                .await?
            {
                tracks.entry(r.get(0)).or_default().push(serde_json::json!({
                    "name": r.get::<String, _>(1),
                    "milliseconds": r.get::<Option<i32>, _>(2),
                }));
            }
            albums
                .iter()
                .map(|r| {
                    let id: i32 = r.get(0);
                    serde_json::json!({
                        "title": r.get::<String, _>(1),
                        "artists": artists.get(&r.get::<i32, _>(2)).map(|n| serde_json::json!({"name": n})),
                        "tracks": tracks.remove(&id).unwrap_or_default(),
                    })
                })
                .collect()
        }
        Embed::Artists => {
            let artists = sqlx::query("SELECT id, name FROM artists ORDER BY id LIMIT 20")
                .fetch_all(pool)
                .await?;
            let ids: Vec<i32> = artists.iter().map(|r| r.get::<i32, _>(0)).collect();
            let albums = sqlx::query(
                "SELECT id, title, artist_id FROM albums WHERE artist_id = ANY($1) ORDER BY id",
            )
            .bind(&ids)
            .fetch_all(pool)
            .await?;
            let album_ids: Vec<i32> = albums.iter().map(|r| r.get::<i32, _>(0)).collect();
            let mut tracks: HashMap<i32, Vec<Value>> = HashMap::new();
            for r in sqlx::query(
                "SELECT album_id, name FROM tracks WHERE album_id = ANY($1) ORDER BY id",
            )
            .bind(&album_ids)
            .fetch_all(pool)
            .await?
            {
                tracks
                    .entry(r.get(0))
                    .or_default()
                    .push(serde_json::json!({"name": r.get::<String, _>(1)}));
            }
            let mut by_artist: HashMap<i32, Vec<Value>> = HashMap::new();
            for r in &albums {
                let id: i32 = r.get(0);
                by_artist
                    .entry(r.get(2))
                    .or_default()
                    .push(serde_json::json!({
                        "title": r.get::<String, _>(1),
                        "tracks": tracks.remove(&id).unwrap_or_default(),
                    }));
            }
            artists
                .iter()
                .map(|r| {
                    let id: i32 = r.get(0);
                    serde_json::json!({"name": r.get::<String, _>(1), "albums": by_artist.remove(&id).unwrap_or_default()})
                })
                .collect()
        }
        Embed::Playlists => {
            let playlists = sqlx::query("SELECT id, name FROM playlists ORDER BY id LIMIT 10")
                .fetch_all(pool)
                .await?;
            let ids: Vec<i32> = playlists.iter().map(|r| r.get::<i32, _>(0)).collect();
            let mut tracks: HashMap<i32, Vec<Value>> = HashMap::new();
            for r in sqlx::query("SELECT pt.playlist_id, t.name FROM playlist_tracks pt JOIN tracks t ON t.id = pt.track_id WHERE pt.playlist_id = ANY($1) ORDER BY t.id")
                .bind(&ids)
                .fetch_all(pool)
                .await?
            {
                tracks
                    .entry(r.get(0))
                    .or_default()
                    .push(serde_json::json!({"name": r.get::<String, _>(1)}));
            }
            playlists
                .iter()
                .map(|r| {
                    let id: i32 = r.get(0);
                    serde_json::json!({"name": r.get::<String, _>(1), "tracks": tracks.remove(&id).unwrap_or_default()})
                })
                .collect()
        }
    };
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

/// Rows of JSON text as one array.
fn join_rows(rows: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * 1024);
    out.push(b'[');
    for (n, r) in rows.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.as_bytes());
    }
    out.push(b']');
    out
}

async fn embed(db: &Shared, which: Embed, way_b: bool) -> Response {
    let i = which as usize;
    let result: Result<Vec<u8>, String> = match (&**db, way_b) {
        (Db::Sqlite { .. }, false) => sqlite_run(db, move |c| embed_sqlite_a(c, which)).await,
        (Db::Sqlite { .. }, true) => {
            sqlite_run(db, move |c| {
                let mut st = c.prepare_cached(SQLITE_B[i])?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                Ok(join_rows(rows.collect::<rusqlite::Result<Vec<_>>>()?))
            })
            .await
        }
        (Db::Postgres(pool), false) => embed_pg_a(pool, which).await.map_err(|e| e.to_string()),
        (Db::Postgres(pool), true) => {
            use sqlx::Row;
            match sqlx::query(PG_B[i]).fetch_all(pool).await {
                Ok(rows) => Ok(join_rows(rows.iter().map(|r| r.get::<String, _>(0)))),
                Err(e) => Err(e.to_string()),
            }
        }
    };
    match result {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => error(e),
    }
}

#[handler]
async fn albums_a(Data(db): Data<&Shared>) -> Response {
    embed(db, Embed::Albums, false).await
}
#[handler]
async fn albums_b(Data(db): Data<&Shared>) -> Response {
    embed(db, Embed::Albums, true).await
}
#[handler]
async fn artists_a(Data(db): Data<&Shared>) -> Response {
    embed(db, Embed::Artists, false).await
}
#[handler]
async fn artists_b(Data(db): Data<&Shared>) -> Response {
    embed(db, Embed::Artists, true).await
}
#[handler]
async fn playlists_a(Data(db): Data<&Shared>) -> Response {
    embed(db, Embed::Playlists, false).await
}
#[handler]
async fn playlists_b(Data(db): Data<&Shared>) -> Response {
    embed(db, Embed::Playlists, true).await
}

#[handler]
fn nodb() -> impl IntoResponse {
    json_response(
        StatusCode::OK,
        br#"{"id":1,"name":"For Those About To Rock (We Salute You)"}"#.to_vec(),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: reference (nodb BIND | sqlite PATH BIND | postgres URL BIND)";
    match args.get(1).map(String::as_str) {
        Some("nodb") => {
            let bind = args.get(2).ok_or(usage)?.clone();
            let app = Route::new().at("/*path", get(nodb));
            Server::new(poem::listener::TcpListener::bind(bind))
                .run(app)
                .await?;
        }
        Some(kind @ ("sqlite" | "postgres")) => {
            let target = args.get(2).ok_or(usage)?.clone();
            let bind = args.get(3).ok_or(usage)?.clone();
            let db = if kind == "sqlite" {
                // The same two SQLite settings restable uses (docs/performance.md): no
                // global memory-statistics mutex on every allocation, and plans that never
                // depend on a bound value, so `WHERE album_id = ?1 ORDER BY id` is not
                // compiled again on every reuse from rusqlite's cache.
                // SAFETY: before the first connection opens; no other thread uses SQLite.
                unsafe {
                    rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS, 0);
                }
                let mut conns = Vec::new();
                for _ in 0..4 {
                    let c = rusqlite::Connection::open(&target)?;
                    c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")?;
                    c.set_db_config(
                        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                        true,
                    )?;
                    c.set_prepared_statement_cache_capacity(64);
                    conns.push(c);
                }
                Db::Sqlite {
                    conns: Mutex::new(conns),
                    slots: Semaphore::new(4),
                }
            } else {
                Db::Postgres(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(16)
                        .test_before_acquire(false)
                        .connect(&target)
                        .await?,
                )
            };
            let app = Route::new()
                .at("/tracks/:id", get(get_one))
                .at("/tracks", get(list).post(insert))
                .at("/a/albums", get(albums_a))
                .at("/b/albums", get(albums_b))
                .at("/a/artists", get(artists_a))
                .at("/b/artists", get(artists_b))
                .at("/a/playlists", get(playlists_a))
                .at("/b/playlists", get(playlists_b))
                .data(Arc::new(db));
            Server::new(poem::listener::TcpListener::bind(bind))
                .run(app)
                .await?;
        }
        _ => return Err(usage.into()),
    }
    Ok(())
}
