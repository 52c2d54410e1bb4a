package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/drone/envsubst"
	"gopkg.in/yaml.v2"
)

// FileError is a failure to read or decode the configuration file File.
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string { return e.File + ": " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// ExpandEnvHint is what Promtail appends to a file error when
// -config.expand-env is off, since an unexpanded ${VAR} is a common cause.
const ExpandEnvHint = "Use `-config.expand-env=true` flag if you want to expand environment variables in your config file"

// WithExpandEnvHint appends ExpandEnvHint to a *FileError when expandEnv is
// false, giving Promtail's message; other errors are returned unchanged.
func WithExpandEnvHint(err error, expandEnv bool) error {
	var fe *FileError
	if expandEnv || !errors.As(err, &fe) {
		return err
	}
	return fmt.Errorf("%w. %s", err, ExpandEnvHint)
}

// Load builds the configuration from the defaults and the first file of the
// comma-separated list files that exists. It returns that file's name. An
// empty list loads no file and gives the defaults. With expandEnv the file's
// text goes through drone/envsubst first, as in Promtail: ${VAR} (empty when
// unset), ${VAR:-default} and the other bash forms in braces; $$ is a literal
// $ and \\ a single \. A bare $VAR is left as written: drone/envsubst only
// expands the braced form, whatever Promtail's documentation says.
//
// Load does not apply flags nor Setup: see Flags.Apply.
func Load(files string, expandEnv bool) (*Config, string, error) {
	cfg := DefaultConfig()
	if files == "" {
		return cfg, "", nil
	}
	for _, f := range strings.Split(files, ",") {
		f = strings.TrimSpace(f)
		if _, err := os.Stat(f); err != nil {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, f, &FileError{File: f, Err: err}
		}
		if err := Parse(cfg, data, expandEnv); err != nil {
			return nil, f, &FileError{File: f, Err: err}
		}
		return cfg, f, nil
	}
	return nil, "", fmt.Errorf("%s does not exist, set config.file for custom config path", files)
}

// Parse decodes data strictly over cfg, after environment substitution when
// expandEnv is set.
func Parse(cfg *Config, data []byte, expandEnv bool) error {
	if expandEnv {
		s, err := envsubst.EvalEnv(string(data))
		if err != nil {
			return err
		}
		data = []byte(s)
	}
	return yaml.UnmarshalStrict(data, cfg)
}
