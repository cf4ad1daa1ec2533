use super::tensorboard::{EventDir, choose_tags, rows};
use super::*;
use crate::Monitor;
use crate::detector::DetectorConfig;
use crate::signal::SignalKind;
use crate::sinks::tensorboard::EventWriter;
use crate::stopping::EarlyStoppingConfig;

fn monitor() -> Monitor {
    Monitor::new(
        DetectorConfig::default(),
        EarlyStoppingConfig::default(),
        Baselines::default(),
    )
}

/// Reads every line of `text` as `format`, returning the rows and the skipped count.
fn read_all(format: Format, text: &str, cols: &Columns) -> Result<(Vec<Row>, usize), RowError> {
    let mut reader = LineReader::new(format).expect("a line-based format");
    let (mut rows, mut skipped) = (Vec::new(), 0);
    for (i, line) in text.lines().enumerate() {
        match reader.parse(line, i + 1, cols)? {
            Parsed::Rows(r) => rows.extend(r),
            Parsed::Skipped(_) => skipped += 1,
        }
    }
    Ok((rows, skipped))
}

/// The states the monitor names at each evaluation of `rows`.
fn states(rows: Vec<Row>) -> Vec<(u64, SignalKind)> {
    let mut feeder = Feeder::new(monitor());
    rows.into_iter()
        .flat_map(|r| feeder.feed(r))
        .filter_map(|said| match said {
            Said::Eval { step, judgement } => Some((step, judgement.verdict.state.kind)),
            _ => None,
        })
        .collect()
}

const LOG: &str = "\
iter,train_loss,val_loss,lr
0,9.2,,0.001
100,6.0,6.1,0.001
200,5.0,5.3,0.001
300,4.2,5.2,0.001
400,3.6,5.4,0.001
500,3.1,5.8,0.001
";

#[test]
fn a_hand_written_csv_with_renamed_columns_is_read_and_judged() {
    let cols = Columns {
        step: Some("iter".into()),
        ..Columns::default()
    };
    let (rows, skipped) = read_all(Format::Csv, LOG, &cols).unwrap();
    assert_eq!(
        rows.len(),
        17,
        "6 train losses, 5 val losses and 6 learning rates"
    );
    assert_eq!(skipped, 0, "the header is not a skipped record");
    use SignalKind::*;
    assert_eq!(
        states(rows),
        vec![
            (100, WarmingUp),
            (200, Healthy),
            (300, Healthy),
            (400, Healthy),
            (500, Overfitting)
        ]
    );
}

#[test]
fn bad_csv_rows_name_their_line() {
    let cols = Columns::default();
    let err = read_all(Format::Csv, "step,val_loss\n1,2.0\n2,abc\n", &cols).unwrap_err();
    assert_eq!(err.to_string(), "line 3: `abc` is not a number");
    let err = read_all(Format::Csv, "x,y\n1,2\n", &cols).unwrap_err();
    assert!(err.reason.contains("no step column"), "{err}");
    assert!(err.reason.contains("--step-col"), "{err}");
    let err = read_all(Format::Csv, "step,val_loss\n1,2.0,3\n", &cols).unwrap_err();
    assert_eq!(err.to_string(), "line 2: 3 fields, the header has 2");
}

#[test]
fn a_config_record_and_records_without_losses_are_skipped_and_counted() {
    let log = r#"{"config": {"lr": 0.001, "batch_size": 32}}
{"step": 0, "train_loss": 9.2}
{"step": 50, "lr": 0.001}
{"step": 100, "val_loss": 6.1}
{"epoch": 1}
"#;
    let (rows, skipped) = read_all(Format::JsonLines, log, &Columns::default()).unwrap();
    assert_eq!(
        skipped, 3,
        "the config, a record with only lr, one without a step"
    );
    assert_eq!(
        rows,
        vec![
            Row::Train { step: 0, loss: 9.2 },
            Row::Eval {
                step: 100,
                val: 6.1,
                train_eval: None,
                lr: None,
            }
        ]
    );
}

#[test]
fn python_s_bare_nan_is_read_as_non_finite_and_a_string_loss_is_an_error() {
    let cols = Columns::default();
    let line = r#"{"step": 3, "train_loss": NaN, "note": "NaN in text"}"#;
    let Parsed::Rows(rows) = json::parse(line, 7, &cols).unwrap() else {
        panic!("a train row")
    };
    assert!(matches!(rows[0], Row::Train { step: 3, loss } if loss.is_nan()));
    let line = r#"{"step": 4, "val_loss": -Infinity}"#;
    let Parsed::Rows(rows) = json::parse(line, 8, &cols).unwrap() else {
        panic!("an eval row")
    };
    assert!(matches!(rows[0], Row::Eval { val, .. } if val == f64::NEG_INFINITY));
    let err = json::parse(r#"{"step": 5, "train_loss": "2.5x"}"#, 9, &cols).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"line 9: `train_loss` is "2.5x", not a number"#
    );
    let mut feeder = Feeder::new(monitor());
    let said = feeder.feed(Row::Train {
        step: 3,
        loss: f64::NAN,
    });
    assert!(
        matches!(&said[..], [Said::Levels(_), Said::Step(s)] if s.kind == SignalKind::NonFinite)
    );
}

#[test]
fn json_lines_of_perplex_and_of_others_are_understood() {
    let cols = Columns::default();
    let ours = r#"{"kind":"eval","step":500,"loss":5.1,"train_eval_loss":5.0}"#;
    assert_eq!(
        json::parse(ours, 1, &cols).unwrap(),
        Parsed::Rows(vec![Row::Eval {
            step: 500,
            val: 5.1,
            train_eval: Some(5.0),
            lr: None,
        }])
    );
    let theirs = r#"{"step": 10, "train_loss": 4.5, "val_loss": 4.7}"#;
    assert!(matches!(json::parse(theirs, 1, &cols).unwrap(), Parsed::Rows(r) if r.len() == 2));
}

const NANOGPT: &str = "\
tokens per iteration will be: 16,384
number of parameters: 10.65M
step 0: train loss 4.2874, val loss 4.2823
iter 0: loss 4.2654, time 29820.38ms, mfu -100.00%
iter 10: loss 3.2424, time 101.20ms, mfu 3.68%
step 250: train loss 1.9669, val loss 2.0757
saving checkpoint to out-shakespeare-char
";

#[test]
fn a_nanogpt_log_gives_evals_with_their_train_loss_and_iterations() {
    let (rows, skipped) = read_all(Format::Text, NANOGPT, &Columns::default()).unwrap();
    assert_eq!(skipped, 3, "two header lines and the checkpoint message");
    assert_eq!(
        rows,
        vec![
            Row::Eval {
                step: 0,
                val: 4.2823,
                train_eval: Some(4.2874),
                lr: None,
            },
            Row::Train {
                step: 0,
                loss: 4.2654
            },
            Row::Train {
                step: 10,
                loss: 3.2424
            },
            Row::Eval {
                step: 250,
                val: 2.0757,
                train_eval: Some(1.9669),
                lr: None,
            },
        ]
    );
    let err = text::parse("step 5: train loss oops, val loss 1.0", 12).unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 12: `train loss oops` holds no number"
    );
}

#[test]
fn bits_and_perplexities_are_converted_to_nats() {
    let ln2 = std::f64::consts::LN_2;
    assert_eq!("bits".parse::<Unit>(), Ok(Unit::Bits));
    assert!("perplexity".parse::<Unit>().is_err());
    let row = Row::Eval {
        step: 1,
        val: 8.0,
        train_eval: Some(4.0),
        lr: None,
    };
    assert_eq!(
        row.in_nats(Unit::Bits),
        Row::Eval {
            step: 1,
            val: 8.0 * ln2,
            train_eval: Some(4.0 * ln2),
            lr: None,
        }
    );
    let Row::Train { loss, .. } = (Row::Train {
        step: 2,
        loss: 150.0,
    })
    .in_nats(Unit::Ppl) else {
        panic!("a train row")
    };
    assert!((loss - 150f64.ln()).abs() < 1e-12);
}

#[test]
fn the_format_follows_the_path_and_the_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    assert_eq!(Format::detect(dir.path()), Some(Format::TensorBoard));
    assert_eq!(Format::detect(&write("a.log", LOG)), Some(Format::Csv));
    assert_eq!(Format::detect(&write("b.log", NANOGPT)), Some(Format::Text));
    let json = write("a.log2", "\n{\"step\": 1, \"train_loss\": 2}\n");
    assert_eq!(Format::detect(&json), Some(Format::JsonLines));
    assert_eq!(Format::detect(&write("empty.log", "")), None);
}

/// Writes a perplex-shaped event file: baselines, three train losses, two evaluations.
fn perplex_events(dir: &std::path::Path) -> EventWriter {
    let mut w = EventWriter::create(dir).unwrap();
    for (tag, v) in [
        ("baseline/uniform", 9.21),
        ("baseline/unigram", 6.6),
        ("baseline/initial", 9.3),
    ] {
        w.scalar(tag, 0, v).unwrap();
    }
    for (step, loss) in [(1, 9.0), (2, 7.0), (3, 6.0)] {
        w.scalar("train/loss", step, loss).unwrap();
        w.scalar("lr", step, 0.001).unwrap();
    }
    w.scalar("val/loss", 3, 6.25).unwrap();
    w.scalar("train/loss_eval", 3, 6.0).unwrap();
    w.text("signals", 3, "- **healthy**").unwrap();
    w
}

#[test]
fn perplex_s_own_event_files_read_back_as_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let w = perplex_events(dir.path());
    let scalars = EventDir::new(dir.path()).read_new().unwrap();
    let mut seen: Vec<String> = scalars.iter().map(|s| s.tag.clone()).collect();
    seen.dedup();
    let tags = choose_tags(&seen, None, None).unwrap();
    assert_eq!(tags.train.as_deref(), Some("train/loss"));
    assert_eq!(tags.val.as_deref(), Some("val/loss"));
    assert_eq!(tags.lr.as_deref(), Some("lr"));
    let rows = rows(&scalars, &tags);
    assert_eq!(
        rows.len(),
        8,
        "baselines, three rates, three losses, one eval: {rows:?}"
    );
    assert!(matches!(rows[0], Row::Baselines(b) if b.unigram == Some(6.599999904632568)));
    assert!(matches!(rows[1], Row::Lr { step: 1, lr } if (lr - 1e-3).abs() < 1e-9));
    assert_eq!(
        rows[7],
        Row::Eval {
            step: 3,
            val: 6.25,
            train_eval: Some(6.0),
            lr: None,
        }
    );
    drop(w);
}

#[test]
fn an_event_file_being_written_is_read_in_whole_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(dir.path()).unwrap();
    w.scalar("loss", 1, 2.0).unwrap();
    let mut events = EventDir::new(dir.path());
    assert_eq!(events.read_new().unwrap().len(), 1);
    // Half of a frame: a writer in the middle of a record.
    let whole = std::fs::read(w.path()).unwrap();
    w.scalar("loss", 2, 1.5).unwrap();
    let grown = std::fs::read(w.path()).unwrap();
    let half = (grown.len() - whole.len()) / 2;
    std::fs::write(w.path(), &grown[..whole.len() + half]).unwrap();
    assert!(events.read_new().unwrap().is_empty(), "nothing whole yet");
    std::fs::write(w.path(), &grown).unwrap();
    let more = events.read_new().unwrap();
    assert_eq!((more.len(), more[0].step, more[0].value), (1, 2, 1.5));
}

#[test]
fn a_corrupt_event_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let w = perplex_events(dir.path());
    let mut bytes = std::fs::read(w.path()).unwrap();
    let last = bytes.len() - 6;
    bytes[last] ^= 0xff;
    std::fs::write(w.path(), &bytes).unwrap();
    let err = EventDir::new(dir.path()).read_new().unwrap_err();
    assert!(err.reason.contains("is corrupt"), "{err}");
    assert!(err.reason.contains("tfevents"), "{err}");
}

#[test]
fn keras_subdirectories_prefix_their_tags_and_missing_tags_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    for (sub, loss) in [("train", 3.0), ("validation", 3.5)] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        let mut w = EventWriter::create(&dir.path().join(sub)).unwrap();
        w.scalar("epoch_loss", 1, loss).unwrap();
        w.scalar("epoch_accuracy", 1, 0.5).unwrap();
    }
    let scalars = EventDir::new(dir.path()).read_new().unwrap();
    let seen: Vec<String> = scalars.iter().map(|s| s.tag.clone()).collect();
    let tags = choose_tags(&seen, None, None).unwrap();
    assert_eq!(tags.train.as_deref(), Some("train/epoch_loss"));
    assert_eq!(tags.val.as_deref(), Some("validation/epoch_loss"));
    let err = choose_tags(&seen, Some("Loss/train"), None).unwrap_err();
    assert!(err.contains("no scalar tag `Loss/train`"), "{err}");
    assert!(err.contains("train/epoch_accuracy"), "the listing: {err}");
    let only_accuracy = vec!["acc".to_string()];
    let err = choose_tags(&only_accuracy, None, None).unwrap_err();
    assert!(err.contains("--train-tag"), "{err}");
}

#[test]
fn a_json_document_that_is_not_a_trainer_state_says_what_it_is() {
    let err = json::parse("{", 1, &Columns::default()).unwrap_err();
    assert!(err.reason.contains("one JSON document"), "{err}");
    assert!(err.reason.contains("log_history"), "{err}");
}
