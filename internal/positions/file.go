package positions

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"gopkg.in/yaml.v2"
)

const (
	fileMode = 0o600
	dirMode  = 0o750
	// tempInfix marks our in-flight writes: <base>.tmp-<random> in the same directory, so the rename
	// stays on one filesystem and is atomic.
	tempInfix     = ".tmp-"
	corruptSuffix = ".corrupt"
)

// readFormat decodes values as pointers so that a key without a value ("key:" at the end of a file
// cut short) is told apart from an empty string: Promtail never writes null, so null means damage.
type readFormat struct {
	Positions map[string]*string `yaml:"positions"`
}

type writeFormat struct {
	Positions map[string]string `yaml:"positions"`
}

// parse decodes the content of a positions file strictly, as a whole. Empty content is an empty
// table. decode builds on it to salvage damaged files.
func parse(data []byte) (map[string]string, error) {
	var f readFormat
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(f.Positions))
	for k, v := range f.Positions {
		if v == nil {
			return nil, fmt.Errorf("key %q has no value (file cut short?)", k)
		}
		out[k] = *v
	}
	return out, nil
}

// encode renders positions as Promtail does: yaml.v2 quotes every value that would not read back as
// a string and sorts the keys, so the output is byte-for-byte what Promtail writes.
func encode(positions map[string]string) ([]byte, error) {
	data, err := yaml.Marshal(writeFormat{Positions: positions})
	if err != nil {
		return nil, fmt.Errorf("encoding positions: %w", err)
	}
	return data, nil
}

// load reads the positions file at path: a missing file is an empty table, a damaged one is
// salvaged, and one that is not a positions file is an error unless ignoreInvalid (see the package
// comment). Nothing is written in readOnly mode.
func load(logger *slog.Logger, path string, ignoreInvalid, readOnly bool) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading positions file [%s]: %w", path, err)
	}
	d, err := decode(data)
	switch {
	case err == nil && d.damage == nil:
		return d.entries, nil
	case err == nil:
		keepCorruptCopy(logger, path, data, readOnly,
			"positions file is damaged, keeping its intact entries; files whose entry was dropped are read again as new files",
			"err", d.damage, "salvaged", len(d.entries), "dropped", d.dropped)
		return d.entries, nil
	case !ignoreInvalid:
		return nil, fmt.Errorf("invalid yaml positions file [%s]: %w", path, err)
	default:
		keepCorruptCopy(logger, path, data, readOnly,
			"ignoring invalid positions file, starting with no positions", "err", err)
		return map[string]string{}, nil
	}
}

// keepCorruptCopy saves a damaged file's bytes as <path>.corrupt before the first sync replaces the
// file: they are the only trace of what went wrong, and the offsets that could not be salvaged can
// still be read there by hand. It logs msg once, as a warning, with the outcome of the copy.
func keepCorruptCopy(logger *slog.Logger, path string, data []byte, readOnly bool, msg string, attrs ...any) {
	attrs = append([]any{"path", path}, attrs...)
	if readOnly {
		logger.Warn(msg+" (read-only: no copy kept)", attrs...)
		return
	}
	copyPath := path + corruptSuffix
	if err := writeAtomic(copyPath, data); err != nil {
		logger.Warn(msg+"; could not keep a copy", append(attrs, "copy_err", err)...)
		return
	}
	logger.Warn(msg+"; copy kept", append(attrs, "copy", copyPath)...)
}

// writeAtomic replaces path with data so that a crash at any moment leaves either the old file or
// the new one, never a torn or zero-filled one (Promtail issues #1457, #6268): the data is fsynced
// before the rename, and the directory after it so the rename itself survives a power loss.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("creating directory: %w", err)
	}
	// CreateTemp opens with mode 0600, which is the mode the positions file must have.
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	tmpName := tmp.Name()
	if err := writeAndClose(tmp, data); err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("writing temporary file: %w", err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		_ = os.Remove(tmpName)
		return fmt.Errorf("renaming temporary file: %w", err)
	}
	return syncDir(dir)
}

func writeAndClose(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	// Windows cannot open a directory for fsync; NTFS journals the rename itself.
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory for sync: %w", err)
	}
	defer d.Close()
	err = d.Sync()
	// Some filesystems (FUSE, some network mounts) cannot fsync a directory; the rename is done and
	// there is nothing better to do there, so this is not reported as a failed write.
	if err != nil && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// removeStaleTemps deletes temporary files left by a crash in the middle of a write. Only names
// made by writeAtomic for this positions file are touched.
func removeStaleTemps(logger *slog.Logger, path string) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := filepath.Base(path) + tempInfix
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		stale := filepath.Join(dir, e.Name())
		if err := os.Remove(stale); err != nil {
			logger.Warn("cannot remove stale temporary positions file", "path", stale, "err", err)
		}
	}
}
