package stages

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"

	"github.com/oschwald/geoip2-golang"
	"github.com/prometheus/common/model"
)

func init() {
	Register("geoip", func() Config { return &GeoIPConfig{} })
}

// GeoIPConfig is the body of a geoip stage, which adds labels describing the IP
// address held in an extracted value, from a MaxMind database.
type GeoIPConfig struct {
	// DB is the path of the .mmdb file.
	DB string `yaml:"db"`
	// Source is the extracted key holding the IP address.
	Source *string `yaml:"source"`
	// DBType is city or asn.
	DBType string `yaml:"db_type"`
}

// NewStage implements Config.
func (c *GeoIPConfig) NewStage(opts Options) (Stage, error) {
	if c.DB == "" {
		return nil, errors.New("db path cannot be empty")
	}
	// Promtail accepts a missing source and then fails every lookup.
	if c.Source == nil || *c.Source == "" {
		return nil, errors.New("source cannot be empty")
	}
	if c.DBType != "city" && c.DBType != "asn" {
		return nil, fmt.Errorf("db type should be either city or asn, got %q", c.DBType)
	}
	db, err := geoip2.Open(c.DB)
	if err != nil {
		return nil, err
	}
	// A database of the wrong kind fails every lookup the same way: say so now.
	if c.DBType == "city" {
		_, err = db.City(net.IPv4zero)
	} else {
		_, err = db.ASN(net.IPv4zero)
	}
	var wrongKind geoip2.InvalidMethodError
	if errors.As(err, &wrongKind) {
		_ = db.Close()
		return nil, fmt.Errorf("%s is a %s database, which has no %s data", c.DB, db.Metadata().DatabaseType, c.DBType)
	}
	st := &geoIPStage{db: db, source: *c.Source, city: c.DBType == "city", logger: opts.Logger}
	// Stages have no Close: the database is released when a reload drops the
	// pipeline and the stage with it.
	runtime.AddCleanup(st, func(db *geoip2.Reader) { _ = db.Close() }, db)
	return st, nil
}

type geoIPStage struct {
	db     *geoip2.Reader
	source string
	city   bool
	logger *slog.Logger
}

// Process implements Stage.
func (s *geoIPStage) Process(e *Entry, next func(*Entry)) {
	s.addLabels(e)
	next(e)
}

func (s *geoIPStage) addLabels(e *Entry) {
	v, ok := e.Extracted[s.source]
	if !ok {
		return
	}
	text, err := stringify(v)
	if err != nil {
		return
	}
	ip := net.ParseIP(text)
	if ip == nil {
		s.logger.Debug("geoip source is not an IP address", "source", s.source, "value", text)
		return
	}
	if s.city {
		record, err := s.db.City(ip)
		if err != nil {
			s.logger.Error("unable to get City record for the ip", "ip", text, "err", err)
			return
		}
		addCityLabels(e.Labels, record)
		return
	}
	record, err := s.db.ASN(ip)
	if err != nil {
		s.logger.Error("unable to get ASN record for the ip", "ip", text, "err", err)
		return
	}
	if record.AutonomousSystemNumber != 0 {
		e.Labels["geoip_autonomous_system_number"] = model.LabelValue(strconv.FormatUint(uint64(record.AutonomousSystemNumber), 10))
	}
	setNonEmpty(e.Labels, "geoip_autonomous_system_organization", record.AutonomousSystemOrganization)
}

// addCityLabels sets the city labels that the record has values for (English
// names).
func addCityLabels(ls model.LabelSet, r *geoip2.City) {
	setNonEmpty(ls, "geoip_city_name", r.City.Names["en"])
	setNonEmpty(ls, "geoip_country_name", r.Country.Names["en"])
	setNonEmpty(ls, "geoip_continent_name", r.Continent.Names["en"])
	setNonEmpty(ls, "geoip_continent_code", r.Continent.Code)
	setNonEmpty(ls, "geoip_postal_code", r.Postal.Code)
	setNonEmpty(ls, "geoip_timezone", r.Location.TimeZone)
	if r.Location.Latitude != 0 || r.Location.Longitude != 0 {
		ls["geoip_location_latitude"] = model.LabelValue(strconv.FormatFloat(r.Location.Latitude, 'g', -1, 64))
		ls["geoip_location_longitude"] = model.LabelValue(strconv.FormatFloat(r.Location.Longitude, 'g', -1, 64))
	}
	if n := len(r.Subdivisions); n > 0 {
		// The most specific subdivision is the last one.
		sub := r.Subdivisions[n-1]
		setNonEmpty(ls, "geoip_subdivision_name", sub.Names["en"])
		setNonEmpty(ls, "geoip_subdivision_code", sub.IsoCode)
	}
}

func setNonEmpty(ls model.LabelSet, name model.LabelName, value string) {
	if value != "" {
		ls[name] = model.LabelValue(value)
	}
}
