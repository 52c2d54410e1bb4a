package client

import (
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
)

// tenantLabel is the reserved label through which a pipeline picks the tenant
// of an entry. It selects the batch and the X-Scope-OrgID header and never
// becomes part of the stream.
const tenantLabel model.LabelName = "__tenant_id__"

// FNV-1a, the hash behind model.LabelSet.FastFingerprint.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvAddString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

func pairHash(name model.LabelName, value model.LabelValue) uint64 {
	h := fnvAddString(fnvOffset64, string(name))
	h ^= uint64(model.SeparatorByte)
	h *= fnvPrime64
	return fnvAddString(h, string(value))
}

// streamFingerprint is model.LabelSet.FastFingerprint of the stream an entry
// belongs to: its labels over the external labels, without the tenant label.
// FastFingerprint XORs one hash per pair, so the merged set never has to be
// built, which keeps the per-entry path free of allocations.
func streamFingerprint(ls, external model.LabelSet) uint64 {
	var fp uint64
	pairs := 0
	for n, v := range ls {
		if n == tenantLabel {
			continue
		}
		fp ^= pairHash(n, v)
		pairs++
	}
	for n, v := range external {
		if _, overridden := ls[n]; overridden || n == tenantLabel {
			continue
		}
		fp ^= pairHash(n, v)
		pairs++
	}
	if pairs == 0 {
		return fnvOffset64
	}
	return fp
}

// sameStream reports whether stream, a materialised stream label set, is the
// stream of an entry with labels ls under the external labels. Fingerprints
// can collide, so a fingerprint match is confirmed with this.
func sameStream(stream, ls, external model.LabelSet) bool {
	pairs := 0
	for n, v := range ls {
		if n == tenantLabel {
			continue
		}
		if sv, ok := stream[n]; !ok || sv != v {
			return false
		}
		pairs++
	}
	for n, v := range external {
		if _, overridden := ls[n]; overridden || n == tenantLabel {
			continue
		}
		if sv, ok := stream[n]; !ok || sv != v {
			return false
		}
		pairs++
	}
	return pairs == len(stream)
}

// mergeStreamLabels builds the label set of an entry's stream: a new map, so
// neither the entry's labels nor the external labels are touched.
func mergeStreamLabels(ls, external model.LabelSet) model.LabelSet {
	merged := make(model.LabelSet, len(ls)+len(external))
	for n, v := range external {
		merged[n] = v
	}
	for n, v := range ls {
		merged[n] = v
	}
	delete(merged, tenantLabel)
	return merged
}

// appendLabels appends ls as Loki and Prometheus print a label set:
// {a="1", b="2"}, names sorted, values Go-quoted. names is scratch space,
// returned for reuse.
func appendLabels(dst []byte, ls model.LabelSet, names []model.LabelName) ([]byte, []model.LabelName) {
	names = names[:0]
	for n := range ls {
		names = append(names, n)
	}
	slices.Sort(names)
	dst = append(dst, '{')
	for i, n := range names {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, n...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, string(ls[n]))
	}
	return append(dst, '}'), names
}
