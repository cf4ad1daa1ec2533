//! Small corpora the project makes itself, for tests and CI machines without PTB.
//!
//! [`markov_corpus`] samples sentences from a sparse first-order Markov chain over `w0 … wN`:
//! every word has a few possible successors, so a model that learns the chain predicts far
//! better than uniform (ln V), while the text still needs learning (it is random).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::corpus::Corpus;
use crate::{DataDir, DataError, Split};

/// The shape of a synthetic corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkovSpec {
    /// Number of distinct words.
    pub words: usize,
    /// Possible successors of each word.
    pub successors: usize,
    /// Lines in the train split (valid and test get a tenth each, at least one).
    pub train_lines: usize,
    /// Seed of the chain and of the sampled text.
    pub seed: u64,
}

/// Samples a corpus from a random sparse Markov chain. Lines hold 5 to 15 words.
pub fn markov_corpus(spec: &MarkovSpec) -> Corpus {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let next: Vec<Vec<usize>> = (0..spec.words)
        .map(|_| {
            (0..spec.successors)
                .map(|_| rng.random_range(0..spec.words))
                .collect()
        })
        .collect();
    let mut lines = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let len = rng.random_range(5..=15);
                let mut word = rng.random_range(0..spec.words);
                let mut line = String::new();
                for _ in 0..len {
                    line.push_str(&format!(" w{word}"));
                    word = next[word][rng.random_range(0..spec.successors)];
                }
                line
            })
            .collect()
    };
    let held_out = (spec.train_lines / 10).max(1);
    Corpus {
        train: lines(spec.train_lines),
        valid: lines(held_out),
        test: lines(held_out),
    }
}

/// Writes a corpus in the PTB layout (`ptb.{train,valid,test}.txt`) under `dir`.
pub fn write_ptb_layout(corpus: &Corpus, dir: &DataDir) -> Result<(), DataError> {
    std::fs::create_dir_all(dir.root()).map_err(|e| DataError::io(dir.root(), e))?;
    for split in Split::ALL {
        let path = dir.split_path(split);
        let mut text = corpus.split(split).join("\n");
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| DataError::io(&path, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_fixes_the_corpus_and_words_follow_the_chain() {
        let spec = MarkovSpec {
            words: 20,
            successors: 2,
            train_lines: 50,
            seed: 4,
        };
        let a = markov_corpus(&spec);
        assert_eq!(a.train, markov_corpus(&spec).train);
        assert_eq!((a.train.len(), a.valid.len(), a.test.len()), (50, 5, 5));
        // With 2 successors per word, no word is followed by more than 2 distinct words.
        let mut followers =
            std::collections::HashMap::<&str, std::collections::HashSet<&str>>::new();
        for line in &a.train {
            let words: Vec<&str> = line.split_whitespace().collect();
            for pair in words.windows(2) {
                followers.entry(pair[0]).or_default().insert(pair[1]);
            }
        }
        assert!(followers.values().all(|f| f.len() <= 2));
    }
}
