package osquerytls

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNodeStoreEnrollAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "nodes.json")
	s, err := openNodeStore(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the file is not written at start: %v", err)
	}
	now := time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)
	k1, err := s.enroll("web-01", "9", now)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := s.enroll("web-02", "", now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if k1 == k2 || len(k1) != 43 {
		t.Fatalf("keys %q and %q", k1, k2)
	}
	if n := s.lookup(k1, now.Add(time.Minute)); n == nil || n.host != "web-01" || n.platform != "9" {
		t.Fatalf("lookup(k1) = %+v", n)
	}
	for _, key := range []string{"", "nope", k1 + "x"} {
		if s.lookup(key, now) != nil {
			t.Errorf("lookup(%q) found a node", key)
		}
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %o, want 600", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), k1) || strings.Contains(string(data), k2) {
		t.Error("the file holds a node key itself, not its digest")
	}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}

	again, err := openNodeStore(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	n := again.lookup(k1, now)
	if n == nil || n.host != "web-01" || !n.enrolled.Equal(now) {
		t.Fatalf("after reopening, lookup(k1) = %+v", n)
	}
	if again.lookup(k2, now) == nil || again.len() != 2 {
		t.Errorf("after reopening: %d nodes", again.len())
	}
	if matches, _ := filepath.Glob(path + ".tmp-*"); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}
}

func TestNodeStoreEvictsLeastRecentlySeen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.json")
	s, err := openNodeStore(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	a, _ := s.enroll("a", "", t0)
	b, _ := s.enroll("b", "", t0.Add(time.Second))
	s.lookup(a, t0.Add(time.Minute)) // a is now the more recent
	c, err := s.enroll("c", "", t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if s.lookup(b, t0) != nil {
		t.Error("b, seen least recently, was kept")
	}
	if s.lookup(a, t0.Add(3*time.Minute)) == nil || s.lookup(c, t0.Add(3*time.Minute)) == nil {
		t.Error("a or c was evicted")
	}

	// A lower max_nodes after a restart keeps the most recently seen.
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	small, err := openNodeStore(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	if small.len() != 1 || small.lookup(a, t0) == nil && small.lookup(c, t0) == nil {
		t.Errorf("reopened with max 1: %d nodes", small.len())
	}
}

func TestNodeStoreDamagedFile(t *testing.T) {
	tests := map[string]string{
		"not JSON":        "{\"version\":1,\"nodes\":[",
		"other version":   `{"version":2,"nodes":[]}`,
		"not a digest":    `{"version":1,"nodes":[{"key_sha256":"abc","host_identifier":"h"}]}`,
		"digest too long": `{"version":1,"nodes":[{"key_sha256":"` + strings.Repeat("ab", 33) + `"}]}`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nodes.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := openNodeStore(path, 10)
			if !errors.Is(err, errNodesFileDamaged) || s == nil {
				t.Fatalf("openNodeStore = %v, %v; want a usable store and errNodesFileDamaged", s, err)
			}
			if s.len() != 0 {
				t.Errorf("%d nodes from a damaged file", s.len())
			}
			kept, err := os.ReadFile(path + ".damaged")
			if err != nil || string(kept) != content {
				t.Errorf("damaged file not kept aside: %q, %v", kept, err)
			}
			var f nodesFile
			data, _ := os.ReadFile(path)
			if err := json.Unmarshal(data, &f); err != nil || f.Version != nodesFileVersion {
				t.Errorf("the new file is not a valid empty store: %q", data)
			}
		})
	}
}

func TestNodeStoreUnusablePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openNodeStore(filepath.Join(blocker, "nodes.json"), 10); err == nil {
		t.Error("a path under a regular file was accepted")
	}
	if _, err := openNodeStore(dir, 10); err == nil {
		t.Error("a directory was accepted as the file")
	}
}

func TestNodeStoreEnrollFailsWhenTheFileCannotBeWritten(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := openNodeStore(filepath.Join(dir, "nodes.json"), 10)
	if err != nil {
		t.Fatal(err)
	}
	// The directory vanishes and a file takes its place: no write can work.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := s.enroll("h", "", time.Now())
	if err == nil || key != "" {
		t.Fatalf("enroll = %q, %v; want an error", key, err)
	}
	if s.len() != 0 {
		t.Error("a node whose key was never handed out is kept")
	}
}

func TestNodeStoreConcurrentEnrollments(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.json")
	s, err := openNodeStore(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	keys := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := s.enroll("h", "", time.Now())
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	// Every enroll returned after a write that held its key.
	reopened, err := openNodeStore(path, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if reopened.lookup(k, time.Now()) == nil {
			t.Errorf("key %d is not in the file", i)
		}
	}
}
