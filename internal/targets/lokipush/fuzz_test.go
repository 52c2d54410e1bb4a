package lokipush

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzEncodings are the Content-Encoding values the fuzzer picks from: the
// supported ones and one that is refused.
var fuzzEncodings = []string{"", "gzip", "deflate", "snappy", "br"}

// FuzzDecodeBody runs arbitrary bodies through decompression and both
// decoders. The seeds in testdata/fuzz/FuzzDecodeBody are valid and
// truncated requests of each format and encoding. Bad input must be
// refused with 400 or 413 and a reason, never panic; accepted input must
// carry only labels Loki accepts.
func FuzzDecodeBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, encoding uint8, asJSON bool) {
		r := httptest.NewRequest(http.MethodPost, PushPath, bytes.NewReader(body))
		r.Header.Set("Content-Encoding", fuzzEncodings[int(encoding)%len(fuzzEncodings)])
		if asJSON {
			r.Header.Set("Content-Type", "application/json")
		}
		streams, rerr := decodeBody(httptest.NewRecorder(), r, 1<<20)
		if rerr != nil {
			if rerr.status != http.StatusBadRequest && rerr.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d for a bad body", rerr.status)
			}
			if rerr.reason == "" || rerr.Error() == "" {
				t.Fatalf("refusal without reason or message: %+v", rerr)
			}
			return
		}
		for i, s := range streams {
			if err := validateLabels(s.labels); err != nil {
				t.Fatalf("stream %d accepted with bad labels: %v", i, err)
			}
			for _, e := range s.entries {
				if err := validateMetadata(e.StructuredMetadata); err != nil {
					t.Fatalf("stream %d accepted with bad structured metadata: %v", i, err)
				}
				if len(e.Parsed) != 0 {
					t.Fatalf("stream %d keeps parsed labels", i)
				}
			}
		}
	})
}
