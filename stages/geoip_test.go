package stages

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/prometheus/common/model"
)

// writeTestMMDB writes a tiny MaxMind database of the given type with one
// network and returns its path.
func writeTestMMDB(t *testing.T, dbType, cidr string, record mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, network, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Insert(network, record); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func geoNames(en string) mmdbtype.Map {
	return mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String("x")}}
}

func testCityDB(t *testing.T) string {
	return writeTestMMDB(t, "GeoLite2-City", "81.2.69.0/24", mmdbtype.Map{
		"city":      geoNames("London"),
		"country":   geoNames("United Kingdom"),
		"continent": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Europe")}, "code": mmdbtype.String("EU")},
		"postal":    mmdbtype.Map{"code": mmdbtype.String("SW1A")},
		"location": mmdbtype.Map{
			"latitude":  mmdbtype.Float64(51.5142),
			"longitude": mmdbtype.Float64(-0.0931),
			"time_zone": mmdbtype.String("Europe/London"),
		},
		"subdivisions": mmdbtype.Slice{
			mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("England")}, "iso_code": mmdbtype.String("ENG")},
			mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Westminster")}, "iso_code": mmdbtype.String("WSM")},
		},
	})
}

func testASNDB(t *testing.T) string {
	return writeTestMMDB(t, "GeoLite2-ASN", "1.128.0.0/11", mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(1221),
		"autonomous_system_organization": mmdbtype.String("Telstra Pty Ltd"),
	})
}

func TestGeoIPCity(t *testing.T) {
	db := testCityDB(t)
	st, err := (&GeoIPConfig{DB: db, Source: strPtr("ip"), DBType: "city"}).NewStage(Options{Logger: stDiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ip   any
		want model.LabelSet
	}{
		{name: "known address", ip: "81.2.69.142", want: model.LabelSet{
			"geoip_city_name":          "London",
			"geoip_country_name":       "United Kingdom",
			"geoip_continent_name":     "Europe",
			"geoip_continent_code":     "EU",
			"geoip_postal_code":        "SW1A",
			"geoip_timezone":           "Europe/London",
			"geoip_location_latitude":  "51.5142",
			"geoip_location_longitude": "-0.0931",
			"geoip_subdivision_name":   "Westminster",
			"geoip_subdivision_code":   "WSM",
		}},
		{name: "unknown address", ip: "10.0.0.1", want: model.LabelSet{}},
		{name: "not an address", ip: "not-an-ip", want: model.LabelSet{}},
		{name: "no text form", ip: []any{"81.2.69.142"}, want: model.LabelSet{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Entry{Labels: model.LabelSet{}, Extracted: map[string]any{"ip": tt.ip}}
			passed := false
			st.Process(e, func(*Entry) { passed = true })
			if !passed {
				t.Fatal("entry not passed on")
			}
			if !e.Labels.Equal(tt.want) {
				t.Fatalf("labels %v, want %v", e.Labels, tt.want)
			}
		})
	}
	e := &Entry{Labels: model.LabelSet{}, Extracted: map[string]any{}}
	st.Process(e, func(*Entry) {})
	if len(e.Labels) != 0 {
		t.Fatalf("missing source added labels %v", e.Labels)
	}
}

func TestGeoIPASN(t *testing.T) {
	p := stPipeline(t, "- geoip: {db: '"+testASNDB(t)+"', source: ip, db_type: asn}", nil)
	e := stEntry("x", "")
	e.Extracted = map[string]any{"ip": "1.128.0.1"}
	out := stRun(p, e)
	want := model.LabelSet{"geoip_autonomous_system_number": "1221", "geoip_autonomous_system_organization": "Telstra Pty Ltd"}
	if len(out) != 1 || !out[0].Labels.Equal(want) {
		t.Fatalf("got %+v, want labels %v", out, want)
	}
}

func TestGeoIPConfigErrors(t *testing.T) {
	city := testCityDB(t)
	tests := []struct {
		name string
		cfg  GeoIPConfig
		want string
	}{
		{"no db", GeoIPConfig{Source: strPtr("ip"), DBType: "city"}, "db path cannot be empty"},
		{"no source", GeoIPConfig{DB: city, DBType: "city"}, "source cannot be empty"},
		{"empty source", GeoIPConfig{DB: city, Source: strPtr(""), DBType: "city"}, "source cannot be empty"},
		{"no db type", GeoIPConfig{DB: city, Source: strPtr("ip")}, "db type should be either city or asn"},
		{"unknown db type", GeoIPConfig{DB: city, Source: strPtr("ip"), DBType: "country"}, "db type should be either city or asn"},
		{"missing file", GeoIPConfig{DB: "/nonexistent/GeoLite2-City.mmdb", Source: strPtr("ip"), DBType: "city"}, "no such file or directory"},
		{"not a database", GeoIPConfig{DB: stWriteFile(t, "garbage"), Source: strPtr("ip"), DBType: "city"}, "invalid MaxMind DB"},
		{"wrong kind of database", GeoIPConfig{DB: city, Source: strPtr("ip"), DBType: "asn"}, "is a GeoLite2-City database, which has no asn data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.NewStage(Options{Logger: stDiscardLogger()})
			stErrContains(t, err, tt.want)
		})
	}
}

func stWriteFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
