package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMQTTDefaultsAndFiles(t *testing.T) {
	pw := writeFile(t, "pw", "hunter2\n", 0o600)
	cfg, err := Load([]string{"-config", writeFile(t, "c.yaml", "mqtt:\n  url: mqtt://broker.lan:1883\n  username: cam\n  password_file: "+pw+"\n", 0o644)}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.MQTT
	if !m.Enabled() || m.Password != "hunter2" || m.TopicPrefix != "camrec" || m.Discovery() != "homeassistant" {
		t.Errorf("mqtt %+v, discovery %q", m, m.Discovery())
	}
	cfg, err = Load([]string{"-config", writeFile(t, "c.yaml", "mqtt:\n  url: mqtt://broker.lan\n  discovery_prefix: \"\"\n  topic_prefix: home/cams\n", 0o600)}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Discovery() != "" || cfg.MQTT.TopicPrefix != "home/cams" {
		t.Errorf("discovery off: %+v", cfg.MQTT)
	}
	if cfg, _ := Load(nil, noEnv, io.Discard); cfg.MQTT.Enabled() {
		t.Error("MQTT on without a config")
	}

	// Under systemd, LoadCredential=mqtt-password:… gives the password.
	creds := t.TempDir()
	writeFileAt(t, filepath.Join(creds, MQTTCredentialFile), "from-systemd\n")
	env := func(k string) string {
		if k == "CREDENTIALS_DIRECTORY" {
			return creds
		}
		return ""
	}
	cfg, err = Load([]string{"-config", writeFile(t, "c.yaml", "mqtt:\n  url: mqtt://broker.lan\n  username: cam\n", 0o644)}, env, io.Discard)
	if err != nil || cfg.MQTT.Password != "from-systemd" {
		t.Errorf("credential: %v %q", err, cfg.MQTT.Password)
	}
}

func writeFileAt(t *testing.T, p, text string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMQTTRejects(t *testing.T) {
	pw := writeFile(t, "pw", "hunter2\n", 0o600)
	open := writeFile(t, "open", "hunter2\n", 0o644)
	notPEM := writeFile(t, "ca.pem", "hunter2", 0o644)
	for _, tc := range []struct {
		name, yaml, want string
		readable         bool // the config file is readable by all
	}{
		{"no url", "mqtt:\n  username: a\n", "without mqtt.url", false},
		{"scheme", "mqtt:\n  url: http://broker:1883\n", "scheme must be mqtt or mqtts", false},
		{"no host", "mqtt:\n  url: mqtt://\n", "want mqtt://host:1883", false},
		{"user in url", "mqtt:\n  url: mqtt://a:hunter2@broker\n", "not in the URL", false},
		{"bad url with a password", "mqtt:\n  url: \"mqtt://a:hunter2@broker:x\"\n", "not shown", false},
		{"path", "mqtt:\n  url: mqtt://broker/x\n", "no path", false},
		{"both passwords", "mqtt:\n  url: mqtt://broker\n  username: a\n  password: hunter2\n  password_file: " + pw + "\n", "both set", false},
		{"password without user", "mqtt:\n  url: mqtt://broker\n  password: hunter2\n", "set mqtt.username", false},
		{"password file readable", "mqtt:\n  url: mqtt://broker\n  username: a\n  password_file: " + open + "\n", "readable by other users", false},
		{"password in a readable config", "mqtt:\n  url: mqtt://broker\n  username: a\n  password: hunter2\n", "readable by other users", true},
		{"ca for mqtt", "mqtt:\n  url: mqtt://broker\n  ca_file: " + notPEM + "\n", "no PEM certificate", false},
		{"wildcard prefix", "mqtt:\n  url: mqtt://broker\n  topic_prefix: cams/#\n", "mqtt.topic_prefix", false},
		{"slash prefix", "mqtt:\n  url: mqtt://broker\n  discovery_prefix: /ha\n", "mqtt.discovery_prefix", false},
		{"client id", "mqtt:\n  url: mqtt://broker\n  client_id: a b\n", "mqtt.client_id", false},
		{"unknown key", "mqtt:\n  url: mqtt://broker\n  pasword: x\n", "pasword", false},
	} {
		mode := os.FileMode(0o600)
		if tc.readable {
			mode = 0o644
		}
		p := writeFile(t, "c.yaml", tc.yaml, mode)
		_, err := Load([]string{"-config", p}, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error echoes the password: %v", tc.name, err)
		}
	}
}

func TestDiskLow(t *testing.T) {
	for _, tc := range []struct {
		yaml    string
		bytes   int64
		percent float64
	}{
		{"", 0, DefaultDiskLowPercent},
		{"disk_low: 0\n", 0, 0},
		{"disk_low: 2G\n", 2 << 30, 0},
		{"disk_low: 10%\n", 0, 10},
	} {
		cfg, err := Load([]string{"-config", writeFile(t, "c.yaml", tc.yaml, 0o600)}, noEnv, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if cfg.DiskLow.Bytes != tc.bytes || cfg.DiskLow.Percent != tc.percent {
			t.Errorf("%q: disk_low %+v", tc.yaml, *cfg.DiskLow)
		}
	}
}
