package stages

func init() {
	Register("docker", func() Config { return &DockerConfig{} })
}

// DockerConfig is the (empty) body of a docker stage, which reads the JSON log
// format of Docker's json-file driver: {"log":..., "stream":..., "time":...}.
type DockerConfig struct{}

// NewStage implements Config.
func (*DockerConfig) NewStage(Options) (Stage, error) {
	return &dockerStage{}, nil
}

// dockerStage does what Promtail's built-in docker pipeline does: extract log,
// stream and time (as output, stream and timestamp; a field that is missing
// is stored as null), label the stream, parse the time as RFC 3339, and make
// the log text the line. A line that is not a JSON object keeps its text and
// still goes through the label, timestamp and output steps, which then work
// from whatever earlier stages extracted.
type dockerStage struct {
	timestamps containerTimestamps
	buf        []byte
}

var dockerFields = [...]struct{ extracted, field string }{
	{"output", "log"},
	{"stream", "stream"},
	{"timestamp", "time"},
}

func (s *dockerStage) Process(e *Entry, next func(*Entry)) {
	extracted := seedExtractedFromLabels(e)
	if doc, err := parseJSONObject(e.Line); err == nil {
		for _, f := range dockerFields {
			storeJSONValue(extracted, f.extracted, doc[f.field], &s.buf)
		}
	}
	setStreamLabelFrom(e)
	s.timestamps.apply(e, "timestamp")
	setLineFrom(e, "output")
	next(e)
}
