package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Environment variables that give the S3 credentials when the upload:
// section names no key files; the AWS names are read when camrec's are
// not set.
const (
	EnvS3AccessKey  = "CAMREC_S3_ACCESS_KEY"
	EnvS3SecretKey  = "CAMREC_S3_SECRET_KEY"
	EnvAWSAccessKey = "AWS_ACCESS_KEY_ID"
	EnvAWSSecretKey = "AWS_SECRET_ACCESS_KEY"
)

// Upload is the upload: section (global, or a camera's own, which then
// replaces the global one): where finished recordings are copied to
// S3-compatible storage.
type Upload struct {
	// Endpoint is http://host:port or https://host (the bucket is not in
	// it: requests are path-style).
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	// Prefix goes before <camera>/<recording id> in the object keys.
	Prefix string `yaml:"prefix"`
	Region string `yaml:"region"`
	// AccessKeyFile and SecretKeyFile hold the credentials (files not
	// readable by other users); else the environment gives them.
	AccessKeyFile string `yaml:"access_key_file"`
	SecretKeyFile string `yaml:"secret_key_file"`
	// CAFile is a PEM bundle to trust for https:// instead of the system's.
	CAFile string `yaml:"ca_file"`
	// DeleteLocalAfter deletes the local file that long after its upload
	// (0 or unset: keep it); the recording stays listed and plays from the
	// bucket.
	DeleteLocalAfter Duration `yaml:"delete_local_after"`
	// Disabled turns a global upload: off for one camera.
	Disabled bool `yaml:"disabled"`

	// Read by Load; never logged.
	AccessKey string         `yaml:"-"`
	SecretKey string         `yaml:"-"`
	CAs       *x509.CertPool `yaml:"-"`
}

// Enabled reports whether recordings are uploaded.
func (u *Upload) Enabled() bool { return u != nil && !u.Disabled && u.Endpoint != "" }

// load reads the credentials and CA file; key names the section in errors
// (upload, or camera X's upload).
func (u *Upload) load(key string, getenv func(string) string) error {
	if !u.Enabled() {
		return nil
	}
	read := func(setting, path string, envs ...string) (string, error) {
		if path != "" {
			b, err := readPrivate(path)
			if err != nil {
				return "", fmt.Errorf("%s.%s: %w", key, setting, err)
			}
			return strings.TrimSpace(string(b)), nil
		}
		for _, e := range envs {
			if v := getenv(e); v != "" {
				return v, nil
			}
		}
		return "", fmt.Errorf("%s: no %s: set %s (a file only camrec's user can read) or the environment variable %s", key,
			strings.TrimSuffix(setting, "_file"), setting, strings.Join(envs, " or "))
	}
	var err error
	if u.AccessKey, err = read("access_key_file", u.AccessKeyFile, EnvS3AccessKey, EnvAWSAccessKey); err != nil {
		return err
	}
	if u.SecretKey, err = read("secret_key_file", u.SecretKeyFile, EnvS3SecretKey, EnvAWSSecretKey); err != nil {
		return err
	}
	if u.CAFile != "" {
		b, err := os.ReadFile(u.CAFile)
		if err != nil {
			return fmt.Errorf("%s.ca_file: %w", key, err)
		}
		u.CAs = x509.NewCertPool()
		if !u.CAs.AppendCertsFromPEM(b) {
			return fmt.Errorf("%s.ca_file %s: no PEM certificate in it", key, u.CAFile)
		}
	}
	return nil
}

// validate checks the section; key names it in errors.
func (u *Upload) validate(key string) error {
	if u == nil || u.Disabled {
		return nil
	}
	if u.Endpoint == "" {
		return fmt.Errorf("%s.endpoint: must be set (e.g. http://127.0.0.1:8333), or remove the section", key)
	}
	ep, err := url.Parse(u.Endpoint)
	switch {
	case err != nil || ep.Host == "" || ep.Hostname() == "":
		return fmt.Errorf("%s.endpoint %q: want http://host:port or https://host", key, u.Endpoint)
	case ep.User != nil:
		return fmt.Errorf("%s.endpoint: no credentials in the URL; use access_key_file and secret_key_file", key)
	case ep.Scheme != "http" && ep.Scheme != "https":
		return fmt.Errorf("%s.endpoint %q: scheme must be http or https", key, u.Endpoint)
	case ep.Path != "" && ep.Path != "/" || ep.RawQuery != "":
		return fmt.Errorf("%s.endpoint %q: no path or query (the bucket goes in bucket:)", key, u.Endpoint)
	}
	if u.CAFile != "" && ep.Scheme != "https" {
		return fmt.Errorf("%s.ca_file: only for https:// endpoints", key)
	}
	if u.Bucket == "" {
		return fmt.Errorf("%s.bucket: must be set", key)
	}
	if len(u.Bucket) < 3 || len(u.Bucket) > 63 || strings.ToLower(u.Bucket) != u.Bucket || strings.ContainsAny(u.Bucket, "/ _") {
		return fmt.Errorf("%s.bucket %q: want 3-63 characters a-z, 0-9, . or -", key, u.Bucket)
	}
	if strings.HasPrefix(u.Prefix, "/") || strings.Contains(u.Prefix, "//") {
		return fmt.Errorf("%s.prefix %q: no leading / and no //", key, u.Prefix)
	}
	if u.DeleteLocalAfter < 0 {
		return fmt.Errorf("%s.delete_local_after %v: must not be negative", key, time.Duration(u.DeleteLocalAfter))
	}
	return nil
}

// resolveUploads gives every camera its upload section (its own, else the
// global one), reads their credentials and checks them.
func (c *Config) resolveUploads(getenv func(string) string) error {
	if c.Upload != nil && c.Upload.Disabled {
		return errors.New("upload.disabled: only in a camera's upload section")
	}
	if err := c.Upload.validate("upload"); err != nil {
		return err
	}
	if err := c.Upload.load("upload", getenv); err != nil {
		return err
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		key := "camera " + cam.Name + ": upload"
		switch {
		case cam.Upload == nil:
			cam.Upload = c.Upload
		case cam.Upload.Disabled:
			cam.Upload = nil
		default:
			if err := cam.Upload.validate(key); err != nil {
				return err
			}
			if err := cam.Upload.load(key, getenv); err != nil {
				return err
			}
		}
		if !cam.Upload.Enabled() {
			cam.Upload = nil
		}
	}
	return nil
}
