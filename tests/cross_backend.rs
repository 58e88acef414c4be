//! The same music data on every available backend must give byte-identical JSON bodies
//! for the same requests (key order fixed by `select`).

mod common;

use common::*;

const REQUESTS: &[&str] = &[
    "/artists?select=id,name&order=id",
    "/artists?select=id,name&name=like.A*&order=name",
    "/artists?select=id,name&name=ilike.*and*",
    "/artists?select=id,name&name=in.(\"Crosby, Stills and Nash\",Accept)",
    "/albums?select=id,title,artist_id,year&order=year.desc",
    "/albums?select=id,year&order=year.nullsfirst,id",
    "/albums?select=id&year=is.null",
    "/albums?select=id,year&year=isdistinct.1980&order=id",
    "/albums?select=id&or=(year.lt.1981,year.gt.2000)&order=id",
    "/albums?select=id&and=(artist_id.eq.1,or(year.eq.1980,year.is.null))",
    "/albums?select=id&not.or=(artist_id.eq.1,artist_id.eq.2)&order=id",
    "/tracks?select=id,name,album_id,milliseconds,unit_price,genre&order=id",
    "/tracks?select=id,unit_price&unit_price=eq.1.29&order=id",
    "/tracks?select=id,milliseconds&milliseconds=gte.300000&milliseconds=lte.343000",
    "/tracks?select=id,genre&genre=eq(any).{Metal,Alternative}&order=id",
    "/tracks?select=id,name&name=match.^[A-H]&order=id",
    "/tracks?select=id,name&name=imatch.STONE",
    "/tracks?select=id&order=unit_price.desc,id&limit=3&offset=2",
    "/tracks?select=id,genre&genre=not.is.null&order=genre,id",
    "/playlist_items?select=playlist_id,track_id&order=track_id.desc",
    "/playlists?select=id,name&id=eq.2",
];

#[test]
fn same_requests_give_identical_bodies_on_every_backend() {
    let servers: Vec<TestServer> = backends().into_iter().map(TestServer::music).collect();
    if servers.len() < 2 {
        eprintln!("notice: only one backend available, nothing to compare");
    }
    for path in REQUESTS {
        let path = path
            .replace('"', "%22")
            .replace(' ', "%20")
            .replace('{', "%7B")
            .replace('}', "%7D")
            .replace('^', "%5E");
        let first = servers[0].get(&path);
        assert_eq!(
            first.status,
            200,
            "{} {path}: {}",
            servers[0].backend.name(),
            first.text
        );
        for other in &servers[1..] {
            let r = other.get(&path);
            assert_eq!(r.status, 200, "{} {path}: {}", other.backend.name(), r.text);
            assert_eq!(
                r.text,
                first.text,
                "{path}: {} and {} differ",
                servers[0].backend.name(),
                other.backend.name()
            );
        }
    }
    // CSV too.
    for path in [
        "/tracks?select=id,name,unit_price,genre&order=id",
        "/artists?select=id,name",
    ] {
        let first = servers[0]
            .req("GET", path)
            .header("accept", "text/csv")
            .send();
        for other in &servers[1..] {
            let r = other.req("GET", path).header("accept", "text/csv").send();
            assert_eq!(
                r.text,
                first.text,
                "{path} as CSV: {} differs",
                other.backend.name()
            );
        }
    }
}
