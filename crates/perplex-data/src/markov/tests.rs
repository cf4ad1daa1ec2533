use super::*;

fn chain(order: usize, vocab: usize) -> MarkovChain {
    MarkovChain::new(ChainSpec {
        vocab,
        order,
        seed: 3,
        ..ChainSpec::default()
    })
    .unwrap()
}

#[test]
fn every_next_token_distribution_sums_to_one() {
    for c in [chain(1, 30), chain(2, 12)] {
        for s in 0..c.next.len() {
            let total: f64 = (0..c.spec.vocab as u32).map(|t| c.prob(s, t)).sum();
            assert!((total - 1.0).abs() < 1e-12, "state {s}: {total}");
        }
        let pi: f64 = c.stationary.iter().sum();
        assert!((pi - 1.0).abs() < 1e-12);
    }
}

/// Independent of the power iteration: by the ergodic theorem, the mean −ln P of a long
/// sample converges to the entropy rate. 400,000 tokens put it within 0.01 nats here.
#[test]
fn the_entropy_rate_matches_a_long_sample() {
    for c in [chain(1, 50), chain(2, 20)] {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut state = c.start_state();
        let n = 400_000;
        let mut nll = 0.0;
        for _ in 0..n {
            let t = c.sample(state, &mut rng);
            nll -= c.prob(state, t).ln();
            state = c.advance(state, t);
        }
        let mean = nll / n as f64;
        assert!(
            (mean - c.entropy_rate()).abs() < 0.01,
            "order {}: sample {mean} vs exact {}",
            c.spec.order,
            c.entropy_rate()
        );
    }
}

#[test]
fn splits_hold_complete_lines_and_their_oracles() {
    let c = chain(1, 40);
    let m = sample_corpus(&c, 5_000, 9);
    let count = |lines: &[String]| {
        lines
            .iter()
            .map(|l| l.split_whitespace().count() + 1)
            .sum::<usize>() as u64
    };
    assert_eq!(count(&m.corpus.train), m.report.train.tokens);
    assert_eq!(count(&m.corpus.valid), m.report.valid.tokens);
    assert!(m.report.train.tokens >= 5_000 && m.report.valid.tokens >= 500);
    assert!(m.corpus.train.iter().all(|l| !l.trim().is_empty()));
    assert!(m.report.valid.nll > 0.0 && m.report.valid.ppl < 40.0);
}

/// entropy.json's oracle, recomputed another way: parse the written text back into
/// tokens, replay the chain's state over train and then valid, and sum −ln P over valid's
/// tokens but its first.
#[test]
fn the_oracle_recomputed_from_the_written_text_agrees() {
    for c in [chain(1, 30), chain(2, 15)] {
        let m = sample_corpus(&c, 3_000, 5);
        let ids = |lines: &[String]| -> Vec<u32> {
            lines
                .iter()
                .flat_map(|l| {
                    l.split_whitespace()
                        .map(|w| w[1..].parse::<u32>().unwrap())
                        .chain(std::iter::once(0))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let mut state = c.start_state();
        for t in ids(&m.corpus.train) {
            state = c.advance(state, t);
        }
        let valid = ids(&m.corpus.valid);
        let mut nll = 0.0;
        for (i, &t) in valid.iter().enumerate() {
            if i > 0 {
                nll -= c.prob(state, t).ln();
            }
            state = c.advance(state, t);
        }
        let mean = nll / (valid.len() - 1) as f64;
        assert!(
            (mean - m.report.valid.nll).abs() < 1e-12,
            "{mean} vs {}",
            m.report.valid.nll
        );
        assert_eq!(valid.len() as u64, m.report.valid.tokens);
    }
}

#[test]
fn bad_shapes_are_refused_with_a_reason() {
    let bad = |spec: ChainSpec| MarkovChain::new(spec).unwrap_err();
    assert!(
        bad(ChainSpec {
            order: 3,
            ..ChainSpec::default()
        })
        .contains("order 3")
    );
    assert!(
        bad(ChainSpec {
            vocab: 2,
            ..ChainSpec::default()
        })
        .contains("too small")
    );
    assert!(
        bad(ChainSpec {
            branching: 100,
            ..ChainSpec::default()
        })
        .contains("branching")
    );
}
