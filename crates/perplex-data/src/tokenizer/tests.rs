use super::encode::pieces;
use super::*;

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ids_follow_first_appearance_with_eos_after_first_line() {
    let tok = CorpusTokenizer::from_train_lines(&lines(&[" a b a ", " c <unk> b"])).unwrap();
    assert_eq!(tok.vocab_size(), 5);
    let order: Vec<String> = (0..5).map(|i| tok.token(i).unwrap()).collect();
    assert_eq!(order, ["a", "b", "<eos>", "c", "<unk>"]);
}

#[test]
fn unknown_words_map_to_unk_and_are_counted() {
    let tok = CorpusTokenizer::from_train_lines(&lines(&["the cat <unk>"])).unwrap();
    let enc = tok
        .encode_lines(&lines(&["the dog <unk>", "cat zebra"]))
        .unwrap();
    let unk = tok.unk_id();
    let eos = tok.eos_id();
    assert_eq!(enc.ids, vec![0, unk, unk, eos, 1, unk, eos]);
    assert_eq!(enc.unk_tokens, 3, "dog, <unk> and zebra");
    assert_eq!(enc.oov_words, 2, "dog and zebra were never in train");
}

#[test]
fn save_and_load_keep_ids_and_fingerprint() {
    let tok = CorpusTokenizer::from_train_lines(&lines(&["x y z", "z y w"])).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    tok.save(&path).unwrap();
    let back = CorpusTokenizer::load(&path).unwrap();
    let text = lines(&["w x y z q"]);
    assert_eq!(
        tok.encode_lines(&text).unwrap(),
        back.encode_lines(&text).unwrap()
    );
    assert_eq!(tok.fingerprint().unwrap(), back.fingerprint().unwrap());
    let other = CorpusTokenizer::from_train_lines(&lines(&["y x z"])).unwrap();
    assert_ne!(tok.fingerprint().unwrap(), other.fingerprint().unwrap());
}

#[test]
fn trained_tokenizers_round_trip_text_and_differ_by_kind() {
    let text = lines(&[
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat and a dog",
    ]);
    let mut prints = std::collections::HashSet::new();
    for (kind, size) in [
        (TokenizerKind::WordLevel, 100),
        (TokenizerKind::Bpe, 40),
        (TokenizerKind::Char, 0),
    ] {
        let tok = CorpusTokenizer::train(kind, &text, size).unwrap();
        let enc = tok.encode_lines(&text[..2]).unwrap();
        assert_eq!(enc.unk_tokens, 0, "{kind:?}");
        assert_eq!(
            tok.decode(&enc.ids),
            "the cat sat on the mat\nthe dog sat on the log\n"
        );
        assert!(prints.insert(tok.fingerprint().unwrap()), "{kind:?}");
        // An unseen character is unknown to the subword kinds; an unseen word to wordlevel.
        let unseen = tok.encode_lines(&lines(&["the zebra"])).unwrap();
        assert!(
            unseen.unk_tokens >= 1 && unseen.oov_words >= 1,
            "{kind:?}: {unseen:?}"
        );
    }
    let chars = CorpusTokenizer::train(TokenizerKind::Char, &text, 0).unwrap();
    let distinct: std::collections::HashSet<char> =
        text.concat().chars().filter(|c| *c != ' ').collect();
    // Characters, the word-start marker variants and the two specials.
    assert!(
        chars.vocab_size() <= 2 * distinct.len() + 3,
        "{}",
        chars.vocab_size()
    );
    let bpe = CorpusTokenizer::train(TokenizerKind::Bpe, &text, 40).unwrap();
    assert!(
        bpe.encode_lines(&text).unwrap().ids.len() < chars.encode_lines(&text).unwrap().ids.len()
    );
}

#[test]
fn decode_shows_eos_as_line_break() {
    let tok = CorpusTokenizer::from_train_lines(&lines(&["hello world"])).unwrap();
    let ids = tok
        .encode_lines(&lines(&["hello world", "world"]))
        .unwrap()
        .ids;
    assert_eq!(tok.decode(&ids), "hello world\nworld\n");
}

#[test]
fn a_huge_line_encodes_as_it_would_whole() {
    let words: Vec<String> = (0..80_000).map(|i| format!("w{}", i % 97)).collect();
    let line = words.join(" ");
    assert!(line.len() > 3 * (1 << 16));
    let lines = vec![line.clone(), "w1 w2".to_string()];
    let tokenizer = CorpusTokenizer::from_train_lines(&lines).unwrap();
    let enc = tokenizer.encode_lines(&lines).unwrap();
    assert_eq!(enc.ids.len(), 80_000 + 1 + 2 + 1);
    let expected: Vec<u32> = words
        .iter()
        .map(|w| tokenizer.encode_text(w).unwrap()[0])
        .collect();
    assert_eq!(&enc.ids[..80_000], &expected[..]);
    assert_eq!(enc.ids[80_000], tokenizer.eos_id());
    let parts = pieces(&line);
    assert!(parts.len() >= 4 && parts.iter().all(|p| p.len() <= 1 << 16));
    assert_eq!(parts.concat(), line);
}

#[test]
fn a_trained_word_level_vocabulary_has_no_holes_and_a_holed_one_is_refused() {
    // PTB writes unknown words as the literal `<unk>`: the trainer's special token.
    let text = lines(&["the <unk> sat on the mat", "a <unk> ran", "the dog <unk>"]);
    let tok = CorpusTokenizer::train(TokenizerKind::WordLevel, &text, 100).unwrap();
    let vocab = tok.inner.get_vocab(true);
    let mut ids: Vec<u32> = vocab.values().copied().collect();
    ids.sort();
    assert_eq!(ids, (0..vocab.len() as u32).collect::<Vec<_>>());
    assert_eq!(tok.vocab_size(), vocab.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    tok.save(&path).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["model"]["vocab"]["mat"] = serde_json::json!(vocab.len() + 5);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = CorpusTokenizer::load(&path).err().unwrap().to_string();
    assert!(err.contains("not 0.."), "{err}");
}
