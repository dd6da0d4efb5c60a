package marc

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
)

// rawRecord assembles a record from a directory and a data area, with a
// correct record length and base address, whatever the entries say.
func rawRecord(entries []string, data []byte) []byte {
	dir := []byte{}
	for _, e := range entries {
		dir = append(dir, e...)
	}
	base := LeaderLen + len(dir) + 1
	total := base + len(data) + 1
	out := fmt.Appendf(nil, "%05dnam a22%05d   4500", total, base)
	out = append(out, dir...)
	out = append(out, FieldTerminator)
	out = append(out, data...)
	return append(out, RecordTerminator)
}

// hostileRecords are the worst inputs for the decoders' work and memory:
// thousands of directory entries claiming the same bytes.
func hostileRecords() map[string][]byte {
	const n = 4000
	same := make([]string, n)
	noDigits := make([]string, n)
	for i := range same {
		same[i] = "245" + "9999" + "00000"
		noDigits[i] = "245" + "xxxx" + "xxxxx"
	}
	flat := bytes.Repeat([]byte{'a'}, 99999-LeaderLen-12*n-2)
	delims := bytes.Repeat([]byte{SubfieldDelimiter}, len(flat))
	framed := append(append([]byte("10"), bytes.Repeat([]byte{SubfieldDelimiter, 'a'}, 4997)...), FieldTerminator)
	shortFields := bytes.Repeat([]byte{'x', FieldTerminator}, len(flat)/2)
	return map[string][]byte{
		"same field, no terminators":  rawRecord(same, flat),
		"same field, all delimiters":  rawRecord(same, delims),
		"same field, framed":          rawRecord(same, append(framed, flat[len(framed):]...)),
		"no digits, short fields":     rawRecord(noDigits, shortFields),
		"no digits, no terminators":   rawRecord(noDigits, flat),
		"no directory terminator":     append([]byte("99999nam a2200000   4500"), bytes.Repeat([]byte("245000100000"), 8332)[:99975]...),
		"all delimiters, no entries":  rawRecord(nil, delims),
		"entries with all delimiters": rawRecord(same, bytes.Repeat([]byte{SubfieldDelimiter, FieldTerminator}, len(flat)/2)),
	}
}

// TestDecodersBoundedMemory checks that neither decoder allocates more
// than a small multiple of its input, whatever the input claims.
func TestDecodersBoundedMemory(t *testing.T) {
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for name, data := range hostileRecords() {
		t.Run(name, func(t *testing.T) {
			limit := uint64(40*len(data) + 1<<20)
			if got := allocated(func() { Decode(data) }); got > limit {
				t.Errorf("Decode allocated %d bytes for a %d-byte record", got, len(data))
			}
			var probs []Problem
			if got := allocated(func() { _, probs = DecodeLenient(data) }); got > limit {
				t.Errorf("DecodeLenient allocated %d bytes for a %d-byte record (%d problems)", got, len(data), len(probs))
			}
		})
	}
}

func TestDecodeRejectsOverlappingFields(t *testing.T) {
	// Two entries for the same bytes, out of order.
	data := rawRecord([]string{"245000500004", "246000500004", "001000400000"}, []byte("123\x1e10\x1fa\x1e"))
	_, err := Decode(data)
	if err == nil {
		t.Fatal("overlapping fields accepted")
	}
	de := err.(*DecodeError)
	if de.Kind != ErrFieldBounds || de.Offset != 36 {
		t.Fatalf("error %v, want ErrFieldBounds at the second entry (36)", err)
	}
	// Out of order but disjoint is fine.
	data = rawRecord([]string{"245000500004", "001000400000"}, []byte("123\x1e10\x1fa\x1e"))
	r, err := Decode(data)
	if err != nil || r.Fields[0].Tag != "245" || r.Fields[1].Value != "123" {
		t.Fatalf("out-of-order fields: %v %v", r, err)
	}
}

// BenchmarkDecodeHostile measures the decoders on the hostile records:
// their time must stay proportional to the input.
func BenchmarkDecodeHostile(b *testing.B) {
	for name, data := range hostileRecords() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				Decode(data)
				DecodeLenient(data)
			}
		})
	}
}
