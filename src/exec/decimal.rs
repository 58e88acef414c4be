//! Exact sums and averages of integers and decimals for SQLite, which stores a
//! `NUMERIC(p,s)` value as an INTEGER, a REAL or (restable's exact form) text digits and
//! would sum them as doubles. Each value is read as the decimal the encoder writes for it
//! (a REAL at the column's scale, else its shortest form), summed exactly, and an average
//! is rounded to the scale PostgreSQL's numeric division picks, so that `sum()`/`avg()`
//! answer as on PostgreSQL. Pure arithmetic: the SQLite executor registers the functions.

/// A running exact sum: `mantissa / 10^scale`, with the number of values.
#[derive(Debug, Clone, Default)]
pub struct DecimalSum {
    mantissa: i128,
    scale: u32,
    count: u64,
    /// The exact sum left i128's range: the rest is summed as a double.
    overflow: Option<f64>,
}

/// A value as SQLite hands it over.
pub enum Value<'a> {
    Integer(i64),
    Real(f64),
    Text(&'a [u8]),
}

/// Digits of an exact decimal (`-12.50`): mantissa and scale.
fn parse(text: &str) -> Option<(i128, u32)> {
    let t = text.trim();
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut m: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        m = m.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
    }
    let scale = u32::try_from(frac.len()).ok()?;
    Some((if neg { -m } else { m }, scale))
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl DecimalSum {
    /// Add one value of a column whose declared scale is `scale` (`None`: unscaled).
    pub fn add(&mut self, v: Value<'_>, scale: Option<usize>) {
        self.count += 1;
        let exact = match v {
            Value::Integer(i) => Some((i128::from(i), 0)),
            Value::Real(f) if f.is_finite() => match scale {
                Some(s) => parse(&format!("{f:.s$}")),
                None => parse(&format!("{f}")),
            },
            Value::Real(_) => None,
            Value::Text(t) => {
                let text = String::from_utf8_lossy(t);
                // SQLite sums text that is no number as 0.
                parse(&text)
                    .or_else(|| {
                        let f = text.trim().parse::<f64>().ok().filter(|f| f.is_finite())?;
                        parse(&format!("{f}"))
                    })
                    .or(Some((0, 0)))
            }
        };
        let as_double = |m: i128, s: u32| m as f64 / 10f64.powi(s as i32);
        match (exact, self.overflow) {
            (Some((m, s)), None) => {
                if let Some(sum) = self.add_exact(m, s) {
                    (self.mantissa, self.scale) = sum;
                } else {
                    self.overflow = Some(as_double(self.mantissa, self.scale) + as_double(m, s));
                }
            }
            (Some((m, s)), Some(d)) => self.overflow = Some(d + as_double(m, s)),
            (None, d) => {
                let f = if let Value::Real(f) = v { f } else { 0.0 };
                self.overflow = Some(d.unwrap_or_else(|| as_double(self.mantissa, self.scale)) + f);
            }
        }
    }

    fn add_exact(&self, m: i128, s: u32) -> Option<(i128, u32)> {
        let scale = self.scale.max(s);
        let a = self.mantissa.checked_mul(pow10(scale - self.scale)?)?;
        let b = m.checked_mul(pow10(scale - s)?)?;
        Some((a.checked_add(b)?, scale))
    }

    /// The sum as its text digits (all the decimals of the inputs), `None` without values.
    pub fn sum_text(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        if let Some(d) = self.overflow {
            return Some(format!("{d}"));
        }
        Some(decimal_text(
            self.mantissa < 0,
            &self.mantissa.unsigned_abs().to_string(),
            self.scale,
        ))
    }

    /// The sum as an integer, when it is one that fits 64 bits.
    pub fn sum_integer(&self) -> Option<i64> {
        if self.count == 0 || self.overflow.is_some() || self.scale != 0 {
            return None;
        }
        i64::try_from(self.mantissa).ok()
    }

    /// The average as PostgreSQL's `avg` writes it: `sum / count` rounded half away from
    /// zero to `select_div_scale`'s scale. `None` without values.
    pub fn avg_text(&self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        if let Some(d) = self.overflow {
            return Some(format!("{}", d / self.count as f64));
        }
        let digits = self.mantissa.unsigned_abs().to_string();
        let rscale = div_scale(&digits, self.scale, self.count);
        // |sum| * 10^(rscale - scale) / count, by long division over the digits.
        let numerator = digits
            .bytes()
            .chain(std::iter::repeat_n(b'0', (rscale - self.scale) as usize));
        let n = u128::from(self.count);
        let mut rem: u128 = 0;
        let mut q: Vec<u8> = Vec::with_capacity(digits.len() + rscale as usize);
        for d in numerator {
            rem = rem * 10 + u128::from(d - b'0');
            q.push(b'0' + (rem / n) as u8);
            rem %= n;
        }
        if rem * 2 >= n {
            // Round the last digit up, carrying.
            let mut i = q.len();
            loop {
                if i == 0 {
                    q.insert(0, b'1');
                    break;
                }
                i -= 1;
                if q[i] == b'9' {
                    q[i] = b'0';
                } else {
                    q[i] += 1;
                    break;
                }
            }
        }
        let text = String::from_utf8(q).unwrap_or_default();
        let text = text.trim_start_matches('0');
        Some(decimal_text(self.mantissa < 0, text, rscale))
    }
}

/// `digits` (an integer's, possibly empty for 0) with a point `scale` places from the right.
fn decimal_text(negative: bool, digits: &str, scale: u32) -> String {
    let scale = scale as usize;
    let digits = digits.trim_start_matches('0');
    let padded = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits.to_string()
    };
    let (int, frac) = padded.split_at(padded.len() - scale);
    let zero = padded.bytes().all(|b| b == b'0');
    let mut out = String::with_capacity(padded.len() + 2);
    if negative && !zero {
        out.push('-');
    }
    out.push_str(int);
    if scale > 0 {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// PostgreSQL's `select_div_scale` for `sum / count`, `sum` being the digits of its
/// absolute value with `scale` decimals: at least 16 significant digits (estimated from
/// the base-10000 weight and first digit of each), at least the sum's scale, at most 1000.
fn div_scale(digits: &str, scale: u32, count: u64) -> u32 {
    let digits = digits.trim_start_matches('0');
    let scale_u = scale as usize;
    let (int, frac) = if digits.len() > scale_u {
        digits.split_at(digits.len() - scale_u)
    } else {
        ("", digits)
    };
    let frac = format!("{}{frac}", "0".repeat(scale_u - frac.len()));
    let group = |s: &str| s.parse::<u64>().unwrap_or(0);
    let (w1, d1): (i64, u64) = if !int.is_empty() {
        let w = (int.len() as i64 - 1) / 4;
        let lead = int.len() - 4 * w as usize;
        (w, group(&int[..lead]))
    } else if let Some(first) = frac.bytes().position(|b| b != b'0') {
        let k = first / 4;
        let end = (4 * k + 4).min(frac.len());
        let g = format!("{:0<4}", &frac[4 * k..end]);
        (-(k as i64) - 1, group(&g))
    } else {
        (0, 0)
    };
    let n = count.to_string();
    let w2 = (n.len() as i64 - 1) / 4;
    let d2 = group(&n[..n.len() - 4 * w2 as usize]);
    let qweight = w1 - w2 - i64::from(d1 <= d2);
    (16 - qweight * 4).max(i64::from(scale)).clamp(0, 1000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[Value<'_>], scale: Option<usize>) -> DecimalSum {
        let mut s = DecimalSum::default();
        for v in values {
            let v = match v {
                Value::Integer(i) => Value::Integer(*i),
                Value::Real(f) => Value::Real(*f),
                Value::Text(t) => Value::Text(t),
            };
            s.add(v, scale);
        }
        s
    }

    #[test]
    fn sums_are_exact() {
        // 0.99 three times as doubles is 2.9699999999999998.
        let s = sum_of(
            &[Value::Real(0.99), Value::Real(0.99), Value::Real(0.99)],
            Some(2),
        );
        assert_eq!(s.sum_text().as_deref(), Some("2.97"));
        let s = sum_of(
            &[Value::Integer(5), Value::Text(b"1.125"), Value::Real(0.1)],
            None,
        );
        assert_eq!(s.sum_text().as_deref(), Some("6.225"));
        let s = sum_of(&[Value::Integer(i64::MAX), Value::Integer(i64::MAX)], None);
        assert_eq!(s.sum_text().as_deref(), Some("18446744073709551614"));
        assert_eq!(s.sum_integer(), None);
        assert_eq!(sum_of(&[Value::Integer(-3)], None).sum_integer(), Some(-3));
        assert_eq!(sum_of(&[], None).sum_text(), None);
        assert_eq!(sum_of(&[], None).avg_text(), None);
        let s = sum_of(&[Value::Real(-0.5), Value::Real(0.25)], Some(2));
        assert_eq!(s.sum_text().as_deref(), Some("-0.25"));
    }

    #[test]
    fn averages_have_postgresqls_scale() {
        // Each answer is PostgreSQL 15's `avg` of the same values.
        let cases: &[(&[Value<'_>], Option<usize>, &str)] = &[
            (
                &[Value::Integer(100), Value::Integer(200)],
                None,
                "150.0000000000000000",
            ),
            (
                &[Value::Real(0.99), Value::Real(1.99)],
                Some(2),
                "1.49000000000000000000",
            ),
            (
                &[Value::Integer(1378778040), Value::Integer(0)],
                None,
                "689389020.00000000",
            ),
            (
                &[Value::Real(0.01), Value::Real(0.02)],
                Some(2),
                "0.01500000000000000000",
            ),
            (
                &[Value::Real(0.0), Value::Real(0.0), Value::Real(0.01)],
                Some(2),
                "0.00333333333333333333",
            ),
            (
                &[Value::Integer(1), Value::Integer(1), Value::Integer(2)],
                None,
                "1.3333333333333333",
            ),
            (
                &[Value::Integer(1), Value::Integer(2)],
                None,
                "1.5000000000000000",
            ),
            (
                &[Value::Integer(2), Value::Integer(4)],
                None,
                "3.0000000000000000",
            ),
            (
                &[Value::Integer(-1), Value::Integer(-2)],
                None,
                "-1.5000000000000000",
            ),
            (
                &[Value::Integer(0), Value::Integer(0)],
                None,
                "0.00000000000000000000",
            ),
            (
                &[Value::Integer(2), Value::Integer(1)],
                None,
                "1.5000000000000000",
            ),
        ];
        for (values, scale, want) in cases {
            assert_eq!(
                sum_of(values, *scale).avg_text().as_deref(),
                Some(*want),
                "{want}"
            );
        }
    }
}
