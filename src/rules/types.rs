//! What rule scripts may read and call: the model's types registered with Rhai, read-only, and
//! the constructors of decisions and actions.

use std::sync::Arc;

use rhai::{Dynamic, Engine, EvalAltResult, ImmutableString, NativeCallContext};

use crate::model::{
    Action, Creator, Decision, LedgerView, Post, Product, Sample, SampleRequest, Verdict, DAY,
};

/// The functions, types and properties that scripts may use, registered once per engine.
pub(crate) fn register(engine: &mut Engine) {
    fn text(s: &ImmutableString) -> ImmutableString {
        s.clone()
    }
    fn opt(v: Option<f64>) -> Dynamic {
        v.map_or(Dynamic::UNIT, Dynamic::from_float)
    }
    engine
        .register_type_with_name::<Arc<SampleRequest>>("Request")
        .register_get("sample", |r: &mut Arc<SampleRequest>| text(&r.sample))
        .register_get("quantity", |r: &mut Arc<SampleRequest>| r.quantity)
        .register_get("auto_approvals_today", |r: &mut Arc<SampleRequest>| {
            r.auto_approvals_today
        })
        .register_get("tier", |r: &mut Arc<SampleRequest>| text(&r.tier))
        .register_get("at", |r: &mut Arc<SampleRequest>| r.at.to_rfc3339());

    engine
        .register_type_with_name::<Arc<Creator>>("Creator")
        .register_get("id", |c: &mut Arc<Creator>| text(&c.id))
        .register_get("followers", |c: &mut Arc<Creator>| c.followers)
        .register_get("engagement_rate", |c: &mut Arc<Creator>| c.engagement_rate)
        .register_get("posts_30d", |c: &mut Arc<Creator>| c.posts_30d)
        .register_get("gmv_30d", |c: &mut Arc<Creator>| opt(c.gmv_30d))
        .register_get("avg_video_views", |c: &mut Arc<Creator>| {
            opt(c.avg_video_views)
        })
        .register_get("fulfillment_rate_90d", |c: &mut Arc<Creator>| {
            opt(c.fulfillment_rate_90d)
        })
        .register_get("fulfillment_known", |c: &mut Arc<Creator>| {
            c.fulfillment_rate_90d.is_some()
        })
        .register_get("top_categories", |c: &mut Arc<Creator>| {
            c.top_categories
                .iter()
                .cloned()
                .map(Dynamic::from)
                .collect::<rhai::Array>()
        })
        .register_fn("has_top_category", |c: &mut Arc<Creator>, cat: &str| {
            c.top_categories.iter().any(|t| t.as_str() == cat)
        });

    engine
        .register_type_with_name::<Arc<Product>>("Product")
        .register_get("id", |p: &mut Arc<Product>| text(&p.id))
        .register_get("category", |p: &mut Arc<Product>| text(&p.category))
        .register_get("price", |p: &mut Arc<Product>| p.price)
        .register_get("unit_cost", |p: &mut Arc<Product>| p.unit_cost)
        .register_fn("has_flag", |p: &mut Arc<Product>, flag: &str| {
            p.flags.iter().any(|f| f.as_str() == flag)
        });

    engine
        .register_type_with_name::<LedgerView>("Ledger")
        .register_get("samples", |l: &mut LedgerView| l.ledger.samples)
        .register_get("completed", |l: &mut LedgerView| l.ledger.completed)
        .register_get("credit", |l: &mut LedgerView| l.ledger.credit)
        .register_get("gmv", |l: &mut LedgerView| l.ledger.gmv)
        .register_get("blocked", |l: &mut LedgerView| l.blocked())
        .register_get("paid_collab_invited", |l: &mut LedgerView| {
            l.ledger.paid_collab_invited
        })
        .register_get("tier", |l: &mut LedgerView| {
            l.ledger
                .tier
                .as_deref()
                .map_or(Dynamic::UNIT, |t| Dynamic::from(ImmutableString::from(t)))
        })
        .register_get("quarter", |l: &mut LedgerView| l.quarter.to_string())
        .register_fn("breaches_within", |l: &mut LedgerView, secs: i64| {
            l.breaches_within(secs)
        })
        .register_fn("has_product", |l: &mut LedgerView, product: &str| {
            l.has_product(product)
        })
        .register_fn(
            "cancelled_within",
            |l: &mut LedgerView, product: &str, secs: i64| l.cancelled_within(product, secs),
        )
        .register_fn("approvals_this_quarter", |l: &mut LedgerView, cat: &str| {
            l.approvals_this_quarter(cat)
        });

    engine
        .register_type_with_name::<Arc<Post>>("Post")
        .register_get("content_id", |p: &mut Arc<Post>| text(&p.content_id))
        .register_get("format", |p: &mut Arc<Post>| text(&p.format))
        .register_get("has_product_link", |p: &mut Arc<Post>| p.has_product_link)
        .register_get("has_ad_disclosure", |p: &mut Arc<Post>| p.has_ad_disclosure)
        .register_get("live_minutes", |p: &mut Arc<Post>| opt(p.live_minutes));

    engine
        .register_type_with_name::<Arc<Sample>>("Sample")
        .register_get("id", |s: &mut Arc<Sample>| text(&s.id))
        .register_get("state", |s: &mut Arc<Sample>| text(&s.state))
        .register_get("creator", |s: &mut Arc<Sample>| text(&s.creator))
        .register_get("product", |s: &mut Arc<Sample>| text(&s.product))
        .register_get("category", |s: &mut Arc<Sample>| text(&s.category))
        .register_get("quantity", |s: &mut Arc<Sample>| s.quantity)
        .register_get("cost", |s: &mut Arc<Sample>| s.cost)
        .register_get("gmv", |s: &mut Arc<Sample>| s.gmv)
        .register_get("deposit", |s: &mut Arc<Sample>| opt(s.deposit))
        .register_get("keep_up_content", |s: &mut Arc<Sample>| {
            s.keep_up_content
                .clone()
                .map_or(Dynamic::UNIT, Dynamic::from)
        });

    engine
        .register_type_with_name::<Decision>("Decision")
        .register_get("decision", |d: &mut Decision| d.verdict.as_str())
        .register_get("reason", |d: &mut Decision| d.reason.clone())
        .register_fn("approve", |reason: ImmutableString| Decision {
            verdict: Verdict::Approve,
            reason,
        })
        .register_fn("reject", |reason: ImmutableString| Decision {
            verdict: Verdict::Reject,
            reason,
        })
        .register_fn("review", |reason: ImmutableString| Decision {
            verdict: Verdict::Review,
            reason,
        });

    engine
        .register_type_with_name::<Action>("Action")
        .register_get("type", |a: &mut Action| a.kind())
        .register_fn("require_deposit", deposit_of)
        .register_fn("require_deposit", |amount: i64| deposit_of(amount as f64))
        .register_fn("penalize", penalize)
        .register_fn("block_creator", block_creator)
        .register_fn("invite_paid_collab", || Action::InvitePaidCollab)
        .register_fn("flag_disclosure", || Action::FlagDisclosure)
        .register_fn("remind_creator", || Action::RemindCreator);

    // `x in list` of a string: compared as strings directly, not through a dynamic `==` call
    // per item (screening's first row does it on every request); an item of another type
    // compares exactly as Rhai's own `contains` does.
    engine.register_fn(
        "contains",
        |ctx: NativeCallContext,
         list: &mut rhai::Array,
         needle: ImmutableString|
         -> Result<bool, Box<EvalAltResult>> {
            for item in list.iter_mut() {
                if let Some(text) = item.read_lock::<ImmutableString>() {
                    if *text == needle {
                        return Ok(true);
                    }
                    continue;
                }
                let mut value = Dynamic::from(needle.clone());
                let equal = ctx
                    .call_native_fn_raw("==", true, &mut [item, &mut value])
                    .or_else(|err| match *err {
                        EvalAltResult::ErrorFunctionNotFound(ref sig, ..)
                            if sig.starts_with("==") =>
                        {
                            Ok(Dynamic::FALSE)
                        }
                        _ => Err(err),
                    })?
                    .as_bool()
                    .unwrap_or(false);
                if equal {
                    return Ok(true);
                }
            }
            Ok(false)
        },
    );

    // Durations reach scripts as seconds.
    engine
        .register_fn("days", |n: i64| n.saturating_mul(DAY))
        .register_fn("hours", |n: i64| n.saturating_mul(3_600));
}

/// An action's number out of its range is the script's error, at the call that made it: no rule
/// can put into a ledger a number the store could not keep.
fn within(action: &str, value: i64, min: i64, max: i64) -> Result<(), Box<rhai::EvalAltResult>> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(format!("`{action}({value})`: the value must be from {min} to {max}").into())
}

fn penalize(credit: i64) -> Result<Action, Box<rhai::EvalAltResult>> {
    within("penalize", credit, -1_000_000, 1_000_000)?;
    Ok(Action::Penalize { credit })
}

fn block_creator(days: i64) -> Result<Action, Box<rhai::EvalAltResult>> {
    within("block_creator", days, 0, 36_500)?;
    Ok(Action::BlockCreator { days })
}

fn deposit_of(amount: f64) -> Result<Action, Box<rhai::EvalAltResult>> {
    if (0.0..=1e9).contains(&amount) {
        return Ok(Action::RequireDeposit { amount });
    }
    Err(format!("`require_deposit({amount})`: the amount must be from 0 to 1e9").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{sandbox, Limits};

    #[test]
    fn a_string_in_a_list_answers_as_rhai_itself_does() {
        let mut ours = sandbox::engine(Limits::default());
        register(&mut ours);
        let plain = rhai::Engine::new();
        for expr in [
            r#""b" in ["a", "b"]"#,
            r#""z" in ["a", "b"]"#,
            r#""c" in ["a", 1, 'c', "c"]"#,
            r#""c" in [1, 'c', 2.5, true, ()]"#,
            r#""1" in [1]"#,
            r#""" in []"#,
            r#""x" in [["x"], #{x: 1}]"#,
            r#"["a", "b"].contains("a")"#,
        ] {
            let want = plain.eval::<bool>(expr).expect(expr);
            assert_eq!(ours.eval::<bool>(expr).expect(expr), want, "{expr}");
        }
        // And it is the engine's own function that answers, not the package's.
        let own: Vec<String> = ours
            .gen_fn_signatures(false)
            .into_iter()
            .filter(|s| s.starts_with("contains("))
            .collect();
        assert_eq!(own.len(), 1, "{own:?}");
    }
}
