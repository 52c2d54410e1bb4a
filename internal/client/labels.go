package client

import (
	"hash/maphash"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
)

// tenantLabel is the reserved label through which a pipeline picks the tenant
// of an entry. It selects the batch and the X-Scope-OrgID header and never
// becomes part of the stream.
const tenantLabel model.LabelName = "__tenant_id__"

// labelPair is one label of a stream.
type labelPair struct {
	name  model.LabelName
	value model.LabelValue
}

// externalPairs lists the external labels a stream can take, the tenant
// label left out.
func externalPairs(external model.LabelSet) []labelPair {
	var pairs []labelPair
	for n, v := range external {
		if n != tenantLabel {
			pairs = append(pairs, labelPair{n, v})
		}
	}
	return pairs
}

// streamPairs appends the labels of the stream an entry belongs to: its own
// labels over the external ones, without the tenant label. The entry's labels
// are walked once, and nothing is allocated once pairs has grown.
func streamPairs(pairs []labelPair, ls model.LabelSet, external []labelPair) []labelPair {
	for n, v := range ls {
		if n != tenantLabel {
			pairs = append(pairs, labelPair{n, v})
		}
	}
	for _, p := range external {
		if _, overridden := ls[p.name]; !overridden {
			pairs = append(pairs, p)
		}
	}
	return pairs
}

// fingerprintSeed keys the stream index's hash; fingerprints never leave the
// process.
var fingerprintSeed = maphash.MakeSeed()

// fingerprint hashes a stream's labels in any order.
func fingerprint(pairs []labelPair) uint64 {
	var fp uint64
	for _, p := range pairs {
		// Name and value are hashed apart, then mixed so that no pair's hash
		// is a linear function of the two: XORing pairs would otherwise
		// equate {a=b, b=a} with {a=a, b=b}.
		h := maphash.String(fingerprintSeed, string(p.name))*0x9e3779b97f4a7c15 ^ maphash.String(fingerprintSeed, string(p.value))
		h ^= h >> 29
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 32
		fp ^= h
	}
	return fp
}

// sameStream reports whether stream, a materialised stream label set, has
// exactly the labels pairs, which streamPairs built. Fingerprints can
// collide, so a fingerprint match is confirmed with this.
func sameStream(stream model.LabelSet, pairs []labelPair) bool {
	if len(stream) != len(pairs) {
		return false
	}
	for _, p := range pairs {
		if v, ok := stream[p.name]; !ok || v != p.value {
			return false
		}
	}
	return true
}

// streamLabels builds the label set of a stream from its pairs.
func streamLabels(pairs []labelPair) model.LabelSet {
	ls := make(model.LabelSet, len(pairs))
	for _, p := range pairs {
		ls[p.name] = p.value
	}
	return ls
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
