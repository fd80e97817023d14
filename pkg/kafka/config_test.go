package kafka_test

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/kafka"
)

func TestCheckBroker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		ok   bool
	}{
		{"localhost:9092", true},
		{"10.0.0.7:29092", true},
		{"[::1]:9092", true},
		{"localhost", false},
		{"localhost:", false},
		{":9092", false},
		{"::1:9092", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			err := kafka.CheckBroker(tc.addr)
			if tc.ok && err != nil {
				t.Errorf("CheckBroker(%q) = %v, want nil", tc.addr, err)
			}
			if want := "is not host:port"; !tc.ok && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Errorf("CheckBroker(%q) = %v, want an error saying %q", tc.addr, err, want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    sarama.KafkaVersion
		wantErr string
	}{
		{in: kafka.DefaultVersion, want: sarama.V4_0_0_0},
		{in: "2.1.0", want: sarama.V2_1_0_0},
		{in: "2.0.0", wantErr: "2.0.0 is older than the oldest supported, 2.1.0"},
		{in: "four", wantErr: `"four" is not a Kafka version such as 4.0.0`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := kafka.ParseVersion(tc.in)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("ParseVersion(%q) = %v, want the error %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseVersion(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	c := kafka.DefaultConfig("localhost", ":9092")
	c.Version = "2.0.0"
	err := c.Validate()
	want := []string{
		`brokers: "localhost" is not host:port`,
		`brokers: ":9092" is not host:port`,
		"version: 2.0.0 is older than the oldest supported, 2.1.0",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Validate() = %v, want\n%s", err, strings.Join(want, "\n"))
	}
}
