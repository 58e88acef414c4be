//! Property tests of the query grammar: no input, however hostile, panics or hangs the
//! parser; every refusal is a 4xx error. Bounded (a few thousand cases) so CI stays fast.

use proptest::prelude::*;

fn check(q: &str) {
    match restable::request::parse_query(q) {
        Ok(_) => {}
        Err(e) => {
            let status = e.status();
            assert!((400..500).contains(&status), "{q:?} gave {status}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_query_strings(q in "\\PC{0,300}") {
        check(&q);
    }

    #[test]
    fn filter_shaped_strings(
        col in "[a-z_\"]{1,8}",
        op in prop::sample::select(vec![
            "eq", "neq", "gt", "like", "ilike", "match", "in", "is", "isdistinct", "not.eq",
            "not.in", "eq(any)", "like(all)", "not", "",
        ]),
        value in "[(),.\"\\\\a-zA-Z0-9*{}% +é]{0,60}",
    ) {
        check(&format!("{col}={op}.{value}"));
        check(&format!("select={value}&order={value}&limit={value}"));
    }

    #[test]
    fn logic_trees(
        head in prop::sample::select(vec!["or", "and", "not.or", "not.and", "albums.or"]),
        body in "[a-z.(),\"0-9 *{}]{0,200}",
        depth in 0usize..80,
    ) {
        let nested = format!("{}{body}{}", "or(".repeat(depth), ")".repeat(depth));
        check(&format!("{head}=({body})"));
        check(&format!("{head}=({nested})"));
    }

    #[test]
    fn percent_escapes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let q: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
        check(&format!("name=eq.{q}"));
        check(&q);
    }
}
