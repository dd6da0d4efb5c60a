package catalog

import "strings"

// The full-text index uses SQLite's unicode61 tokenizer with
// remove_diacritics 2, which folds case and removes every diacritic that
// Unicode decomposes (é, ü, ñ, ř, and the combining marks MARC-8 records
// arrive with once converted). fold does, before the tokenizer sees the
// text, what it leaves out and catalogers expect: letters that carry a
// stroke or are ligatures in the romanisation tables (Ł, Ø, Đ, Æ, ß, Þ)
// become their ASCII spelling, and the modifier letters the ALA-LC tables
// use for alif, ayn and the soft and hard signs (ʼ ʻ ʹ ʺ) disappear, so
// "Lodz" finds "Łódź", "Orsted" finds "Ørsted" and "Quran" finds
// "Qurʼān". Index text and queries go through the same fold.
var folder = strings.NewReplacer(
	"Ł", "L", "ł", "l",
	"Ø", "O", "ø", "o",
	"Đ", "D", "đ", "d",
	"Ð", "D", "ð", "d",
	"Ħ", "H", "ħ", "h",
	"Ŧ", "T", "ŧ", "t",
	"Ŀ", "L", "ŀ", "l",
	"ı", "i",
	"ĸ", "k",
	"Æ", "AE", "æ", "ae",
	"Œ", "OE", "œ", "oe",
	"ß", "ss", "ẞ", "SS",
	"Þ", "TH", "þ", "th",
	"Ĳ", "IJ", "ĳ", "ij",
	"ﬀ", "ff", "ﬁ", "fi", "ﬂ", "fl", "ﬃ", "ffi", "ﬄ", "ffl", "ﬅ", "st", "ﬆ", "st",
	"ʼ", "", // U+02BC modifier letter apostrophe (alif)
	"ʻ", "", // U+02BB modifier letter turned comma (ayn)
	"ʹ", "", // U+02B9 modifier letter prime (soft sign)
	"ʺ", "", // U+02BA modifier letter double prime (hard sign)
	"\u0361", "", // combining double inverted breve (ligature in romanised Cyrillic); removed as a diacritic would be
	"\u0360", "", // combining double tilde
)

// fold prepares text for the full-text index and for queries (see
// folder).
func fold(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return folder.Replace(s)
		}
	}
	return s
}
