//! The `key value` pairs of a printed log line, whatever the trainer's punctuation:
//! `step:125/6200 val_loss:5.2017`, `s:0 trl:11.0091 lr:0.000001`, `Iter 10: Train loss 2.003,
//! Learning Rate 1.000e-05`, `| lm loss: 3.296875E+00 | grad norm: nan |`, `loss=3.147,
//! num_updates=40100`. Each number is paired with the words just before it, normalised
//! (lower case, `_` and `-` as spaces), so the readers match names, not layouts.

/// One number of a line and the words before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The normalised key: `val loss`, `learning rate`, `s`, `num updates`; empty when the
    /// number follows another number or a delimiter only (`/6200`, `| 85 /`).
    pub key: String,
    /// The number as written (`nan` and `inf` included).
    pub value: f64,
}

/// Characters that end a key: a number's key is the text after the last of them.
const DELIMITERS: [char; 6] = [',', '|', ';', '/', '(', ')'];

/// Splits a line into its pairs, in order. A number glued to a word (`1234ms`, `10M`, `x2`) is
/// part of no pair: its letters are a unit, not the next key.
pub fn pairs(line: &str) -> Vec<Pair> {
    let mut out = Vec::new();
    let mut key_start = 0;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(len) = number_at(line, i) {
            let text = &line[i..i + len];
            let after = line[i + len..].chars().next();
            let glued_after = after.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !glued_after && let Some(value) = super::number_text(text) {
                out.push(Pair {
                    key: normalise(&line[key_start..i]),
                    value,
                });
            }
            i += len;
            // Letters right after a number are its unit: skip them before the next key.
            while i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'%') {
                i += 1;
            }
            key_start = i;
            continue;
        }
        i += line[i..].chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// The length of a number starting at byte `i`, when one starts there: digits with an
/// optional sign, point and exponent, or `nan` / `inf` as words. It must not continue a word
/// (`v2`, `gpt2`) or an identifier (`step+1`).
fn number_at(line: &str, i: usize) -> Option<usize> {
    let before = line[..i].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '+' | '{' | '*')) {
        return None;
    }
    let rest = &line[i..];
    for word in ["nan", "NaN", "inf", "Infinity", "-inf", "-Infinity"] {
        if rest.starts_with(word)
            && !rest[word.len()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        {
            return Some(word.len());
        }
    }
    let b = rest.as_bytes();
    let mut j = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits_from = j;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    let int_digits = j - digits_from;
    if j < b.len() && b[j] == b'.' {
        let frac_from = j + 1;
        let mut k = frac_from;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        if k > frac_from || int_digits > 0 {
            j = if k > frac_from { k } else { j };
        }
    }
    if int_digits == 0 && !(j > digits_from && b[digits_from] == b'.') {
        return None;
    }
    if j < b.len() && matches!(b[j], b'e' | b'E') {
        let mut k = j + 1;
        if k < b.len() && matches!(b[k], b'-' | b'+') {
            k += 1;
        }
        let exp_from = k;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        if k > exp_from {
            j = k;
        }
    }
    Some(j)
}

/// A key as the readers compare it: the text after the last delimiter, without `:` `=` `[`
/// `]` and quotes, lower case, `_` and `-` read as spaces, spaces collapsed.
pub fn normalise(text: &str) -> String {
    let tail = text.rsplit(DELIMITERS).next().unwrap_or("");
    let cleaned: String = tail
        .chars()
        .map(|c| match c {
            '_' | '-' => ' ',
            ':' | '=' | '[' | ']' | '\'' | '"' | '{' | '}' => ' ',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(line: &str) -> Vec<(String, f64)> {
        pairs(line).into_iter().map(|p| (p.key, p.value)).collect()
    }

    fn k(key: &str, value: f64) -> (String, f64) {
        (key.to_string(), value)
    }

    #[test]
    fn each_trainer_s_punctuation_gives_the_same_pairs() {
        assert_eq!(
            keys("step:125/6200 val_loss:5.2017 train_time:21503ms step_avg:172.02ms"),
            [k("step", 125.0), k("", 6200.0), k("val loss", 5.2017)]
        );
        assert_eq!(
            keys("s:0 trl:11.0091 lr:0.000001 norm:15.37"),
            [
                k("s", 0.0),
                k("trl", 11.0091),
                k("lr", 1e-6),
                k("norm", 15.37)
            ]
        );
        assert_eq!(
            keys("Iter 10: Train loss 2.003, Learning Rate 1.000e-05, It/sec 0.120"),
            [
                k("iter", 10.0),
                k("train loss", 2.003),
                k("learning rate", 1e-5),
                k("sec", 0.12)
            ]
        );
        assert_eq!(
            keys("epoch 143:     85 / 282 loss=3.147, nll_loss=1.236, num_updates=40100"),
            [
                k("epoch", 143.0),
                k("", 85.0),
                k("", 282.0),
                k("loss", 3.147),
                k("nll loss", 1.236),
                k("num updates", 40100.0)
            ]
        );
        assert_eq!(
            keys("Epoch [1/10] Train Loss: 3.9622 Val Loss: 2.8424"),
            [
                k("epoch", 1.0),
                k("", 10.0),
                k("train loss", 3.9622),
                k("val loss", 2.8424)
            ]
        );
    }

    #[test]
    fn non_finite_values_and_exponents_are_numbers() {
        let p = keys("| lm loss: 3.296875E+00 | grad norm: nan | loss scale: inf |");
        assert_eq!(p[0], k("lm loss", 3.296875));
        assert!(p[1].0 == "grad norm" && p[1].1.is_nan());
        assert_eq!(p[2], k("loss scale", f64::INFINITY));
    }

    #[test]
    fn numbers_inside_words_and_code_are_no_pairs() {
        assert!(keys("model gpt2 with 10M parameters").is_empty());
        assert!(keys("print(f\"step:{step+1}/{args.num_iterations}\")").is_empty());
        assert_eq!(keys("loss nanometers"), []);
    }
}
