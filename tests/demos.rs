//! Each `perplex demo` lesson, shortened (`--quick`), asserting the lesson it teaches from the
//! figures it writes to `lesson.json`. The lessons are about PTB, so these need it: without it
//! they print "skipped: no PTB" (and fail under PERPLEX_REQUIRE_PTB, as in CI).

mod common;

use common::{perplex, ptb_or_skip, stderr};
use serde_json::Value;

/// Runs `perplex demo NAME --quick` into a temporary directory; its `lesson.json` and
/// `lesson.txt`, after checking the picture was drawn.
fn lesson(name: &str) -> Option<(Value, String)> {
    let ptb = ptb_or_skip(&format!("the `{name}` demo"))?;
    let tmp = tempfile::tempdir().unwrap();
    let out = perplex(&[
        "demo",
        name,
        "--quick",
        "--out",
        tmp.path().to_str().unwrap(),
        "--data-dir",
        ptb.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    let dir = tmp.path().join(name);
    let png = std::fs::metadata(dir.join("report.png")).unwrap().len();
    assert!(png > 10_000, "{name}: the picture is {png} bytes");
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
    let figures = serde_json::from_str(&read("lesson.json")).unwrap();
    Some((figures, read("lesson.txt")))
}

fn num(figures: &Value, key: &str) -> f64 {
    figures[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no figure `{key}` in {figures}"))
}

#[test]
fn healthy_declines_below_the_unigram_level_with_a_small_gap() {
    let Some((f, text)) = lesson("healthy") else {
        return;
    };
    assert_eq!(num(&f, "healthy_evals"), num(&f, "evals") - 1.0, "{text}");
    assert!(num(&f, "final_val_ppl") < num(&f, "unigram_ppl"), "{text}");
    assert!(num(&f, "gap_max_nats") < 0.2, "{text}");
}

#[test]
fn plateau_is_named_at_a_constant_rate_and_never_under_cosine() {
    let Some((f, text)) = lesson("plateau") else {
        return;
    };
    assert!(num(&f, "constant_plateau_evals") >= 1.0, "{text}");
    assert_eq!(num(&f, "cosine_plateau_evals"), 0.0, "{text}");
    let floor = num(&f, "floor_nats");
    let (constant, cosine) = (num(&f, "constant_best_nats"), num(&f, "cosine_best_nats"));
    assert!(cosine < constant, "{text}");
    assert!(cosine > floor - 0.02, "no model beats the chain: {text}");
}

#[test]
fn overfitting_stops_and_restores_the_best_weights() {
    let Some((f, text)) = lesson("overfitting") else {
        return;
    };
    assert!(num(&f, "overfitting_step") > num(&f, "best_step"), "{text}");
    assert!(
        num(&f, "stop_step") >= num(&f, "overfitting_step"),
        "{text}"
    );
    assert_eq!(
        num(&f, "last_checkpoint_val_loss_nats"),
        num(&f, "best_val_loss_nats"),
        "the final model is the best one: {text}"
    );
    assert!(
        num(&f, "gap_last_nats") > num(&f, "gap_first_nats") + 0.5,
        "{text}"
    );
}

#[test]
fn blow_up_without_warmup_diverges_and_with_it_does_not() {
    let Some((f, text)) = lesson("blow-up") else {
        return;
    };
    let uniform = num(&f, "uniform_nats");
    assert!(num(&f, "peak_train_loss_nats") > uniform + 5.0, "{text}");
    assert_eq!(num(&f, "diverged_step"), 20.0, "{text}");
    assert_eq!(num(&f, "no_warmup_steps"), 20.0, "stopped at once: {text}");
    assert!(num(&f, "tamed_peak_train_loss_nats") < uniform, "{text}");
    assert_eq!(num(&f, "tamed_diverged_evals"), 0.0, "{text}");
}

#[test]
fn lr_find_suggests_a_rate_that_trains_where_a_hand_picked_one_blew_up() {
    let Some((f, text)) = lesson("lr-find") else {
        return;
    };
    assert_eq!(f["hot_stop_cause"], "diverged", "{text}");
    let lr = num(&f, "suggested_lr");
    assert!((1e-4..1e-1).contains(&lr), "{text}");
    let (found, shipped) = (
        num(&f, "found_best_val_loss_nats"),
        num(&f, "shipped_best_val_loss_nats"),
    );
    assert!(
        found < 1.05 * shipped,
        "within 5% of the shipped config: {text}"
    );
    assert!(num(&f, "hot_best_val_loss_nats") > shipped + 1.0, "{text}");
}

#[test]
fn leak_is_caught_by_the_data_check_and_named_at_every_evaluation() {
    let Some((f, text)) = lesson("leak") else {
        return;
    };
    let share = num(&f, "leak_share");
    assert!(num(&f, "check_line_share") >= share, "{text}");
    assert!(
        num(&f, "leaked_best_val_ppl") < num(&f, "clean_best_val_ppl"),
        "{text}"
    );
    assert!(
        num(&f, "leaked_on_planted_ppl") < num(&f, "clean_on_planted_ppl"),
        "{text}"
    );
    assert_eq!(num(&f, "leak_suspected_step"), 50.0, "{text}");
    assert_eq!(num(&f, "clean_leak_suspected_evals"), 0.0, "{text}");
    assert!(num(&f, "leaked_final_gap_nats") > 0.0, "{text}");
}

#[test]
fn averaging_three_ways_gives_three_numbers_and_only_one_is_logged() {
    let Some((f, text)) = lesson("averaging") else {
        return;
    };
    let token = num(&f, "token_ppl");
    let logged = num(&f, "logged_val_ppl");
    assert!((token - logged).abs() / logged < 1e-12, "{text}");
    assert!(num(&f, "sequence_off_pct") > 10.0, "{text}");
    assert!(num(&f, "batch_off_pct").abs() > 0.1, "{text}");
}

#[test]
fn tokenizers_differ_tenfold_per_token_and_not_per_character() {
    let Some((f, text)) = lesson("tokenizers") else {
        return;
    };
    assert!(num(&f, "ppl_spread") > 10.0, "{text}");
    assert!(num(&f, "bits_per_char_spread") < 2.0, "{text}");
    assert!(num(&f, "char_ppl") < num(&f, "bpe_ppl"), "{text}");
    assert!(num(&f, "bpe_ppl") < num(&f, "wordlevel_ppl"), "{text}");
}

#[test]
fn a_smaller_vocabulary_lowers_perplexity_as_unk_rises() {
    let Some((f, text)) = lesson("vocabulary") else {
        return;
    };
    let [big, mid, small] = ["10000", "1000", "100"].map(|v| {
        (
            num(&f, &format!("vocab_{v}_ppl")),
            num(&f, &format!("vocab_{v}_unk_rate")),
        )
    });
    assert!(small.0 < mid.0 && mid.0 < big.0, "{text}");
    assert!(small.1 > mid.1 && mid.1 > big.1, "{text}");
}

#[test]
fn repetition_greedy_samples_loop_while_sampling_does_not() {
    let Some((f, text)) = lesson("repetition") else {
        return;
    };
    assert!(num(&f, "degenerate_evals") >= 1.0, "{text}");
    assert!(
        num(&f, "greedy_distinct_2") < num(&f, "sampled_distinct_2") - 0.3,
        "{text}"
    );
    let (top1, top5) = (num(&f, "final_top1"), num(&f, "final_top5"));
    assert!(0.0 < top1 && top1 < top5 && top5 < 1.0, "{text}");
}

#[test]
fn list_names_every_lesson_and_an_unknown_one_is_refused() {
    let out = perplex(&["demo", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "healthy",
        "plateau",
        "overfitting",
        "blow-up",
        "lr-find",
        "leak",
        "averaging",
        "tokenizers",
        "vocabulary",
        "repetition",
    ] {
        assert!(text.contains(name), "{name}: {text}");
    }
    let out = perplex(&["demo", "leaky"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no lesson `leaky`"),
        "{}",
        stderr(&out)
    );
}
