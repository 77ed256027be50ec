//! The lowered path and Rhai held to the same answers, and the subset's edges.

use super::*;
use rhai::Dynamic;
use std::sync::Arc;

fn engine() -> rhai::Engine {
    let mut engine = crate::rules::sandbox::engine(Limits::default());
    crate::rules::types::register(&mut engine);
    engine
}

/// The value of `f()` in `script`, lowered (`None` when it ran on neither) and on Rhai.
fn both(script: &str) -> (Option<String>, Result<String, String>) {
    let engine = engine();
    let ast = engine.compile(script).unwrap();
    let ast = engine.optimize_ast(&rhai::Scope::new(), ast, rhai::OptimizationLevel::Full);
    let lowered = Lowered::new(&ast);
    let fast = lowered
        .call("f", vec![], &Limits::default())
        .map(|v| format!("{:?}", v.into_dynamic()));
    let slow = engine
        .call_fn::<Dynamic>(&mut rhai::Scope::new(), &ast, "f", ())
        .map(|v| format!("{v:?}"))
        .map_err(|e| e.to_string());
    (fast, slow)
}

/// Lowered, it gives Rhai's value.
fn agrees(body: &str) {
    let script = format!("fn f() {{ {body} }} fn g(a, b) {{ let c = a; c + b }}");
    let (fast, slow) = both(&script);
    assert_eq!(fast.as_ref(), slow.as_ref().ok(), "{body}");
    assert!(fast.is_some(), "`{body}` did not run lowered");
}

/// Lowered, it bails out (Rhai raises an error or the subset stops short).
fn bails(body: &str) {
    let (fast, _) = both(&format!("fn f() {{ {body} }}"));
    assert_eq!(fast, None, "{body}");
}

#[test]
fn operators_mean_what_they_mean_in_rhai() {
    for e in [
        "1 + 2",
        "7 / 2",
        "-7 % 3",
        "1 < 2.5",
        "2.5 >= 2",
        "0.1 + 0.2 == 0.3",
        "1.0 == 1.0 + 1e-17",
        "0.0 == -0.0",
        "3 == 3.0",
        "\"a\" < \"b\"",
        "\"a\" == ()",
        "() == ()",
        "() != ()",
        "() < ()",
        "1 == \"1\"",
        "true != false",
        "false < true",
        "[1, 2] != 3",
        "\"x\" in [\"a\", 1, \"x\"]",
        "2 in [\"a\", 1, \"x\"] == false || true",
        "\"ell\" in \"hello\"",
        "\"x\" !in [\"a\"]",
        "!true",
        "-(5)",
        "() ?? 3",
        "true && 1 < 2 || false",
        "let a = 2; let a = a * 3; a",
        "if 1 > 2 { 1 } else if 2 > 1 { 2 } else { 3 }",
        "if false { 1 }",
        "{ let x = 1; x + 1 }",
        "let a = [penalize(-20)]; a.push(block_creator(90)); a",
        "approve(\"auto_approved\")",
        "review(\"x\").reason",
        "days(2) / hours(1)",
        "require_deposit(10)",
        "let y = 5; days({ let z = y; z }) + g(1, { let x = 2; x + y })",
        "let y = \"a\"; let a = [y]; a.push(review({ let q = y; q })); a",
    ] {
        agrees(e);
    }
}

#[test]
fn what_rhai_refuses_runs_on_rhai() {
    for e in [
        "9223372036854775807 + 1",
        "1 / 0",
        "1 % 0",
        "-(-9223372036854775807 - 1)",
        "let x = 1; !x",
        "let x = 1; if x { 2 }",
        "approve(1)",
        "penalize(-2000000)",
        "block_creator(40000)",
        "require_deposit(-1)",
        "undefined_variable",
        "throw \"no\"",
        "(1).followers",
    ] {
        bails(e);
        let (_, slow) = both(&format!("fn f() {{ {e} }}"));
        assert!(slow.is_err(), "Rhai answers `{e}` with {slow:?}");
    }
}

#[test]
fn what_the_subset_lacks_runs_on_rhai() {
    for (body, answer) in [
        ("let x = \"a\"; x + \"b\"", "\"ab\""),
        ("let a = [1]; a == [1]", "true"),
        ("let n = 0; for i in 0..3 { n = i; } n", "2"),
    ] {
        bails(body);
        let (_, slow) = both(&format!("fn f() {{ {body} }}"));
        assert_eq!(slow.as_deref(), Ok(answer));
    }
}

#[test]
fn a_function_outside_the_subset_stays_with_rhai() {
    let engine = engine();
    let ast = engine
        .compile("fn f() { let x = 0; x += 1; x } fn g() { f() } fn h() { 1 }")
        .unwrap();
    let lowered = Lowered::new(&ast);
    assert!(!lowered.has("f", 0));
    assert!(lowered.has("g", 0), "a call of f bails at run time");
    assert!(lowered.has("h", 0));
    assert!(lowered.call("g", vec![], &Limits::default()).is_none());
}

#[test]
fn deep_or_long_calls_run_on_rhai_which_faults() {
    let script = "fn f() { g(30) } fn g(n) { if n == 0 { 0 } else { g(n - 1) + g(n - 1) } }";
    let (fast, slow) = both(script);
    assert_eq!(fast, None);
    assert!(slow.is_err(), "{slow:?}");
    let (fast, slow) = both("fn f() { g(40) } fn g(n) { if n == 0 { 0 } else { g(n - 1) } }");
    assert_eq!(fast, None);
    assert!(slow.is_err(), "{slow:?}");
    // Shallow recursion stays lowered.
    let (fast, slow) = both("fn f() { g(10) } fn g(n) { if n == 0 { 0 } else { 1 + g(n - 1) } }");
    assert_eq!(fast.as_deref(), Some("10"));
    assert_eq!(slow.as_deref(), Ok("10"));
}

#[test]
fn rhai_counts_at_most_ops_per_node_operations_for_each_lowered_node() {
    for script in [
            "fn f() { g(12) } fn g(n) { if n <= 0 { 1 } else { let a = [n, n * 2]; g(n - 1) + g(n - 2) } }",
            "fn f() { let x = [penalize(-1)]; if 1 < 2 && 2.0 >= 1 { x.push(flag_disclosure()); } x }",
            "fn f() { if \"a\" in [\"b\", \"c\", \"a\"] { return approve(\"y\") } reject(\"n\") }",
        ] {
            let engine = engine();
            let ast = engine.compile(script).unwrap();
            let lowered = Lowered::new(&ast);
            let mut run = Run {
                lowered: &lowered,
                frame: vec![],
                base: 0,
                ops: 0,
                max_ops: u64::MAX,
                depth: 1,
                max_depth: 30,
                max_array: ARRAY_LIMIT,
                max_string: usize::MAX,
            };
            let (i, _) = lowered.find("f", 0).unwrap();
            assert!(run.function(i).is_ok(), "{script}");
            let nodes = run.ops;
            let mut counting = rhai::Engine::new();
            counting.set_max_call_levels(64);
            crate::rules::types::register(&mut counting);
            let most = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let seen = most.clone();
            counting.on_progress(move |n| {
                seen.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
                None
            });
            let out = counting.call_fn::<Dynamic>(&mut rhai::Scope::new(), &ast, "f", ());
            assert!(out.is_ok(), "{out:?}");
            let ops = most.load(std::sync::atomic::Ordering::Relaxed);
            assert!(ops > 0 && ops <= nodes * OPS_PER_NODE, "{ops} operations, {nodes} nodes: {script}");
        }
}
