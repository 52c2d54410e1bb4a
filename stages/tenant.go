package stages

import (
	"errors"

	"github.com/prometheus/common/model"
)

func init() {
	Register("tenant", func() Config { return &TenantConfig{} })
}

// TenantLabel is the reserved label that carries an entry's tenant. The client
// sends its value as X-Scope-OrgID and removes it from the stream labels.
const TenantLabel model.LabelName = "__tenant_id__"

// TenantConfig is the body of a tenant stage. Exactly one field is set: Label
// (copy a stream label), Source (an extracted value) or Value (a constant).
type TenantConfig struct {
	Label  string `yaml:"label"`
	Source string `yaml:"source"`
	Value  string `yaml:"value"`
}

// NewStage implements Config.
func (c *TenantConfig) NewStage(Options) (Stage, error) {
	set := 0
	for _, f := range []string{c.Label, c.Source, c.Value} {
		if f != "" {
			set++
		}
	}
	switch {
	case set == 0:
		return nil, errors.New("label, source or value config are required")
	case set > 1:
		return nil, errors.New("label, source and value are mutually exclusive: you should set source, value or label but not all")
	}
	return &tenantStage{cfg: *c}, nil
}

type tenantStage struct {
	cfg TenantConfig
}

// Process implements Stage.
func (s *tenantStage) Process(e *Entry, next func(*Entry)) {
	var tenant model.LabelValue
	switch {
	case s.cfg.Source != "":
		if v, ok := e.Extracted[s.cfg.Source]; ok {
			if text, err := stringify(v); err == nil {
				tenant = model.LabelValue(text)
			}
		}
	case s.cfg.Label != "":
		tenant = e.Labels[model.LabelName(s.cfg.Label)]
	default:
		tenant = model.LabelValue(s.cfg.Value)
	}
	if tenant != "" {
		e.Labels[TenantLabel] = tenant
	}
	next(e)
}
