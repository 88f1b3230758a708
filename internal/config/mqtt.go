package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// MQTT defaults.
const (
	DefaultTopicPrefix     = "camrec"
	DefaultDiscoveryPrefix = "homeassistant"
	// MQTTCredentialFile is the broker password camrec reads from
	// systemd's $CREDENTIALS_DIRECTORY (LoadCredential=) when the config
	// gives none.
	MQTTCredentialFile = "mqtt-password"
)

// MQTT is the mqtt: section: camrec's link to an MQTT broker and, through
// it, Home Assistant's discovery. It is off while URL is empty.
type MQTT struct {
	// URL is mqtt://host:1883 or mqtts://host:8883.
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	// Password, or PasswordFile naming a file that holds it (which must
	// not be readable by other users). Read into Password by Load.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// CAFile is a PEM bundle of the CAs to trust for mqtts:// instead of
	// the system's. Read into CAs by Load.
	CAFile string         `yaml:"ca_file"`
	CAs    *x509.CertPool `yaml:"-"`
	// ClientID defaults to camrec-<hostname>; it also names camrec's
	// device in Home Assistant, so it should stay the same across restarts.
	ClientID    string `yaml:"client_id"`
	TopicPrefix string `yaml:"topic_prefix"`
	// DiscoveryPrefix is Home Assistant's; nil means the default and ""
	// turns discovery off.
	DiscoveryPrefix *string `yaml:"discovery_prefix"`
}

// Enabled reports whether camrec connects to a broker.
func (m *MQTT) Enabled() bool { return m.URL != "" }

// Discovery is the discovery prefix, "" when discovery is off.
func (m *MQTT) Discovery() string {
	if m.DiscoveryPrefix == nil {
		return DefaultDiscoveryPrefix
	}
	return *m.DiscoveryPrefix
}

// load fills the defaults and reads the password and CA files.
func (m *MQTT) load(getenv func(string) string) error {
	if !m.Enabled() {
		return nil
	}
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" && m.Password == "" && m.PasswordFile == "" {
		if p := filepath.Join(dir, MQTTCredentialFile); fileExists(p) {
			m.PasswordFile = p
		}
	}
	if m.TopicPrefix == "" {
		m.TopicPrefix = DefaultTopicPrefix
	}
	if m.PasswordFile != "" {
		if m.Password != "" {
			return errors.New("mqtt: password and password_file are both set; keep one")
		}
		b, err := readPrivate(m.PasswordFile)
		if err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
		m.Password = strings.TrimRight(string(b), "\r\n")
	}
	if m.CAFile != "" {
		b, err := os.ReadFile(m.CAFile)
		if err != nil {
			return fmt.Errorf("mqtt.ca_file: %w", err)
		}
		m.CAs = x509.NewCertPool()
		if !m.CAs.AppendCertsFromPEM(b) {
			return fmt.Errorf("mqtt.ca_file %s: no PEM certificate in it", m.CAFile)
		}
	}
	return nil
}

// validate checks the section; errors name the setting (never its secret).
func (m *MQTT) validate() error {
	if !m.Enabled() {
		if m.Username != "" || m.Password != "" || m.PasswordFile != "" || m.CAFile != "" || m.ClientID != "" ||
			m.TopicPrefix != "" || m.DiscoveryPrefix != nil {
			return errors.New("mqtt: settings given without mqtt.url; set url (e.g. mqtt://broker.lan:1883) or remove the section")
		}
		return nil
	}
	shown := m.URL // in errors; never with what could be a password
	if strings.Contains(shown, "@") {
		shown = "(not shown: it holds credentials)"
	}
	u, err := url.Parse(m.URL)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("mqtt.url %q: want mqtt://host:1883 or mqtts://host:8883", shown)
	}
	if u.User != nil {
		return errors.New("mqtt.url: put the user name and password in mqtt.username and mqtt.password (or password_file), not in the URL")
	}
	switch u.Scheme {
	case "mqtt", "tcp":
		if m.CAFile != "" {
			return errors.New("mqtt.ca_file: only for mqtts:// URLs")
		}
	case "mqtts", "ssl", "tls":
	default:
		return fmt.Errorf("mqtt.url %q: scheme must be mqtt or mqtts", shown)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return fmt.Errorf("mqtt.url %q: no path or query (topics are set with topic_prefix)", shown)
	}
	if m.Password != "" && m.Username == "" {
		return errors.New("mqtt.password: set mqtt.username too")
	}
	if len(m.ClientID) > 64 || strings.ContainsAny(m.ClientID, "+#/ ") {
		return fmt.Errorf("mqtt.client_id %q: at most 64 characters, no spaces, /, + or #", m.ClientID)
	}
	if err := checkTopicPrefix("mqtt.topic_prefix", m.TopicPrefix); err != nil {
		return err
	}
	if d := m.Discovery(); d != "" {
		return checkTopicPrefix("mqtt.discovery_prefix", d)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func checkTopicPrefix(key, p string) error {
	if p == "" || strings.ContainsAny(p, "+#") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("%s %q: want a topic such as camrec or home/camrec (no +, #, leading or trailing /)", key, p)
	}
	return nil
}
