//! Row ownership (SPEC 4.7, `owner_column` + `owner_claim`): a service's reads and writes
//! confined to the rows whose owner column equals a claim of the caller's token, on every
//! backend. Turns the caller into conditions and values of the plans; knows no SQL or
//! HTTP.

use super::write::{Assign, InsertPlan, PutPlan};
use super::{value, Condition, SqlValue};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::request::ast::CmpOp;
use crate::schema::Service;

fn forbidden(message: String) -> ApiError {
    ApiError::Forbidden { message }
}

/// The owner column of `svc` and the caller's value for it; `None` when the service has
/// no owner. A caller without the claim (or whose claim does not fit the column) may not
/// use the service at all.
pub fn owner_value(svc: &Service, caller: &Caller) -> ApiResult<Option<(usize, SqlValue)>> {
    let Some(owner) = &svc.owner else {
        return Ok(None);
    };
    let col = &svc.columns[owner.column];
    let Some(text) = caller.claim_text(&owner.claim) else {
        return Err(forbidden(format!(
            "'{}' holds rows of their owners: the token needs a '{}' claim",
            svc.name, owner.claim
        )));
    };
    let v = value::from_text(col, &text).map_err(|_| {
        forbidden(format!(
            "the token's '{}' claim does not fit column '{}' of '{}'",
            owner.claim, col.name, svc.name
        ))
    })?;
    Ok(Some((owner.column, v)))
}

/// Rows of `svc` the caller owns (`None`: every row).
pub fn owner_condition(svc: &Service, caller: &Caller) -> ApiResult<Option<Condition>> {
    Ok(
        owner_value(svc, caller)?.map(|(column, value)| Condition::Compare {
            column,
            op: CmpOp::Eq,
            value,
        }),
    )
}

/// `filter` confined to the caller's rows.
pub fn confine(
    svc: &Service,
    caller: &Caller,
    filter: Option<Condition>,
) -> ApiResult<Option<Condition>> {
    Ok(match (owner_condition(svc, caller)?, filter) {
        (None, f) => f,
        (Some(o), None) => Some(o),
        (Some(o), Some(f)) => Some(Condition::And(vec![o, f])),
    })
}

fn giving_away(svc: &Service, column: usize) -> ApiError {
    forbidden(format!(
        "column '{}' of '{}' must be the caller's own '{}' claim",
        svc.columns[column].name,
        svc.name,
        svc.owner.as_ref().map_or("sub", |o| o.claim.as_str())
    ))
}

/// Every inserted row gets the caller as owner: rows without the column get the claim,
/// rows with another value are refused.
pub fn own_insert(plan: &mut InsertPlan, caller: &Caller) -> ApiResult<()> {
    let Some((column, v)) = owner_value(&plan.service, caller)? else {
        return Ok(());
    };
    for batch in &mut plan.batches {
        match batch.columns.iter().position(|c| *c == column) {
            Some(at) => {
                if batch.rows.iter().any(|r| r[at] != v) {
                    return Err(giving_away(&plan.service, column));
                }
            }
            None => {
                batch.columns.push(column);
                for r in &mut batch.rows {
                    r.push(v.clone());
                }
            }
        }
    }
    plan.owner = Some((column, v));
    Ok(())
}

/// A PATCH may set the owner column only to the caller's own value.
pub fn own_update(svc: &Service, set: &[(usize, Assign)], caller: &Caller) -> ApiResult<()> {
    let Some((column, v)) = owner_value(svc, caller)? else {
        return Ok(());
    };
    match set.iter().find(|(c, _)| *c == column) {
        Some((_, Assign::Value(x))) if *x != v => Err(giving_away(svc, column)),
        Some((_, Assign::Default)) => Err(giving_away(svc, column)),
        _ => Ok(()),
    }
}

/// PUT: the key confined to the caller's rows, the row written with the caller as owner.
pub fn own_put(plan: &mut PutPlan, caller: &Caller) -> ApiResult<()> {
    let Some((column, v)) = owner_value(&plan.service, caller)? else {
        return Ok(());
    };
    let svc = &plan.service;
    match plan.insert.columns.iter().position(|c| *c == column) {
        Some(at) if plan.insert.rows.iter().any(|r| r[at] != v) => {
            return Err(giving_away(svc, column))
        }
        Some(_) => {}
        None => {
            plan.insert.columns.push(column);
            for r in &mut plan.insert.rows {
                r.push(v.clone());
            }
        }
    }
    match plan.update.iter_mut().find(|(c, _)| *c == column) {
        Some((_, a)) => *a = Assign::Value(v.clone()),
        None => plan.update.push((column, Assign::Value(v.clone()))),
    }
    plan.key = Condition::And(vec![
        plan.key.clone(),
        Condition::Compare {
            column,
            op: CmpOp::Eq,
            value: v,
        },
    ]);
    Ok(())
}
