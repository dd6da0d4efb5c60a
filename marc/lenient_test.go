package marc

import (
	"errors"
	"testing"
)

// TestDecodeLenientBroken runs the lenient decoder over every broken
// record: it must report at least one problem of the strict error's kind,
// return a record that encodes, and recover what the damage left intact.
func TestDecodeLenientBroken(t *testing.T) {
	intact := rec("00071cam a2200049 a 4500", ctl("001", "123"), dat("245", "10", "aTitle", "cAuth."))
	// What each case must recover; cases not listed must at least keep
	// every field the damage did not touch.
	want := map[string][]Field{
		"length-not-digits":             intact.Fields,
		"length-too-big":                intact.Fields,
		"length-too-small":              intact.Fields,
		"leader-control-byte":           intact.Fields,
		"indicator-count":               intact.Fields,
		"subfield-code-length":          intact.Fields,
		"length-of-length":              intact.Fields,
		"base-not-digits":               intact.Fields,
		"base-mismatch":                 intact.Fields,
		"no-record-terminator":          intact.Fields,
		"directory-unterminated":        intact.Fields,
		"directory-misaligned":          intact.Fields[:1],
		"entry-length-not-digits":       intact.Fields,
		"entry-start-not-digits":        intact.Fields,
		"entry-length-zero":             intact.Fields,
		"tag-not-alphanumeric":          intact.Fields[:1],
		"field-outside-record":          intact.Fields,
		"field-past-data":               intact.Fields,
		"field-terminator-missing":      intact.Fields,
		"field-terminator-inside":       {ctl("001", "123"), dat("245", "10", "aTtle", "cAuth.")},
		"record-terminator-inside":      {ctl("001", "123"), dat("245", "10", "aTtle", "cAuth.")},
		"control-field-delimiter":       {ctl("001", "13"), intact.Fields[1]},
		"control-field-nul":             {ctl("001", "12"), intact.Fields[1]},
		"value-nul":                     {ctl("001", "123"), dat("245", "10", "aTtle", "cAuth.")},
		"indicator-delimiter":           {ctl("001", "123"), dat("245", "1 ", "aTitle", "cAuth.")},
		"indicator-nul":                 {ctl("001", "123"), dat("245", " 0", "aTitle", "cAuth.")},
		"data-field-too-short":          {ctl("001", "123"), dat("245", "1 ")},
		"no-delimiter-after-indicators": {ctl("001", "123"), dat("245", "10", "cAuth.")},
		"delimiter-without-code":        {ctl("001", "123"), dat("245", "10", "aTitle", "Auth.")},
		"delimiter-at-field-end":        {ctl("001", "123"), dat("245", "10", "aTitle", "cAuth")},
	}
	for _, c := range brokenCases {
		t.Run(c.name, func(t *testing.T) {
			r, probs := DecodeLenient(brokenBytes(c))
			if len(probs) == 0 {
				t.Fatal("no problems reported")
			}
			found := false
			for _, p := range probs {
				if p.Kind == nil || p.Detail == "" || p.Offset < 0 {
					t.Errorf("incomplete problem %+v", p)
				}
				if errors.Is(&p, ErrInvalidRecord) && p.Kind == c.kind {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem of kind %v among %v", c.kind, probs)
			}
			if c.name == "short" {
				if r != nil {
					t.Fatalf("record from 20 bytes: %+v", r)
				}
				return
			}
			if r == nil {
				t.Fatal("nil record")
			}
			if _, err := Encode(r); err != nil {
				t.Fatalf("recovered record does not encode: %v", err)
			}
			w, ok := want[c.name]
			if !ok {
				if c.name != "leader-high-byte" {
					t.Fatalf("no expectation for %s", c.name)
				}
				w = intact.Fields
			}
			got := &Record{Fields: r.Fields}
			if !got.Equal(&Record{Fields: w}) {
				t.Errorf("recovered fields %+v\nwant %+v\nproblems: %v", r.Fields, w, probs)
			}
		})
	}
}

func TestDecodeLenientValid(t *testing.T) {
	rs, _ := corpusFile(t)
	for i, want := range rs {
		got, probs := DecodeLenient(mustEncode(t, want))
		if len(probs) > 0 || !got.Equal(want) {
			t.Fatalf("record %d: %d problems %v; equal %v", i, len(probs), probs, got.Equal(want))
		}
	}
}

func TestDecodeLenientLeaderRepair(t *testing.T) {
	b := baseBroken()
	copy(b[20:], "36")
	b[9] = 0x01
	r, probs := DecodeLenient(b)
	if got := string(r.Leader[:]); got != "00071cam  2200049 a 4500" { // 09 blanked, 20-21 fixed
		t.Errorf("leader = %q", got)
	}
	if len(probs) != 3 {
		t.Errorf("problems = %v, want three (leader/09, 20, 21)", probs)
	}
}
