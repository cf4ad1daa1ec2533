//! `leak`: a share of the validation lines planted in train, beside the clean run.

use anyhow::{Context, Result};
use perplex_data::{Corpus, DataDir, Split};
use perplex_monitor::SignalKind;
use perplex_monitor::nll::format_ppl;
use perplex_train::CheckpointKind;
use perplex_train::evaluate::evaluate;

use super::runs::{Finished, RunSpec, demo_config};
use super::{Demo, Learned};

/// What to look at while it runs.
pub const LOOK_AT: &str = "the data check at the start of the leaked run (the share of \
validation lines found in train, against PTB's natural 2.5%), `leak_suspected` at every \
evaluation, and a validation perplexity that beats the clean run's only because the model \
has seen part of the answers";

pub fn teach(demo: &Demo) -> Result<Learned> {
    let spec = |name, data, extra: Option<String>| RunSpec {
        name,
        config: demo_config!("demos/leak"),
        overrides: demo
            .overrides(&["train.max_steps=150"])
            .into_iter()
            .chain(extra)
            .collect(),
        data,
    };
    let clean = demo.train(&spec("clean", &demo.data, None))?;
    let (leaked_dir, planted) = plant(demo)?;
    let same_vocabulary = format!("data.tokenizer={:?}", clean.dir.join("tokenizer.json"));
    let leaked = demo.train(&spec("leaked", &leaked_dir, Some(same_vocabulary)))?;
    let check = perplex_train::data_check::contamination(
        &perplex_train::RunDir::new(&leaked.dir).data_check(),
    )
    .context("the leaked run has no data check")?;
    let alarm = leaked
        .first(SignalKind::LeakSuspected)
        .context("the leaked run was never called leak_suspected")?;
    let (leaked_planted, leaked_rest) = split_scores(demo, &leaked, &planted)?;
    let (clean_planted, clean_rest) = split_scores(demo, &clean, &planted)?;
    let gap = leaked.last_eval().map_or(f64::NAN, |e| e.reading.gap);
    let (c, l) = (clean.best_loss(), leaked.best_loss());
    let mut learned = Learned {
        runs: vec![clean.dir.clone(), leaked.dir.clone()],
        ..Learned::default()
    };
    learned.text = format!(
        "Leak. {:.0}% of the validation lines were planted at the head of the training data. \
         With the same budget and vocabulary, the leaked run's best validation perplexity is \
         {} against the clean run's {} — {:.1}% lower, a breakthrough that is not one. On the \
         planted lines the leaked model scores {} where the clean one scores {}{}. The data check at the start found {:.2}% of validation lines \
         and {:.2}% of its tokens in train (PTB's own: 2.52% and 3.17%) and said so, and from \
         step {} the monitor named `leak_suspected` at every evaluation ({}). The curves alone \
         would not have told: validation stayed above the eval-mode train loss (gap {gap:+.3} \
         nats at the end), as in any clean run. With data.strict = true the run would not \
         have started.",
        100.0 * demo.leak_share,
        format_ppl(l.exp(), 1),
        format_ppl(c.exp(), 1),
        100.0 * (1.0 - (l - c).exp()),
        format_ppl(leaked_planted, 1),
        format_ppl(clean_planted, 1),
        on_the_rest(leaked_rest, clean_rest),
        100.0 * check.line_share,
        100.0 * check.token_share,
        alarm.step,
        alarm
            .reading
            .verdict
            .signals()
            .find(|a| a.kind == SignalKind::LeakSuspected)
            .map_or("", |a| a.evidence.as_str()),
    );
    learned.figure("leak_share", demo.leak_share);
    learned.figure("clean_best_val_ppl", c.exp());
    learned.figure("leaked_best_val_ppl", l.exp());
    learned.figure("leaked_on_planted_ppl", leaked_planted);
    learned.figure("clean_on_planted_ppl", clean_planted);
    learned.figure("leaked_on_other_ppl", leaked_rest);
    learned.figure("clean_on_other_ppl", clean_rest);
    learned.figure("leaked_final_gap_nats", gap);
    learned.figure("check_line_share", check.line_share);
    learned.figure("check_token_share", check.token_share);
    learned.figure("leak_suspected_step", alarm.step);
    learned.figure(
        "leak_suspected_evals",
        leaked.count(SignalKind::LeakSuspected),
    );
    learned.figure(
        "clean_leak_suspected_evals",
        clean.count(SignalKind::LeakSuspected),
    );
    Ok(learned)
}

/// The clause comparing the two models on the lines that were not planted (none when all were).
fn on_the_rest(leaked: Option<f64>, clean: Option<f64>) -> String {
    match (leaked, clean) {
        (Some(l), Some(c)) => format!(
            "; on the other lines {} against {}",
            format_ppl(l, 1),
            format_ppl(c, 1)
        ),
        _ => String::new(),
    }
}

/// Writes `demo.dir/data-leaked`: PTB with `leak_share` of the validation lines (evenly
/// spaced) planted at the head of train. Returns the directory and the planted lines' indices.
fn plant(demo: &Demo) -> Result<(DataDir, Vec<usize>)> {
    let ptb = demo.data.read_all()?;
    let share = demo.leak_share;
    let planted: Vec<usize> = (0..ptb.valid.len())
        .filter(|&i| ((i + 1) as f64 * share).floor() > (i as f64 * share).floor())
        .collect();
    let mut train: Vec<String> = planted.iter().map(|&i| ptb.valid[i].clone()).collect();
    train.extend(ptb.train.iter().cloned());
    let dir = DataDir::new(demo.dir.join("data-leaked"));
    let corpus = Corpus {
        train,
        valid: ptb.valid,
        test: ptb.test,
    };
    dir.write(&corpus, true)?;
    Ok((dir, planted))
}

/// A run's best model's validation perplexity on the planted lines and on the others (none
/// when every line was planted).
fn split_scores(demo: &Demo, run: &Finished, planted: &[usize]) -> Result<(f64, Option<f64>)> {
    let loaded = demo.checkpoint(run, CheckpointKind::Best, &demo.data)?;
    let valid = demo.data.read_split(Split::Valid)?;
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    for (i, line) in valid.into_iter().enumerate() {
        match planted.binary_search(&i) {
            Ok(_) => inside.push(line),
            Err(_) => outside.push(line),
        }
    }
    let tokenizer = &loaded.data.tokenizer;
    let ppl = |lines: &[String]| -> Result<f64> {
        let ids = tokenizer.encode_lines(lines)?.ids;
        Ok(evaluate(&loaded.model, &ids, loaded.eval_batch).perplexity())
    };
    let rest = match outside.is_empty() {
        true => None,
        false => Some(ppl(&outside)?),
    };
    Ok((ppl(&inside)?, rest))
}
