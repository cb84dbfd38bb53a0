//! Whisper's special tokens and languages, looked up in the model's tokenizer.

use tokenizers::Tokenizer;

/// Language codes in Whisper's order (the order of their tokens after `<|startoftranscript|>`).
pub const LANGUAGES: &[(&str, &str)] = &[
    ("en", "english"),
    ("zh", "chinese"),
    ("de", "german"),
    ("es", "spanish"),
    ("ru", "russian"),
    ("ko", "korean"),
    ("fr", "french"),
    ("ja", "japanese"),
    ("pt", "portuguese"),
    ("tr", "turkish"),
    ("pl", "polish"),
    ("ca", "catalan"),
    ("nl", "dutch"),
    ("ar", "arabic"),
    ("sv", "swedish"),
    ("it", "italian"),
    ("id", "indonesian"),
    ("hi", "hindi"),
    ("fi", "finnish"),
    ("vi", "vietnamese"),
    ("he", "hebrew"),
    ("uk", "ukrainian"),
    ("el", "greek"),
    ("ms", "malay"),
    ("cs", "czech"),
    ("ro", "romanian"),
    ("da", "danish"),
    ("hu", "hungarian"),
    ("ta", "tamil"),
    ("no", "norwegian"),
    ("th", "thai"),
    ("ur", "urdu"),
    ("hr", "croatian"),
    ("bg", "bulgarian"),
    ("lt", "lithuanian"),
    ("la", "latin"),
    ("mi", "maori"),
    ("ml", "malayalam"),
    ("cy", "welsh"),
    ("sk", "slovak"),
    ("te", "telugu"),
    ("fa", "persian"),
    ("lv", "latvian"),
    ("bn", "bengali"),
    ("sr", "serbian"),
    ("az", "azerbaijani"),
    ("sl", "slovenian"),
    ("kn", "kannada"),
    ("et", "estonian"),
    ("mk", "macedonian"),
    ("br", "breton"),
    ("eu", "basque"),
    ("is", "icelandic"),
    ("hy", "armenian"),
    ("ne", "nepali"),
    ("mn", "mongolian"),
    ("bs", "bosnian"),
    ("kk", "kazakh"),
    ("sq", "albanian"),
    ("sw", "swahili"),
    ("gl", "galician"),
    ("mr", "marathi"),
    ("pa", "punjabi"),
    ("si", "sinhala"),
    ("km", "khmer"),
    ("sn", "shona"),
    ("yo", "yoruba"),
    ("so", "somali"),
    ("af", "afrikaans"),
    ("oc", "occitan"),
    ("ka", "georgian"),
    ("be", "belarusian"),
    ("tg", "tajik"),
    ("sd", "sindhi"),
    ("gu", "gujarati"),
    ("am", "amharic"),
    ("yi", "yiddish"),
    ("lo", "lao"),
    ("uz", "uzbek"),
    ("fo", "faroese"),
    ("ht", "haitian creole"),
    ("ps", "pashto"),
    ("tk", "turkmen"),
    ("nn", "nynorsk"),
    ("mt", "maltese"),
    ("sa", "sanskrit"),
    ("lb", "luxembourgish"),
    ("my", "myanmar"),
    ("bo", "tibetan"),
    ("tl", "tagalog"),
    ("mg", "malagasy"),
    ("as", "assamese"),
    ("tt", "tatar"),
    ("haw", "hawaiian"),
    ("ln", "lingala"),
    ("ha", "hausa"),
    ("ba", "bashkir"),
    ("jw", "javanese"),
    ("su", "sundanese"),
    ("yue", "cantonese"),
];

/// Ids of the special tokens of one model's vocabulary.
#[derive(Debug, Clone)]
pub struct SpecialTokens {
    pub sot: u32,
    pub eot: u32,
    pub transcribe: Option<u32>,
    pub translate: Option<u32>,
    pub sot_prev: u32,
    pub sot_lm: Option<u32>,
    pub no_speech: Option<u32>,
    pub no_timestamps: u32,
    pub timestamp_begin: u32,
    /// (code, token id) for every language the vocabulary has; empty for English-only models.
    pub languages: Vec<(&'static str, u32)>,
}

impl SpecialTokens {
    pub fn from_tokenizer(tok: &Tokenizer, n_vocab: usize) -> Result<Self, String> {
        let id = |s: &str| tok.token_to_id(s);
        let need = |s: &str| id(s).ok_or_else(|| format!("its tokenizer has no {s} token"));
        let no_timestamps = need("<|notimestamps|>")?;
        let eot = need("<|endoftext|>")?;
        // English-only vocabularies have 51864 entries; multilingual ones have more.
        let multilingual = n_vocab >= 51865;
        let languages = if multilingual {
            LANGUAGES
                .iter()
                .filter_map(|(code, _)| id(&format!("<|{code}|>")).map(|i| (*code, i)))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            sot: need("<|startoftranscript|>")?,
            eot,
            transcribe: id("<|transcribe|>"),
            translate: id("<|translate|>"),
            sot_prev: need("<|startofprev|>")?,
            sot_lm: id("<|startoflm|>"),
            no_speech: id("<|nospeech|>").or_else(|| id("<|nocaptions|>")),
            no_timestamps,
            timestamp_begin: no_timestamps + 1,
            languages,
        })
    }

    pub fn is_multilingual(&self) -> bool {
        !self.languages.is_empty()
    }

    pub fn language_token(&self, code: &str) -> Option<u32> {
        self.languages
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, i)| *i)
    }

    pub fn language_code(&self, token: u32) -> Option<&'static str> {
        self.languages
            .iter()
            .find(|(_, i)| *i == token)
            .map(|(c, _)| *c)
    }
}

/// Resolve a `--language` value (a code such as `de` or a name such as `german`) to its code.
pub fn language_code(arg: &str) -> Option<&'static str> {
    let a = arg.trim().to_lowercase();
    LANGUAGES
        .iter()
        .find(|(code, name)| *code == a || *name == a)
        .map(|(c, _)| *c)
}
