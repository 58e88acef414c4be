mod common;

use common::*;
use serde_json::json;

#[test]
fn read_and_write_round_trip() {
    each_backend(|s| {
        let r = s.get("/artists?id=eq.2");
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), json!([{"id": 2, "name": "Accept"}]));
        assert_eq!(r.header("content-range"), Some("0-0/*"));
        let r = s.post("/artists", &json!({"id": 6, "name": "Deep Purple"}));
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json(), json!({"id": 6, "name": "Deep Purple"}));
        assert_eq!(r.header("location"), Some("/artists/6"));
        s.get("/tracks?id=eq.abc")
            .assert_error(400, "invalid_value");
    });
}
