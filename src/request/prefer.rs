//! The `Prefer` request header (RFC 7240, PostgREST's `Preferences.hs`): which preferences a
//! request asked for, the tokens nobody recognised, and the `Preference-Applied` value for
//! the ones the server honoured. Parsing only; deciding what to honour is the caller's job.

/// `return=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

/// `count=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPref {
    Exact,
    Planned,
    Estimated,
}

/// `resolution=` (upsert).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

/// `missing=`: what a key absent from a body object becomes when `columns=` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Default,
    Null,
}

/// `handling=`: whether unrecognised preferences are an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handling {
    Lenient,
    Strict,
}

/// `tx=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tx {
    Commit,
    Rollback,
}

impl ReturnPref {
    /// The token as sent and echoed, e.g. `return=representation`.
    pub fn token(self) -> &'static str {
        match self {
            ReturnPref::Minimal => "return=minimal",
            ReturnPref::HeadersOnly => "return=headers-only",
            ReturnPref::Representation => "return=representation",
        }
    }
}

impl CountPref {
    pub fn token(self) -> &'static str {
        match self {
            CountPref::Exact => "count=exact",
            CountPref::Planned => "count=planned",
            CountPref::Estimated => "count=estimated",
        }
    }
}

impl Resolution {
    pub fn token(self) -> &'static str {
        match self {
            Resolution::MergeDuplicates => "resolution=merge-duplicates",
            Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
        }
    }
}

impl Missing {
    pub fn token(self) -> &'static str {
        match self {
            Missing::Default => "missing=default",
            Missing::Null => "missing=null",
        }
    }
}

impl Handling {
    pub fn token(self) -> &'static str {
        match self {
            Handling::Lenient => "handling=lenient",
            Handling::Strict => "handling=strict",
        }
    }
}

impl Tx {
    pub fn token(self) -> &'static str {
        match self {
            Tx::Commit => "tx=commit",
            Tx::Rollback => "tx=rollback",
        }
    }
}

/// Everything the `Prefer` headers asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub return_: Option<ReturnPref>,
    pub count: Option<CountPref>,
    pub resolution: Option<Resolution>,
    pub missing: Option<Missing>,
    pub handling: Option<Handling>,
    pub max_affected: Option<u64>,
    pub tx: Option<Tx>,
    pub timezone: Option<String>,
    /// Unrecognised tokens, verbatim (trimmed), in header order.
    pub invalid: Vec<String>,
}

/// Which preferences the server honoured, for [`Preferences::applied_header`]. A flag set
/// for a preference that was not asked for is ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub resolution: bool,
    pub missing: bool,
    pub return_: bool,
    pub count: bool,
    pub tx: bool,
    pub handling: bool,
    pub timezone: bool,
    pub max_affected: bool,
}

impl Applied {
    /// Every flag set.
    pub const ALL: Applied = Applied {
        resolution: true,
        missing: true,
        return_: true,
        count: true,
        tx: true,
        handling: true,
        timezone: true,
        max_affected: true,
    };
}

/// Parse the values of every `Prefer` header of a request, in order.
///
/// Every header is split on `,` and each token trimmed; empty tokens are skipped; tokens
/// are matched exactly (case-sensitive, as PostgREST does); for each category the first
/// occurrence wins and later ones of the same category are ignored (not invalid). Anything
/// unrecognised is kept verbatim in [`Preferences::invalid`], including a `max-affected=`
/// that is not a non-negative integer and an empty `timezone=`. The timezone value is not
/// validated here (the database does that). `params=single-object` (RPC only) is not
/// recognised.
pub fn parse_prefer<'a>(headers: impl IntoIterator<Item = &'a str>) -> Preferences {
    let mut p = Preferences::default();
    for header in headers {
        for token in header.split(',').map(str::trim) {
            if token.is_empty() {
                continue;
            }
            if !p.take(token) {
                p.invalid.push(token.to_string());
            }
        }
    }
    p
}

impl Preferences {
    /// Record one token; `false` when it is not a recognised preference.
    fn take(&mut self, token: &str) -> bool {
        fn first<T>(slot: &mut Option<T>, v: T) -> bool {
            if slot.is_none() {
                *slot = Some(v);
            }
            true
        }
        match token {
            "return=minimal" => first(&mut self.return_, ReturnPref::Minimal),
            "return=headers-only" => first(&mut self.return_, ReturnPref::HeadersOnly),
            "return=representation" => first(&mut self.return_, ReturnPref::Representation),
            "count=exact" => first(&mut self.count, CountPref::Exact),
            "count=planned" => first(&mut self.count, CountPref::Planned),
            "count=estimated" => first(&mut self.count, CountPref::Estimated),
            "resolution=merge-duplicates" => {
                first(&mut self.resolution, Resolution::MergeDuplicates)
            }
            "resolution=ignore-duplicates" => {
                first(&mut self.resolution, Resolution::IgnoreDuplicates)
            }
            "missing=default" => first(&mut self.missing, Missing::Default),
            "missing=null" => first(&mut self.missing, Missing::Null),
            "handling=lenient" => first(&mut self.handling, Handling::Lenient),
            "handling=strict" => first(&mut self.handling, Handling::Strict),
            "tx=commit" => first(&mut self.tx, Tx::Commit),
            "tx=rollback" => first(&mut self.tx, Tx::Rollback),
            _ => {
                if let Some(n) = token.strip_prefix("max-affected=") {
                    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
                    match n.parse::<u64>() {
                        Ok(n) if digits => first(&mut self.max_affected, n),
                        _ => false,
                    }
                } else if let Some(tz) = token.strip_prefix("timezone=") {
                    !tz.is_empty() && first(&mut self.timezone, tz.to_string())
                } else {
                    false
                }
            }
        }
    }

    /// `true` when `handling=strict` was asked for.
    pub fn is_strict(&self) -> bool {
        self.handling == Some(Handling::Strict)
    }

    /// The `details` of PostgREST's PGRST122 error (`Invalid preferences: foo, bar`) when
    /// `handling=strict` was asked for and some tokens were not recognised; else `None`.
    pub fn strict_violation(&self) -> Option<String> {
        if self.is_strict() && !self.invalid.is_empty() {
            Some(format!("Invalid preferences: {}", self.invalid.join(", ")))
        } else {
            None
        }
    }

    /// Each preference asked for, as sent (`timezone=UTC`), with whether `applied` flags
    /// it and whether it is `handling` (never "not applied": it only says how to treat the
    /// others), in PostgREST's fixed order `resolution, missing, return, count, tx,
    /// handling, timezone, max-affected`.
    fn asked(&self, applied: Applied) -> Vec<(bool, bool, String)> {
        let tokens = [
            (
                applied.resolution,
                false,
                self.resolution.map(|v| v.token().to_string()),
            ),
            (
                applied.missing,
                false,
                self.missing.map(|v| v.token().to_string()),
            ),
            (
                applied.return_,
                false,
                self.return_.map(|v| v.token().to_string()),
            ),
            (
                applied.count,
                false,
                self.count.map(|v| v.token().to_string()),
            ),
            (applied.tx, false, self.tx.map(|v| v.token().to_string())),
            (
                applied.handling,
                true,
                self.handling.map(|v| v.token().to_string()),
            ),
            (
                applied.timezone,
                false,
                self.timezone.as_ref().map(|tz| format!("timezone={tz}")),
            ),
            (
                applied.max_affected,
                false,
                self.max_affected.map(|n| format!("max-affected={n}")),
            ),
        ];
        tokens
            .into_iter()
            .filter_map(|(flag, handling, token)| token.map(|t| (flag, handling, t)))
            .collect()
    }

    /// The preferences that were asked for but are not flagged in `applied`, as sent
    /// (`timezone=UTC`), in the `Preference-Applied` order.
    pub fn not_applied(&self, applied: Applied) -> Vec<String> {
        self.asked(applied)
            .into_iter()
            .filter(|(flag, handling, _)| !flag && !handling)
            .map(|(_, _, t)| t)
            .collect()
    }

    /// The `Preference-Applied` header value: the preferences that were asked for *and*
    /// flagged in `applied`, in PostgREST's fixed order, joined by `", "`. `None` when that
    /// is nothing.
    ///
    /// The caller decides what was honoured (PostgREST: `return` only on writes, `missing`
    /// only on POST/PATCH, `resolution` only for an upsert that happened, `max-affected`
    /// only together with `handling=strict`, `count` whenever given).
    pub fn applied_header(&self, applied: Applied) -> Option<String> {
        let parts: Vec<String> = self
            .asked(applied)
            .into_iter()
            .filter(|(flag, _, _)| *flag)
            .map(|(_, _, t)| t)
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &[&str]) -> Preferences {
        parse_prefer(h.iter().copied())
    }

    #[test]
    fn empty_and_absent() {
        assert_eq!(p(&[]), Preferences::default());
        assert_eq!(p(&[""]), Preferences::default());
        assert_eq!(p(&[" , ,"]), Preferences::default());
        assert_eq!(p(&[]).applied_header(Applied::ALL), None);
    }

    #[test]
    fn one_header_many_values() {
        let x = p(&["resolution=ignore-duplicates, count=exact, timezone=America/Los_Angeles, max-affected=100"]);
        assert_eq!(x.resolution, Some(Resolution::IgnoreDuplicates));
        assert_eq!(x.count, Some(CountPref::Exact));
        assert_eq!(x.timezone.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(x.max_affected, Some(100));
        assert!(x.invalid.is_empty());
        assert_eq!(x.return_, None);
    }

    #[test]
    fn many_headers() {
        let x = p(&[
            "resolution=ignore-duplicates",
            "count=exact",
            "missing=null",
            "handling=lenient",
            "invalid",
            "max-affected=5999",
        ]);
        assert_eq!(x.resolution, Some(Resolution::IgnoreDuplicates));
        assert_eq!(x.count, Some(CountPref::Exact));
        assert_eq!(x.missing, Some(Missing::Null));
        assert_eq!(x.handling, Some(Handling::Lenient));
        assert_eq!(x.max_affected, Some(5999));
        assert_eq!(x.invalid, vec!["invalid".to_string()]);
    }

    #[test]
    fn first_occurrence_wins() {
        assert_eq!(p(&["tx=commit, tx=rollback"]).tx, Some(Tx::Commit));
        assert_eq!(
            p(&[
                "resolution=ignore-duplicates",
                "resolution=merge-duplicates"
            ])
            .resolution,
            Some(Resolution::IgnoreDuplicates)
        );
        let x = p(&[
            "return=minimal,return=representation",
            "count=planned, count=exact",
        ]);
        assert_eq!(x.return_, Some(ReturnPref::Minimal));
        assert_eq!(x.count, Some(CountPref::Planned));
        assert!(x.invalid.is_empty(), "later duplicates are not invalid");
        let x = p(&[
            "max-affected=3, max-affected=9",
            "timezone=UTC",
            "timezone=CET",
        ]);
        assert_eq!(x.max_affected, Some(3));
        assert_eq!(x.timezone.as_deref(), Some("UTC"));
    }

    #[test]
    fn arbitrary_spacing() {
        let x = p(&["count=exact,    tx=commit   ,return=representation , missing=default, handling=strict, anything"]);
        assert_eq!(x.return_, Some(ReturnPref::Representation));
        assert_eq!(x.count, Some(CountPref::Exact));
        assert_eq!(x.tx, Some(Tx::Commit));
        assert_eq!(x.missing, Some(Missing::Default));
        assert_eq!(x.handling, Some(Handling::Strict));
        assert_eq!(x.invalid, vec!["anything".to_string()]);
    }

    #[test]
    fn all_values() {
        for (t, r) in [
            ("return=minimal", ReturnPref::Minimal),
            ("return=headers-only", ReturnPref::HeadersOnly),
            ("return=representation", ReturnPref::Representation),
        ] {
            assert_eq!(p(&[t]).return_, Some(r));
            assert_eq!(r.token(), t);
        }
        for (t, r) in [
            ("count=exact", CountPref::Exact),
            ("count=planned", CountPref::Planned),
            ("count=estimated", CountPref::Estimated),
        ] {
            assert_eq!(p(&[t]).count, Some(r));
            assert_eq!(r.token(), t);
        }
        for (t, r) in [
            ("resolution=merge-duplicates", Resolution::MergeDuplicates),
            ("resolution=ignore-duplicates", Resolution::IgnoreDuplicates),
        ] {
            assert_eq!(p(&[t]).resolution, Some(r));
            assert_eq!(r.token(), t);
        }
        for (t, r) in [
            ("missing=default", Missing::Default),
            ("missing=null", Missing::Null),
        ] {
            assert_eq!(p(&[t]).missing, Some(r));
            assert_eq!(r.token(), t);
        }
        for (t, r) in [
            ("handling=lenient", Handling::Lenient),
            ("handling=strict", Handling::Strict),
        ] {
            assert_eq!(p(&[t]).handling, Some(r));
            assert_eq!(r.token(), t);
        }
        for (t, r) in [("tx=commit", Tx::Commit), ("tx=rollback", Tx::Rollback)] {
            assert_eq!(p(&[t]).tx, Some(r));
            assert_eq!(r.token(), t);
        }
    }

    #[test]
    fn unrecognised_tokens() {
        let x = p(&[
            "count=none, Return=minimal, return = minimal, max-affected=abc, max-affected=-1, \
             max-affected=+5, timezone=, params=single-object, foo=bar=baz, é",
        ]);
        assert_eq!(
            x.invalid,
            vec![
                "count=none",
                "Return=minimal",
                "return = minimal",
                "max-affected=abc",
                "max-affected=-1",
                "max-affected=+5",
                "timezone=",
                "params=single-object",
                "foo=bar=baz",
                "é",
            ]
        );
        assert_eq!(x.count, None);
        assert_eq!(x.return_, None);
        assert_eq!(x.max_affected, None);
        assert_eq!(x.timezone, None);
        // An invalid max-affected does not block a later valid one.
        assert_eq!(p(&["max-affected=x, max-affected=7"]).max_affected, Some(7));
        // Too large for u64.
        assert_eq!(
            p(&["max-affected=99999999999999999999999"]).invalid.len(),
            1
        );
    }

    #[test]
    fn strict_handling() {
        // §11.7 55: `Prefer: handling=strict, foo` -> PGRST122 "Invalid preferences: foo".
        let x = p(&["handling=strict, foo"]);
        assert!(x.is_strict());
        assert_eq!(
            x.strict_violation().as_deref(),
            Some("Invalid preferences: foo")
        );
        let x = p(&["handling=strict, foo, bar"]);
        assert_eq!(
            x.strict_violation().as_deref(),
            Some("Invalid preferences: foo, bar")
        );
        assert_eq!(p(&["handling=lenient, foo"]).strict_violation(), None);
        assert_eq!(p(&["foo"]).strict_violation(), None);
        assert_eq!(p(&["handling=strict"]).strict_violation(), None);
        // First handling wins.
        assert!(!p(&["handling=lenient, handling=strict, foo"]).is_strict());
    }

    #[test]
    fn applied_header_order_and_flags() {
        // §11.6 43, 46, §11.6 40, §11.4 28, §11.7 55.
        let x = p(&["missing=default, return=representation"]);
        assert_eq!(
            x.applied_header(Applied::ALL).as_deref(),
            Some("missing=default, return=representation")
        );
        let x = p(&["return=representation, resolution=merge-duplicates"]);
        assert_eq!(
            x.applied_header(Applied::ALL).as_deref(),
            Some("resolution=merge-duplicates, return=representation")
        );
        let x = p(&["return=representation, count=exact"]);
        assert_eq!(
            x.applied_header(Applied::ALL).as_deref(),
            Some("return=representation, count=exact")
        );
        let x = p(&["count=exact"]);
        assert_eq!(
            x.applied_header(Applied {
                count: true,
                ..Applied::default()
            })
            .as_deref(),
            Some("count=exact")
        );
        let x = p(&["max-affected=10, handling=strict"]);
        assert_eq!(
            x.applied_header(Applied::ALL).as_deref(),
            Some("handling=strict, max-affected=10")
        );
        let x = p(&["handling=lenient, max-affected=1"]);
        assert_eq!(
            x.applied_header(Applied {
                handling: true,
                ..Applied::default()
            })
            .as_deref(),
            Some("handling=lenient")
        );
        let x = p(&[
            "max-affected=5, timezone=UTC, handling=strict, tx=rollback, count=planned, \
             return=minimal, missing=null, resolution=ignore-duplicates",
        ]);
        assert_eq!(
            x.applied_header(Applied::ALL).as_deref(),
            Some(
                "resolution=ignore-duplicates, missing=null, return=minimal, count=planned, \
                 tx=rollback, handling=strict, timezone=UTC, max-affected=5"
            )
        );
        // Flags without the preference, or preferences without the flag: nothing.
        assert_eq!(p(&["count=exact"]).applied_header(Applied::default()), None);
        assert_eq!(
            p(&["foo"]).applied_header(Applied::ALL),
            None,
            "invalid tokens are never echoed"
        );
        let x = p(&["return=representation, count=exact"]);
        assert_eq!(
            x.applied_header(Applied {
                count: true,
                ..Applied::default()
            })
            .as_deref(),
            Some("count=exact")
        );
    }
}
