package osquerytls

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// nodeID is the SHA-256 digest of a node key. Only digests are kept, in
// memory and on disk: whoever reads the file cannot send as a node.
type nodeID [sha256.Size]byte

func idOf(key string) nodeID { return sha256.Sum256([]byte(key)) }

// node is one enrolled osqueryd.
type node struct {
	host     string // host_identifier sent at enrollment
	platform string // platform_type sent at enrollment
	enrolled time.Time
	lastSeen atomic.Int64 // Unix nanoseconds of the last accepted request
	limit    bucket
}

// nodeStore holds the node keys issued to osqueryd and persists them, so that
// enrolled nodes keep sending across restarts of the agent.
type nodeStore struct {
	path string
	max  int

	mu    sync.RWMutex
	nodes map[nodeID]*node
	gen   uint64 // counts changes worth persisting

	// saveMu orders writes of the file. An enrollment waits for a write that
	// includes its node; concurrent enrollments share one write.
	saveMu   sync.Mutex
	savedGen uint64
}

// nodesFile is the node keys file.
type nodesFile struct {
	Version int         `json:"version"`
	Nodes   []nodeEntry `json:"nodes"`
}

type nodeEntry struct {
	KeySHA256      string    `json:"key_sha256"`
	HostIdentifier string    `json:"host_identifier"`
	PlatformType   string    `json:"platform_type,omitempty"`
	Enrolled       time.Time `json:"enrolled"`
	LastSeen       time.Time `json:"last_seen"`
}

const nodesFileVersion = 1

// errNodesFileDamaged means the file exists but cannot be decoded.
var errNodesFileDamaged = errors.New("node keys file is damaged")

// openNodeStore loads the node keys file, or starts empty when it does not
// exist; either way the file is written once, so that a path the agent
// cannot write fails now rather than at the first enrollment. A damaged file
// is moved aside to <path>.damaged and reported with errNodesFileDamaged
// alongside a usable empty store: the nodes it held re-enroll, which loses
// nothing.
func openNodeStore(path string, maxNodes int) (*nodeStore, error) {
	s := &nodeStore{path: path, max: maxNodes, nodes: map[nodeID]*node{}}
	damaged, err := s.load()
	if err != nil {
		return nil, err
	}
	if damaged != nil {
		// Kept for whoever investigates; the next write replaces path.
		if err := os.Rename(path, path+".damaged"); err != nil {
			return nil, fmt.Errorf("%w (and moving it aside failed: %w)", damaged, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating the directory of %s: %w", path, err)
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	return s, damaged
}

// load reads the file; a missing file is an empty store. err is a file that
// cannot be read, damaged one that cannot be decoded (the store stays empty).
func (s *nodeStore) load() (damaged, err error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading node keys: %w", err)
	}
	var f nodesFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("%w: %s: %w", errNodesFileDamaged, s.path, err), nil
	}
	if f.Version != nodesFileVersion {
		return fmt.Errorf("%w: %s: version %d, want %d", errNodesFileDamaged, s.path, f.Version, nodesFileVersion), nil
	}
	nodes := make(map[nodeID]*node, len(f.Nodes))
	for _, e := range f.Nodes {
		var id nodeID
		if len(e.KeySHA256) != hex.EncodedLen(len(id)) {
			return fmt.Errorf("%w: %s: key_sha256 %q is not a SHA-256 digest", errNodesFileDamaged, s.path, e.KeySHA256), nil
		}
		if _, err := hex.Decode(id[:], []byte(e.KeySHA256)); err != nil {
			return fmt.Errorf("%w: %s: key_sha256 %q is not a SHA-256 digest", errNodesFileDamaged, s.path, e.KeySHA256), nil
		}
		n := &node{host: e.HostIdentifier, platform: e.PlatformType, enrolled: e.Enrolled}
		n.lastSeen.Store(e.LastSeen.UnixNano())
		nodes[id] = n
	}
	s.nodes = nodes
	for len(s.nodes) > s.max {
		s.evictLeastRecent()
	}
	return nil, nil
}

// enroll issues a new node key. It returns once the key is in the file.
func (s *nodeStore) enroll(host, platform string, now time.Time) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("making a node key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(raw[:])
	id := idOf(key)
	n := &node{host: host, platform: platform, enrolled: now}
	n.lastSeen.Store(now.UnixNano())

	s.mu.Lock()
	for len(s.nodes) >= s.max {
		s.evictLeastRecent()
	}
	s.nodes[id] = n
	s.gen++
	gen := s.gen
	s.mu.Unlock()

	if err := s.persist(gen); err != nil {
		// The key was never handed out: forget it.
		s.mu.Lock()
		delete(s.nodes, id)
		s.mu.Unlock()
		return "", err
	}
	return key, nil
}

// evictLeastRecent forgets the node seen least recently. The caller holds mu
// (or owns the store alone).
func (s *nodeStore) evictLeastRecent() {
	var oldestID nodeID
	oldest := int64(0)
	found := false
	for id, n := range s.nodes {
		if seen := n.lastSeen.Load(); !found || seen < oldest {
			oldestID, oldest, found = id, seen, true
		}
	}
	if found {
		delete(s.nodes, oldestID)
		s.gen++
	}
}

// lookup returns the node a key was issued to, or nil, and marks it seen.
func (s *nodeStore) lookup(key string, now time.Time) *node {
	if key == "" {
		return nil
	}
	id := idOf(key)
	s.mu.RLock()
	n := s.nodes[id]
	s.mu.RUnlock()
	if n != nil {
		n.lastSeen.Store(now.UnixNano())
	}
	return n
}

func (s *nodeStore) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.nodes)
}

// persist writes the file unless a write since change gen already did.
func (s *nodeStore) persist(gen uint64) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	if s.savedGen >= gen {
		return nil
	}
	return s.writeLocked()
}

// save writes the file as it is now (last-seen times included).
func (s *nodeStore) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	return s.writeLocked()
}

// writeLocked replaces the file atomically: a crash leaves the old file or
// the new one, never a mix. The caller holds saveMu.
func (s *nodeStore) writeLocked() error {
	s.mu.RLock()
	f := nodesFile{Version: nodesFileVersion, Nodes: make([]nodeEntry, 0, len(s.nodes))}
	for id, n := range s.nodes {
		f.Nodes = append(f.Nodes, nodeEntry{
			KeySHA256:      hex.EncodeToString(id[:]),
			HostIdentifier: n.host,
			PlatformType:   n.platform,
			Enrolled:       n.enrolled.UTC(),
			LastSeen:       time.Unix(0, n.lastSeen.Load()).UTC(),
		})
	}
	gen := s.gen
	s.mu.RUnlock()
	slices.SortFunc(f.Nodes, func(a, b nodeEntry) int {
		if c := a.Enrolled.Compare(b.Enrolled); c != 0 {
			return c
		}
		return strings.Compare(a.KeySHA256, b.KeySHA256)
	})
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding node keys: %w", err)
	}
	if err := writeFileAtomic(s.path, append(data, '\n')); err != nil {
		return err
	}
	s.savedGen = gen
	return nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, then syncs the directory so the rename survives a
// power loss. The file is readable by its owner only: it lists the hosts
// enrolled.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing node keys: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing node keys to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing node keys: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		// Some platforms cannot sync a directory; the rename is then as
		// durable as they make it.
		_ = d.Sync()
		d.Close()
	}
	return nil
}
