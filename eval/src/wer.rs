//! Word error rate, with an English text normaliser in the spirit of Whisper's: case,
//! punctuation, fillers and bracketed tokens dropped; spelled-out numbers, ordinals and years
//! written as digits, so "eighteen thirteen" and "1813" score as the same word.

/// Edit distance between two word sequences, in words.
pub fn edit_distance(reference: &[String], hypothesis: &[String]) -> usize {
    let mut prev: Vec<usize> = (0..=hypothesis.len()).collect();
    let mut cur = vec![0; hypothesis.len() + 1];
    for (i, r) in reference.iter().enumerate() {
        cur[0] = i + 1;
        for (j, h) in hypothesis.iter().enumerate() {
            let sub = prev[j] + usize::from(r != h);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[hypothesis.len()]
}

/// One step of a word alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Match,
    Substitute,
    Delete,
    Insert,
}

/// A minimum-edit alignment of `hypothesis` against `reference`.
pub fn align(reference: &[String], hypothesis: &[String]) -> Vec<Edit> {
    let (n, m) = (reference.len(), hypothesis.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let sub = d[i - 1][j - 1] + usize::from(reference[i - 1] != hypothesis[j - 1]);
            d[i][j] = sub.min(d[i - 1][j] + 1).min(d[i][j - 1] + 1);
        }
    }
    let (mut i, mut j) = (n, m);
    let mut ops = Vec::with_capacity(n.max(m));
    while i > 0 || j > 0 {
        if i > 0
            && j > 0
            && d[i][j] == d[i - 1][j - 1] + usize::from(reference[i - 1] != hypothesis[j - 1])
        {
            ops.push(if reference[i - 1] == hypothesis[j - 1] {
                Edit::Match
            } else {
                Edit::Substitute
            });
            i -= 1;
            j -= 1;
        } else if i > 0 && d[i][j] == d[i - 1][j] + 1 {
            ops.push(Edit::Delete);
            i -= 1;
        } else {
            ops.push(Edit::Insert);
            j -= 1;
        }
    }
    ops.reverse();
    ops
}

/// Longest run of consecutive reference words missing from the hypothesis (after normalising).
pub fn longest_deletion(reference: &str, hypothesis: &str) -> usize {
    let ops = align(&normalize(reference), &normalize(hypothesis));
    let (mut best, mut run) = (0, 0);
    for op in ops {
        match op {
            Edit::Delete => {
                run += 1;
                best = best.max(run);
            }
            Edit::Insert => {}
            _ => run = 0,
        }
    }
    best
}

impl std::ops::Add for WerCount {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            errors: self.errors + o.errors,
            words: self.words + o.words,
        }
    }
}

/// Errors and reference length for one pair of texts, after normalisation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WerCount {
    pub errors: usize,
    pub words: usize,
}

impl WerCount {
    pub fn of(reference: &str, hypothesis: &str) -> Self {
        let r = normalize(reference);
        let h = normalize(hypothesis);
        Self {
            errors: edit_distance(&r, &h),
            words: r.len(),
        }
    }
    /// Word error rate as a fraction (0.064 = 6.4 %).
    pub fn rate(self) -> f64 {
        if self.words == 0 {
            return if self.errors == 0 { 0.0 } else { 1.0 };
        }
        self.errors as f64 / self.words as f64
    }
}

const FILLERS: &[&str] = &[
    "uh", "um", "uhm", "umm", "hm", "hmm", "mm", "mhm", "er", "erm", "ah", "eh",
];

const ONES: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: &[&str] = &[
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const ORD_ONES: &[&str] = &[
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];
const ORD_TENS: &[&str] = &[
    "",
    "",
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
];

#[derive(Clone, Copy, PartialEq)]
enum Num {
    /// 0..=19
    Small(u64),
    /// 20, 30, .. 90
    Tens(u64),
    Hundred,
    Big(u64),
    Ordinal(u64),
    OrdinalMult(u64),
}

fn num_word(w: &str) -> Option<Num> {
    if let Some(i) = ONES.iter().position(|&x| x == w) {
        return Some(Num::Small(i as u64));
    }
    if let Some(i) = TENS.iter().position(|&x| x == w && !x.is_empty()) {
        return Some(Num::Tens(i as u64 * 10));
    }
    if let Some(i) = ORD_ONES.iter().position(|&x| x == w) {
        return Some(Num::Ordinal(i as u64));
    }
    if let Some(i) = ORD_TENS.iter().position(|&x| x == w && !x.is_empty()) {
        return Some(Num::Ordinal(i as u64 * 10));
    }
    match w {
        "hundred" => Some(Num::Hundred),
        "thousand" => Some(Num::Big(1_000)),
        "million" => Some(Num::Big(1_000_000)),
        "billion" => Some(Num::Big(1_000_000_000)),
        "hundredth" => Some(Num::OrdinalMult(100)),
        "thousandth" => Some(Num::OrdinalMult(1000)),
        _ => None,
    }
}

fn ordinal_suffix(n: u64) -> &'static str {
    match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// A two-digit group ("thirteen", "fifty five", "twenty") starting at `i`: (value, words used).
fn two_digit(words: &[String], i: usize) -> Option<(u64, usize)> {
    match words.get(i).and_then(|w| num_word(w)) {
        Some(Num::Small(v)) if v >= 10 => Some((v, 1)),
        Some(Num::Tens(t)) => match words.get(i + 1).and_then(|w| num_word(w)) {
            Some(Num::Small(o)) if (1..10).contains(&o) => Some((t + o, 2)),
            _ => Some((t, 1)),
        },
        _ => None,
    }
}

/// Replace runs of spelled-out number words by digits.
fn numbers_to_digits(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        if num_word(&words[i]).is_none() {
            out.push(words[i].clone());
            i += 1;
            continue;
        }
        // Years: "eighteen thirteen", "fourteen fifty five", "twenty twenty".
        if let Some((hi, n1)) = two_digit(&words, i) {
            if hi >= 11 && hi % 10 != 0 || hi >= 20 {
                if let Some((lo, n2)) = two_digit(&words, i + n1) {
                    let followed_by_more = matches!(
                        words.get(i + n1 + n2).and_then(|w| num_word(w)),
                        Some(Num::Hundred | Num::Big(_))
                    );
                    if !followed_by_more && hi < 100 {
                        out.push((hi * 100 + lo).to_string());
                        i += n1 + n2;
                        continue;
                    }
                }
            }
        }
        let (mut total, mut current) = (0u64, 0u64);
        let mut last: Option<Num> = None;
        let mut suffix = "";
        let start = i;
        while i < words.len() {
            let Some(n) = num_word(&words[i]) else {
                // "and" inside a number: "one hundred and five".
                if words[i] == "and" && matches!(last, Some(Num::Hundred | Num::Big(_))) {
                    if let Some(Num::Small(_) | Num::Tens(_) | Num::Ordinal(_)) =
                        words.get(i + 1).and_then(|w| num_word(w))
                    {
                        i += 1;
                        continue;
                    }
                }
                break;
            };
            let ok = match (last, n) {
                (None, _) => true,
                (Some(Num::Tens(_)), Num::Small(v) | Num::Ordinal(v)) => {
                    (1..10).contains(&v) && current % 10 == 0
                }
                (
                    Some(Num::Hundred | Num::Big(_)),
                    Num::Small(_) | Num::Tens(_) | Num::Ordinal(_),
                ) => true,
                (Some(Num::Small(v)), Num::Hundred) => v > 0,
                (Some(Num::Small(_) | Num::Tens(_) | Num::Hundred), Num::Big(_)) => true,
                (Some(Num::Small(_) | Num::Tens(_)), Num::OrdinalMult(_)) => true,
                _ => false,
            };
            if !ok {
                break;
            }
            match n {
                Num::Small(v) | Num::Tens(v) => current += v,
                Num::Hundred => current *= 100,
                Num::Big(m) => {
                    total += current.max(1) * m;
                    current = 0;
                }
                Num::Ordinal(v) => {
                    current += v;
                    suffix = ordinal_suffix(total + current);
                }
                Num::OrdinalMult(m) => {
                    current *= m;
                    suffix = "th";
                }
            }
            last = Some(n);
            i += 1;
            if !suffix.is_empty() {
                break;
            }
        }
        if i == start {
            out.push(words[i].clone());
            i += 1;
        } else {
            out.push(format!("{}{suffix}", total + current));
        }
    }
    out
}

/// Normalise a text for scoring; returns its words.
pub fn normalize(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace(['’', '‘'], "'");
    // Drop bracketed asides: [noise], (laughs), <unk>.
    let mut s = String::with_capacity(lower.len());
    let mut depth = 0i32;
    for c in lower.chars() {
        match c {
            '[' | '(' | '<' | '{' => depth += 1,
            ']' | ')' | '>' | '}' => depth = (depth - 1).max(0),
            _ if depth == 0 => s.push(c),
            _ => {}
        }
    }
    let chars: Vec<char> = s.chars().collect();
    let mut cleaned = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let digit_at = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_ascii_digit())
        };
        match c {
            // Thousands separators: 1,000 -> 1000.
            ',' if digit_at(i.checked_sub(1)) && digit_at(Some(i + 1)) => {}
            '%' => cleaned.push_str(" percent "),
            '\'' => {}
            c if c.is_alphanumeric() => cleaned.push(c),
            _ => cleaned.push(' '),
        }
    }
    let words: Vec<String> = cleaned
        .split_whitespace()
        .filter(|w| !FILLERS.contains(w))
        .map(|w| match w {
            "mister" => "mr".to_string(),
            "missus" | "missis" => "mrs".to_string(),
            "ok" => "okay".to_string(),
            _ => w.to_string(),
        })
        .collect();
    numbers_to_digits(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).join(" ")
    }

    #[test]
    fn normalises_case_punctuation_fillers() {
        assert_eq!(
            n("Uh, This isn't [noise] it, Mr. Quilter!"),
            "this isnt it mr quilter"
        );
        assert_eq!(n("The \"lower-case\" letters"), "the lower case letters");
    }

    #[test]
    fn numbers() {
        assert_eq!(n("In eighteen thirteen"), "in 1813");
        assert_eq!(n("about fourteen fifty-five, never"), "about 1455 never");
        assert_eq!(n("the fifteenth century"), "the 15th century");
        assert_eq!(n("For the twentieth time"), "for the 20th time");
        assert_eq!(n("forty-two line Bible"), "42 line bible");
        assert_eq!(n("one hundred and twenty three"), "123");
        assert_eq!(n("two thousand and five"), "2005");
        assert_eq!(n("five five"), "5 5");
        assert_eq!(n("fifteen or twenty years"), "15 or 20 years");
        assert_eq!(n("1,500 people, 3%"), "1500 people 3 percent");
        assert_eq!(n("the twenty first"), "the 21st");
        assert_eq!(n("twenty twenty"), "2020");
    }

    #[test]
    fn word_error_rate() {
        let c = WerCount::of("the cat sat on the mat", "the cat sat on mat");
        assert_eq!(
            c,
            WerCount {
                errors: 1,
                words: 6
            }
        );
        let c = WerCount::of("a b c", "x a b c d");
        assert_eq!(c.errors, 2);
        assert_eq!(WerCount::of("In eighteen thirteen.", "In 1813").errors, 0);
        assert_eq!(WerCount::default().rate(), 0.0);
        assert_eq!(longest_deletion("a b c d e f g", "a b g"), 4);
        assert_eq!(longest_deletion("a b c", "a x b c"), 0);
        assert!(
            (WerCount {
                errors: 1,
                words: 4
            }
            .rate()
                - 0.25)
                .abs()
                < 1e-12
        );
    }
}
