use std::path::PathBuf;

use super::*;

const SMALL: &str = r#"
[model]
ctx = 64
layers = 4
heads = 4
d_model = 256
dropout = 0.1

[train]
batch_size = 32
max_steps = 5000
lr = 1e-3
min_lr = 1e-4
warmup_steps = 200
weight_decay = 0.1
grad_clip = 1.0
seed = 1337
log_every = 50
eval_every = 500
"#;

fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn overrides_change_typed_values_and_round_trip() {
    let (_dir, path) = write(SMALL);
    let sets = ["train.lr=3e-4".to_string(), "model.layers=2".into()];
    let config = RunConfig::load(&path, &sets).unwrap();
    assert_eq!(config.train().lr, 3e-4);
    assert_eq!(config.model().layers, 2);
    assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
    let resolved = config.with_vocab_size(10_000);
    assert!(resolved.to_toml().contains("vocab_size = 10000"));
    assert_eq!(RunConfig::from_toml(&resolved.to_toml()).unwrap(), resolved);
}

/// `word_dropout` is optional: a config without it (every run saved before it existed) reads
/// as 0 and writes back without the key; a set value round-trips.
#[test]
fn word_dropout_is_optional_and_written_only_when_on() {
    let (_dir, path) = write(SMALL);
    let off = RunConfig::load(&path, &[]).unwrap();
    assert_eq!(off.model().word_dropout, 0.0);
    assert!(!off.to_toml().contains("word_dropout"));
    let on = RunConfig::load(&path, &["model.word_dropout=0.1".into()]).unwrap();
    assert_eq!(on.model().shape(10).unwrap().word_dropout, 0.1);
    assert!(on.to_toml().contains("word_dropout = 0.1"));
    assert_eq!(RunConfig::from_toml(&on.to_toml()).unwrap(), on);
}

#[test]
fn a_misspelled_key_names_the_nearest_one() {
    let (_dir, path) = write(&SMALL.replace("warmup_steps", "warmup_step"));
    let err = RunConfig::load(&path, &[]).unwrap_err().to_string();
    assert!(err.contains("unknown field `warmup_step`"), "{err}");
    assert!(err.contains("did you mean `warmup_steps`?"), "{err}");
    assert!(err.contains("run.toml"), "{err}");
    let (_dir, path) = write(SMALL);
    let err = RunConfig::load(&path, &["train.lrr=1".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean `lr`?"), "{err}");
}

#[test]
fn malformed_toml_reports_the_line() {
    let (_dir, path) = write("[model]\nctx = = 3\n");
    let err = RunConfig::load(&path, &[]).unwrap_err().to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn out_of_range_values_are_refused_with_the_key() {
    let (_dir, path) = write(SMALL);
    for (set, key) in [
        ("train.max_steps=0", "train.max_steps"),
        ("model.dropout=1.5", "model.dropout"),
        ("model.word_dropout=1", "model.word_dropout"),
        ("model.heads=3", "model.heads"),
        ("train.warmup_steps=6000", "train.warmup_steps"),
        ("train.min_lr=0.1", "train.min_lr"),
    ] {
        let err = RunConfig::load(&path, &[set.to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(key) && err.contains("run.toml"),
            "{set}: {err}"
        );
    }
    let err = RunConfig::load(&path, &["train.max_steps=-5".into()]).unwrap_err();
    assert!(err.to_string().contains("max_steps"), "{err}");
}

/// Property: whatever bytes a config file holds, loading it returns a config or an error,
/// never a panic; and an accepted config survives a round trip.
#[test]
fn random_edits_of_a_config_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2024);
    let alphabet = b"[]=.\"'#\n 0123456789-+eE_abcdefghijklmnopqrstuvwxyz\xff";
    let (dir, path) = write(SMALL);
    let mut accepted = 0;
    for _ in 0..3000 {
        let mut bytes = SMALL.as_bytes().to_vec();
        for _ in 0..rng.random_range(1..6) {
            let at = rng.random_range(0..bytes.len());
            let byte = alphabet[rng.random_range(0..alphabet.len())];
            match rng.random_range(0..3) {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(config) = RunConfig::load(&path, &[]) {
            accepted += 1;
            assert_eq!(RunConfig::from_toml(&config.to_toml()).unwrap(), config);
        }
    }
    assert!(
        accepted > 0,
        "some small edits (in comments, digits) must still parse"
    );
    drop(dir);
}

#[test]
fn a_config_cannot_be_deserialised_past_its_checks() {
    let bad = SMALL.replace("heads = 4", "heads = 3");
    let err = toml::from_str::<RunConfig>(&bad).unwrap_err().to_string();
    assert!(err.contains("model.heads = 3 does not divide"), "{err}");
    let err =
        RunConfig::from_toml(&SMALL.replace("dropout = 0.1", "dropout = 0.1\nvocab_size = 0"))
            .unwrap_err()
            .to_string();
    assert!(err.contains("model.vocab_size must be at least 1"), "{err}");
}

#[test]
fn every_shipped_config_loads() {
    let configs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut loaded = Vec::new();
    for entry in std::fs::read_dir(&configs).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            RunConfig::load(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            loaded.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    for name in ["ptb-tiny.toml", "ptb-small.toml", "ptb-best.toml"] {
        assert!(
            loaded.iter().any(|l| l == name),
            "{name} not among {loaded:?}"
        );
    }
    let best = RunConfig::load(&configs.join("ptb-best.toml"), &[]).unwrap();
    assert_eq!((best.model().ctx, best.train().max_steps), (128, 9500));
    // The AMX recipe is ptb-best's with bf16 products, a longer schedule and more weight
    // decay, nothing else.
    let amx = RunConfig::load(&configs.join("ptb-best-bf16.toml"), &[]).unwrap();
    assert_eq!(amx.train().precision, perplex_model::Precision::Bf16);
    assert_eq!(amx.train().max_steps, 12_500);
    assert_eq!(amx.train().weight_decay, 0.6);
    let same_otherwise = RunConfig::load(
        &configs.join("ptb-best.toml"),
        &[
            "train.precision=bf16".into(),
            "train.max_steps=12500".into(),
            "train.weight_decay=0.6".into(),
        ],
    )
    .unwrap();
    assert_eq!(amx, same_otherwise);
}

/// `precision` is optional (f32, not written back); bf16 round-trips; anything else is
/// refused naming the formats there are.
#[test]
fn precision_defaults_to_fp32_and_refuses_an_unknown_format() {
    let (_dir, path) = write(SMALL);
    let default = RunConfig::load(&path, &[]).unwrap();
    assert_eq!(default.train().precision, perplex_model::Precision::Fp32);
    assert!(!default.to_toml().contains("precision"));
    let bf16 = RunConfig::load(&path, &["train.precision=bf16".into()]).unwrap();
    assert_eq!(bf16.train().precision, perplex_model::Precision::Bf16);
    assert_eq!(RunConfig::from_toml(&bf16.to_toml()).unwrap(), bf16);
    let err = RunConfig::load(&path, &["train.precision=fp16".into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("fp16") && err.contains("bf16"), "{err}");
}
